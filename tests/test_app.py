"""Serving under the portal: the prefix, the menu per role, headers, production settings."""

import os
import subprocess
import sys

import pytest
from werkzeug.test import Client

from app import create_app, mount, wsgi
from permissions import access, unmarked_views

OFFICER_ITEMS = ("กำหนดผู้รายงานตัวชี้วัด", "บันทึกตัวชี้วัด", "รับเอกสารรายงานตัวชี้วัด")


def test_module_lives_under_its_prefix(app):
    client = Client(mount(app))
    assert client.get("/").headers["Location"] == "/myoffice/reports/"
    assert client.get("/other/app").status_code == 404
    login = client.get("/myoffice/reports/login")
    assert login.status_code == 200
    assert 'action="/myoffice/reports/logout"' not in login.get_data(as_text=True)
    assert "/myoffice/reports/static/reports.css" in login.get_data(as_text=True)


def test_security_headers_on_every_page(browser):
    response = browser.get("auth.login")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'self'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("who", "visible"),
    [
        ("officer", {*OFFICER_ITEMS, "จัดการบัญชีผู้ใช้"}),
        ("receiver", {"รับเอกสารรายงานตัวชี้วัด"}),
        ("reporter", {"ส่งเอกสารคำรับรอง"}),
        ("staff", set()),
    ],
)
def test_each_user_sees_exactly_the_menu_entries_they_may_use(login_as, world, who, visible):
    html = login_as(getattr(world, who)).get("auth.index").get_data(as_text=True)
    everything = {*OFFICER_ITEMS, "ส่งเอกสารคำรับรอง", "จัดการบัญชีผู้ใช้"}
    shown = {label for label in everything if label in html}
    assert shown == visible
    assert "เปลี่ยนรหัสผ่าน" in html


def test_production_refuses_to_start_without_a_secret_key(monkeypatch, tmp_path):
    monkeypatch.delenv("REPORTS_SECRET_KEY", raising=False)
    monkeypatch.setenv("REPORTS_DATABASE_URL", f"sqlite:///{tmp_path / 'p.sqlite3'}")
    with pytest.raises(RuntimeError, match="REPORTS_SECRET_KEY"):
        wsgi()
    monkeypatch.setenv("REPORTS_SECRET_KEY", "a-long-random-production-secret")
    assert Client(wsgi()).get("/myoffice/reports/login").status_code == 200


def test_prefix_and_limits_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("REPORTS_URL_PREFIX", "/portal/kpi")
    monkeypatch.setenv("REPORTS_MAX_UPLOAD_MB", "7")
    app = create_app({"SECRET_KEY": "x", "DATABASE_URL": f"sqlite:///{tmp_path / 'e.sqlite3'}"})
    assert app.config["SESSION_COOKIE_PATH"] == "/portal/kpi"
    assert app.config["MAX_UPLOAD_BYTES"] == 7 * 1024 * 1024
    assert Client(mount(app)).get("/portal/kpi/login").status_code == 200


def test_a_route_without_an_access_rule_stops_the_app(app):
    @app.route("/forgotten")
    def forgotten():
        return "open to all?"

    assert unmarked_views(app) == ["forgotten"]  # create_app raises on this list
    assert Client(mount(app)).get("/myoffice/reports/forgotten").status_code == 403

    @access("public")
    def marked():
        return "ok"

    app.view_functions["forgotten"] = marked
    assert unmarked_views(app) == []


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULES = sorted(
    name[:-3]
    for name in os.listdir(ROOT)
    if name.endswith(".py") and name not in ("app.py", "config.py", "extensions.py")
)


@pytest.mark.parametrize("module", MODULES)
def test_each_module_imports_on_its_own(module):
    """A circular import hides while the app happens to be imported first (as in the tests)
    and breaks a command or worker that imports the module before it."""
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
