"""menu.json and menu.html: our entries for the portal's own menu, with what waits for whom.

The portal's server asks (integrations/php/reports_menu.php; the whole chain runs in
tests/test_deploy.py); here each role, each count rule and each way of asking.
"""

import json
import os
import subprocess
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from app import mount
from blueprints.receive.services import return_document, store_document
from extensions import db
from models import FiscalYear, User
from tests.conftest import Browser
from tests.test_portal_auth import (
    NGINX,
    SECRET,
    behind_nginx,
    php_token,
    portal_login,
    with_php_cookie,
)
from thai import now_utc

JSON = "/myoffice/reports/menu.json"
HTML = "/myoffice/reports/menu.html"
SEND = "ส่งเอกสารคำรับรอง"
RECEIVE = "รับเอกสารรายงานตัวชี้วัด"


def menu(b, path=JSON, headers=None):
    response = b.open(path, headers=headers or {})
    assert response.headers["Cache-Control"] == "no-store"
    return response


def entries(response) -> dict[str, dict]:
    body = response.get_json()
    assert body["total"] == sum(e["count"] for e in body["entries"])
    return {e["label"]: e for e in body["entries"]}


@pytest.fixture
def work(world, make_document, make_indicator, make_user):
    """For the reporter: one document sent back to revise, one waiting, one stored.
    For the receiver: the waiting one. Elsewhere: another reporter's returned document."""
    w = world
    returned = make_document(w.indicator, w.reporter, title="ฉบับส่งกลับ")
    return_document(w.receiver, returned, "แนบไฟล์ผิด")
    make_document(w.indicator, w.reporter, title="ฉบับรอจัดเก็บ")
    stored = make_document(w.indicator, w.reporter, title="ฉบับจัดเก็บแล้ว")
    store_document(w.receiver, stored)
    other = make_indicator("5.5", receiver=w.officer, reporters=[w.other_reporter, w.reporter])
    elsewhere = make_document(other, w.other_reporter, title="ของคนอื่น")
    return_document(w.officer, elsewhere, "ไม่ครบ")
    db.session.commit()
    return w


def test_a_reporter_sees_what_came_back_to_revise(login_as, work):
    got = entries(menu(login_as(work.reporter)))
    # Their own returned document only; another reporter's on a shared indicator is theirs.
    assert got[SEND]["count"] == 1
    assert got[SEND]["url"] == "/myoffice/reports/send/"
    assert RECEIVE not in got


def test_a_receiver_sees_what_waits_to_be_stored(login_as, work):
    got = entries(menu(login_as(work.receiver)))
    # Waiting only: not the stored one, not the returned one.
    assert got[RECEIVE]["count"] == 1
    assert got[RECEIVE]["url"] == "/myoffice/reports/receive/"
    assert SEND not in got


def test_the_officer_sees_every_entry_and_everything_waiting(login_as, work):
    got = entries(menu(login_as(work.officer)))
    assert {"กำหนดผู้รายงานตัวชี้วัด", "บันทึกตัวชี้วัด", RECEIVE, "จัดการบัญชีผู้ใช้"} <= set(got)
    assert got[RECEIVE]["count"] == 1  # the officer may store any indicator's documents
    assert got["บันทึกตัวชี้วัด"]["count"] == 0


def test_general_staff_have_nothing_waiting(login_as, work):
    body = menu(login_as(work.staff)).get_json()
    assert [e["label"] for e in body["entries"]] == ["เปลี่ยนรหัสผ่าน"]
    assert body["total"] == 0


def test_a_closed_year_waits_for_nobody(login_as, work):
    db.session.get(FiscalYear, work.indicator.fiscal_year).closed_at = now_utc()
    db.session.commit()
    assert entries(menu(login_as(work.receiver)))[RECEIVE]["count"] == 0
    assert entries(menu(login_as(work.reporter)))[SEND]["count"] == 0


def test_a_stranger_gets_an_empty_menu_not_a_login_page(app, work):
    b = Browser(app)
    answer = menu(b)
    assert answer.status_code == 401 and answer.get_json() == {"entries": [], "total": 0}
    fragment = menu(b, HTML)
    assert fragment.status_code == 401 and fragment.get_data() == b""


def test_the_fragment_is_a_list_for_the_portals_menu(login_as, work):
    response = menu(login_as(work.reporter), HTML)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<ul class="reports-menu" lang="th">')
    assert "<html" not in html and "<script" not in html
    assert (
        f'<a href="/myoffice/reports/send/">{SEND} '
        '<span class="reports-count" title="รอดำเนินการ 1 รายการ">1</span></a>'
    ) in html


def test_an_english_reader_gets_english_labels(login_as, work):
    work.reporter.language = "en"
    db.session.commit()
    b = login_as(work.reporter)
    body = menu(b).get_json()
    labels = [e["label"] for e in body["entries"]]
    assert labels and not any("\u0e00" <= ch <= "\u0e7f" for label in labels for ch in label)
    assert 'lang="en"' in menu(b, HTML).get_data(as_text=True)


def test_work_counts_only_while_it_is_still_theirs(login_as, work, make_document):
    """A returned document stops counting once revised (replaced), and once the reporter is
    no longer assigned to the indicator (they cannot revise it any more)."""
    import io

    from werkzeug.datastructures import FileStorage

    from blueprints.send.services import send_revision
    from extensions import storage
    from models import RETURNED, Document
    from tests.samples import sample_bytes

    returned = db.session.scalar(
        db.select(Document).where(
            Document.status == RETURNED, Document.uploaded_by_id == work.reporter.id
        )
    )
    upload = FileStorage(io.BytesIO(sample_bytes("pdf")), filename="แก้ไขแล้ว.pdf")
    send_revision(storage(), work.reporter, returned, "ฉบับแก้ไข", upload)
    db.session.commit()
    assert entries(menu(login_as(work.reporter)))[SEND]["count"] == 0
    # ... and the revision waits for the receiver, with the one already waiting.
    assert entries(menu(login_as(work.receiver)))[RECEIVE]["count"] == 2

    again = make_document(work.indicator, work.reporter, title="ส่งกลับอีก")
    return_document(work.receiver, again, "ไม่ครบ")
    db.session.commit()
    assert entries(menu(login_as(work.reporter)))[SEND]["count"] == 1
    work.indicator.reporters.remove(work.reporter)
    db.session.commit()
    assert SEND in entries(menu(login_as(work.reporter)))  # still a reporter elsewhere
    assert entries(menu(login_as(work.reporter)))[SEND]["count"] == 0


def test_header_mode_the_portal_names_the_user(make_app, work):
    app = make_app(AUTH_MODE="header", TRUSTED_PROXIES=NGINX)
    got = entries(menu(behind_nginx(app, "receiver", "ประเสริฐ มั่นคง")))
    assert got[RECEIVE]["count"] == 1


@pytest.mark.parametrize("path", [JSON, HTML])
def test_header_mode_a_closed_account_gets_an_empty_menu_not_a_page(make_app, work, path):
    work.receiver.active = False
    db.session.commit()
    app = make_app(AUTH_MODE="header", TRUSTED_PROXIES=NGINX)
    response = menu(behind_nginx(app, "receiver", "ประเสริฐ มั่นคง"), path)
    assert response.status_code == 401
    if path == JSON:
        assert response.get_json() == {"entries": [], "total": 0}
    else:
        assert response.get_data() == b""


def test_php_session_mode_a_store_it_cannot_trust_is_said_in_json(php, make_app, work, tmp_path):
    """The portal's server gets JSON it can log, not our error page."""
    import os

    sessions = tmp_path / "sessions"
    sessions.mkdir()
    app = make_app(
        AUTH_MODE="php-session",
        PHP_SESSION_SAVE_HANDLER="files",
        PHP_SESSION_SAVE_PATH=str(sessions),
        PHP_SESSION_MAX_AGE=1440,
    )
    sid = portal_login(php, sessions)
    os.chmod(sessions / f"sess_{sid}", 0o644)  # anyone could have written it
    response = menu(with_php_cookie(app, sid))
    assert response.status_code == 503, response.get_data(as_text=True)
    body = response.get_json()
    assert body["entries"] == [] and "ตรวจสอบการเข้าสู่ระบบกับพอร์ทัลไม่ได้" in body["error"]


# --- token mode: the portal's server signs a menu token for the user ------------------------


@pytest.fixture
def token_app(make_app):
    return make_app(
        AUTH_MODE="token",
        HANDOFF_SECRET=SECRET,
        PORTAL_LINK_URL="/myoffice/reports_link.php",
    )


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_token_mode_a_menu_token_names_the_user_and_links_go_through_the_portal(
    token_app, work, php
):
    b = Browser(token_app)
    token = php_token(php, "menu", "reporter")
    for _each_portal_page in range(2):  # the same token serves every page of its minute
        response = menu(b, headers=bearer(token))
        assert response.status_code == 200
        got = entries(response)
        assert got[SEND]["count"] == 1
        assert got[SEND]["url"] == "/myoffice/reports_link.php?next=%2Fmyoffice%2Freports%2Fsend%2F"
    # Reading the menu logs nobody in here.
    assert b.get("auth.index").status_code == 302


@pytest.mark.parametrize(
    ("purpose", "user", "secret", "status"),
    [
        ("login", "reporter", SECRET, 403),  # a login link is not a menu token
        ("menu", "reporter", "another-secret-of-at-least-32-characters", 403),
        ("menu", "nobody-here", SECRET, 401),  # unknown: nobody is created for a menu
    ],
)
def test_token_mode_refuses_what_is_not_a_menu_token_for_a_known_user(
    token_app, work, php, purpose, user, secret, status
):
    from models import User

    users = db.session.query(User).count()
    token = php_token(php, purpose, user, secret=secret)
    response = menu(Browser(token_app), headers=bearer(token))
    assert response.status_code == status
    assert response.get_json()["entries"] == []
    assert db.session.query(User).count() == users


def test_token_mode_a_closed_account_gets_nothing(token_app, work, php):
    work.reporter.active = False
    db.session.commit()
    response = menu(Browser(token_app), headers=bearer(php_token(php, "menu", "reporter")))
    assert response.status_code == 401 and response.get_json()["entries"] == []


def test_a_bearer_token_counts_only_in_token_mode(app, work):
    from blueprints.auth.portal import sign

    token = sign({"purpose": "menu", "user": "reporter"}, SECRET)
    response = menu(Browser(app), headers=bearer(token))
    assert response.status_code == 401
    assert json.loads(response.get_data())["entries"] == []


# --- the portal's side: integrations/php/reports_menu.php, run by the real PHP ---------------

PHP_MENU = Path(__file__).resolve().parent.parent / "integrations" / "php" / "reports_menu.php"


def portal_page(php, tmp_path, env, name="ประเสริฐ มั่นคง", charset="UTF-8") -> bytes:
    """A portal page that has the receiver in its (open) session and prints our menu between
    two markers, as the portal's own code would; its bytes, in the portal's charset."""
    script = (
        "session_save_path($argv[2]); session_id('menutest0123456789'); session_start();"
        "$_SESSION['username'] = 'receiver';"
        "$_SESSION['fullname'] = iconv('UTF-8', $argv[4], $argv[3]);"
        "require $argv[1]; echo '[before]', reports_menu_html(), '[after]';"
    )
    result = subprocess.run(
        [php, "-r", script, "--", str(PHP_MENU), str(tmp_path), name, charset],
        capture_output=True,
        timeout=30,
        env={"PATH": os.environ.get("PATH", ""), "REPORTS_PORTAL_CHARSET": charset, **env},
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


@pytest.fixture
def served(make_app):
    """Our app on a real loopback port, as gunicorn would serve it to the portal's server."""

    def serve(**config):
        app = make_app(**config)
        server = make_server("127.0.0.1", 0, mount(app), threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/myoffice/reports"

    servers = []
    yield serve
    for server in servers:
        server.shutdown()


def test_the_php_include_prints_our_menu_in_a_tis620_portal(php, served, work, tmp_path):
    """An older Thai portal writes TIS-620: the names it sends are converted to UTF-8 for us,
    and our menu back into TIS-620 for its page."""
    base = served(AUTH_MODE="header", TRUSTED_PROXIES="127.0.0.1")
    env = {"REPORTS_AUTH_MODE": "header", "REPORTS_SERVER_BASE": base}
    page = portal_page(php, tmp_path, env, charset="TIS-620")
    text = page.decode("cp874")
    assert text.startswith('[before]<ul class="reports-menu"') and text.endswith("[after]")
    assert f'>{RECEIVE} <span class="reports-count"' in text
    assert db.session.get(User, work.receiver.id).full_name == "ประเสริฐ มั่นคง"


def test_a_short_secret_does_not_break_the_portals_page(php, served, work, tmp_path):
    """A mistake in the portal's settings costs the menu, never the rest of the page."""
    base = served(AUTH_MODE="token", HANDOFF_SECRET=SECRET)
    env = {"REPORTS_AUTH_MODE": "token", "REPORTS_SERVER_BASE": base}
    assert portal_page(php, tmp_path, {**env, "REPORTS_HANDOFF_SECRET": "short"}) == (
        b"[before][after]"
    )
    # The same page with the right secret shows the menu.
    page = portal_page(php, tmp_path, {**env, "REPORTS_HANDOFF_SECRET": SECRET})
    assert RECEIVE in page.decode("utf-8")


def test_the_module_down_costs_only_the_menu(php, tmp_path, work):
    env = {"REPORTS_AUTH_MODE": "header", "REPORTS_SERVER_BASE": "http://127.0.0.1:9/x"}
    assert portal_page(php, tmp_path, env) == b"[before][after]"
