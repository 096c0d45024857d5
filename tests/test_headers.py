"""Security headers on every response, and downloads that never render in the browser.

Every answer (pages, error pages, redirects, static files, the portal's menu, downloads,
exports) carries nosniff, a Referrer-Policy and a Content-Security-Policy; frames are allowed
from our own origin and REPORTS_PORTAL_ORIGINS only. A document, whatever its bytes or its
row claim, is an attachment with a policy that lets nothing run.
"""

import re
import threading
from urllib.parse import unquote

import pytest
from sqlalchemy import update
from werkzeug.serving import make_server
from werkzeug.test import Client

from app import mount
from csp import DOWNLOAD_POLICY
from extensions import db, storage
from models import Document
from tests.conftest import PASSWORD, Browser

PREFIX = "/myoffice/reports"
HOSTILE_HTML = (
    b"<!doctype html><html><head><title>pwned</title></head><body>"
    b"<script>document.title = 'ran'; alert('xss')</script>"
    b'<img src=x onerror="alert(1)"></body></html>'
)
HOSTILE_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
    b"<script>document.title = 'ran'; alert('xss')</script></svg>"
)
THAI_NAME = "รายงานผล รอบ 6 เดือน (ฉบับแก้ไข).pdf"


def policy_of(response) -> dict[str, list[str]]:
    directives = {}
    for part in response.headers.get("Content-Security-Policy", "").split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


def assert_page_headers(response, label: str):
    headers = response.headers
    assert headers.get("X-Content-Type-Options") == "nosniff", label
    assert headers.get("Referrer-Policy") == "same-origin", label
    assert headers.get("X-Frame-Options") == "SAMEORIGIN", label
    policy = policy_of(response)
    assert policy.get("frame-ancestors") == ["'self'"], label
    assert policy.get("default-src") == ["'self'"], label
    # No inline script may run: neither 'unsafe-inline' nor a nonce anywhere.
    assert "'unsafe-inline'" not in headers["Content-Security-Policy"], label
    assert policy.get("object-src") == ["'none'"], label


def assert_download_headers(response, label: str):
    headers = response.headers
    assert headers.get("X-Content-Type-Options") == "nosniff", label
    assert headers.get("Referrer-Policy") == "same-origin", label
    assert headers["Content-Disposition"].startswith("attachment;"), label
    assert headers["Content-Security-Policy"] == DOWNLOAD_POLICY, label
    assert "no-store" in headers.get("Cache-Control", ""), label


def broken_view(app, endpoint):
    """Make one view raise, keeping its access mark: the 500 page as staff would meet it."""
    original = app.view_functions[endpoint]

    def broken(**_kwargs):
        raise RuntimeError("simulated bug")

    broken.access_level = original.access_level
    app.view_functions[endpoint] = broken


def test_every_response_carries_the_security_headers(app, world, login_as, make_document):
    make_document(world.indicator, world.reporter)
    reporter = login_as(world.reporter)
    receiver = login_as(world.receiver)
    visitor = Browser(app)
    year = world.indicator.fiscal_year
    big = b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    pages = {
        "login page": (visitor.get("auth.login"), 200),
        "reporter's page": (reporter.get("send.index"), 200),
        "receiver's round": (receiver.get("receive.round_page", months=6, year=year), 200),
        "redirect to login": (visitor.get("send.index"), 302),
        "redirect after logout": (login_as(world.staff).post("auth.logout"), 302),
        "static script": (visitor.get("static", filename="reports.js"), 200),
        "static style": (visitor.get("static", filename="reports.css"), 200),
        "menu.json": (visitor.get(f"{PREFIX}/menu.json"), None),
        "menu.html": (visitor.get(f"{PREFIX}/menu.html"), None),
        "404": (reporter.get(f"{PREFIX}/no-such-page"), 404),
        "403": (reporter.get("auth.accounts"), 403),
        "405": (reporter.get("send.delete", document_id=1), 405),
        "400 csrf": (reporter.post("auth.logout", csrf=False), 400),
        "413": (
            reporter.open(
                reporter.url("send.attach", indicator_id=world.indicator.id),
                method="POST",
                data=big,
                content_type="application/octet-stream",
            ),
            413,
        ),
    }
    broken_view(app, "send.index")
    app.config["PROPAGATE_EXCEPTIONS"] = False
    pages["500"] = (reporter.get("send.index"), 500)
    for label, (response, status) in pages.items():
        if status is not None:
            assert response.status_code == status, label
        assert_page_headers(response, label)

    document = db.session.scalars(db.select(Document)).one()
    downloads = {
        "document": receiver.get("receive.download", document_id=document.id),
        "round zip": receiver.get("receive.export_round", year=year, months=6),
        "status xlsx": receiver.get("receive.status_report", year=year),
    }
    for label, response in downloads.items():
        assert response.status_code == 200, label
        assert_download_headers(response, label)


def test_answers_outside_the_prefix_carry_them_too(app):
    """gunicorn serves mount(): '/' redirects to the module, anything else is a plain 404."""
    client = Client(mount(app))
    for path, status in (("/", 302), ("/elsewhere", 404)):
        response = client.get(path)
        assert response.status_code == status, path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert response.headers["Referrer-Policy"] == "same-origin", path
        assert "default-src 'none'" in response.headers["Content-Security-Policy"], path


def stored_as(document: Document, content: bytes, content_type: str) -> None:
    """What an older version, a restored backup or a hand edit could have left behind."""
    with open(storage().path(document.stored_name), "wb") as f:
        f.write(content)
    db.session.execute(
        update(Document)
        .where(Document.id == document.id)
        .values(content_type=content_type, size=len(content))
    )
    db.session.commit()


@pytest.mark.parametrize(
    ("content", "claimed", "served"),
    [
        (HOSTILE_HTML, "text/html; charset=utf-8", "application/octet-stream"),
        (HOSTILE_SVG, "image/svg+xml", "application/octet-stream"),
        (HOSTILE_SVG, "application/xhtml+xml", "application/octet-stream"),
        (HOSTILE_HTML, "text/xml", "application/octet-stream"),
        (HOSTILE_HTML, "", "application/octet-stream"),
        (HOSTILE_HTML, "application/pdf", "application/pdf"),
        (HOSTILE_HTML, "text/plain; charset=utf-8", "text/plain; charset=utf-8"),
    ],
)
def test_a_download_never_renders_whatever_it_claims(
    app, world, login_as, make_document, content, claimed, served
):
    document = make_document(world.indicator, world.reporter, filename=THAI_NAME)
    stored_as(document, content, claimed)
    response = login_as(world.receiver).get("receive.download", document_id=document.id)
    assert response.status_code == 200
    assert response.data == content
    assert response.mimetype == served.partition(";")[0]
    assert_download_headers(response, claimed)


def test_a_download_keeps_its_thai_name_in_rfc_5987(app, world, login_as, make_document):
    document = make_document(world.indicator, world.reporter, filename=THAI_NAME)
    response = login_as(world.receiver).get("receive.download", document_id=document.id)
    disposition = response.headers["Content-Disposition"]
    match = re.fullmatch(r'attachment; filename="([^"]+)"; filename\*=UTF-8\'\'(\S+)', disposition)
    assert match, disposition
    assert match.group(1) == f"document-{document.id}.pdf"
    assert unquote(match.group(2)) == THAI_NAME
    assert all(c.isascii() and c.isprintable() for c in disposition)


def test_portal_origins_may_frame_us_and_nobody_else(make_app, world, monkeypatch):
    app = make_app(PORTAL_ORIGINS="https://portal.example.go.th, http://10.0.0.5:8080/")
    page = Browser(app).get("auth.login")
    assert policy_of(page)["frame-ancestors"] == [
        "'self'",
        "https://portal.example.go.th",
        "http://10.0.0.5:8080",
    ]
    # X-Frame-Options cannot name another origin; SAMEORIGIN would refuse the portal.
    assert "X-Frame-Options" not in page.headers
    monkeypatch.setenv("REPORTS_PORTAL_ORIGINS", '["https://intranet.example.go.th"]')
    from_env = Browser(make_app()).get("auth.login")
    assert policy_of(from_env)["frame-ancestors"] == ["'self'", "https://intranet.example.go.th"]


@pytest.mark.parametrize(
    "value", ["*", "https://*.example", "https://portal.example/myoffice", "javascript:x", "'none'"]
)
def test_a_malformed_portal_origin_refuses_to_start(make_app, value):
    with pytest.raises(RuntimeError, match="REPORTS_PORTAL_ORIGINS"):
        make_app(PORTAL_ORIGINS=value)


# --- in Chromium ------------------------------------------------------------------------------


@pytest.fixture
def served(app):
    server = make_server("127.0.0.1", 0, mount(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}{PREFIX}/"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.mark.browser
@pytest.mark.parametrize(
    ("content", "claimed", "name"),
    [
        (HOSTILE_HTML, "text/html", "หน้าเว็บ.html"),
        (HOSTILE_SVG, "image/svg+xml", "ภาพ.svg"),
        (HOSTILE_HTML, "application/pdf", "รายงาน.pdf"),
    ],
)
def test_chromium_downloads_a_hostile_document_without_running_it(
    app, world, make_document, chromium, served, content, claimed, name
):
    document = make_document(world.indicator, world.reporter)
    stored_as(document, content, claimed)
    db.session.execute(update(Document).values(original_name=name))
    receiver = world.receiver.username
    path = Browser(app).url("receive.download", document_id=document.id)
    db.session.commit()

    context = chromium.new_context(locale="th-TH", accept_downloads=True)
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        dialogs = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(served.removesuffix(PREFIX + "/") + Browser(app).url("auth.login"))
        page.get_by_label("ชื่อผู้ใช้", exact=True).fill(receiver)
        page.get_by_label("รหัสผ่าน", exact=True).fill(PASSWORD)
        page.get_by_label("รหัสผ่าน", exact=True).press("Enter")
        page.wait_for_load_state()
        before_url, before_title = page.url, page.title()
        with page.expect_download() as download_info:
            page.evaluate("url => { window.location.href = url }", path)
        download = download_info.value
        assert download.suggested_filename == name
        with open(download.path(), "rb") as f:
            assert f.read() == content
        page.wait_for_timeout(300)  # time for a render or a dialog, had there been one
        assert dialogs == []
        assert page.url == before_url
        assert page.title() == before_title != "ran"
    finally:
        context.close()


# --- what nginx answers itself -----------------------------------------------------------------


def test_nginx_413_page_carries_the_same_headers(tmp_path):
    """The oversized-upload page never reaches the app: deploy/nginx sets its headers."""
    import http.client

    from tests.conftest import IN_CI
    from tests.stack import Stack, make_certificate, tools

    missing = [name for name, path in tools().items() if not path]
    if missing:
        if IN_CI:
            pytest.fail(f"needs {', '.join(missing)} (.ci/run installs them)")
        pytest.skip(f"needs {', '.join(missing)} (apt-get install nginx php-fpm openssl)")
    stack = Stack(tmp_path / "stack", "token", make_certificate(tmp_path)).start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", stack.http_port, timeout=10)
        conn.putrequest("POST", PREFIX + "/send/indicator/1/attach")
        conn.putheader("Content-Type", "multipart/form-data; boundary=x")
        conn.putheader("Content-Length", str(60 * 1024 * 1024))
        conn.endheaders()
        answer = conn.getresponse()
        answer.read()
    finally:
        stack.stop()
    assert answer.status == 413
    assert answer.getheader("X-Content-Type-Options") == "nosniff"
    assert answer.getheader("Referrer-Policy") == "same-origin"
    assert answer.getheader("X-Frame-Options") == "SAMEORIGIN"
    policy = answer.getheader("Content-Security-Policy")
    assert "default-src 'none'" in policy and "frame-ancestors 'self'" in policy
    assert "script" not in policy  # default-src 'none' covers scripts: none at all


@pytest.fixture
def framing_page():
    """A page on another origin (localhost, not 127.0.0.1) that puts a URL in an iframe."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    target = {}

    class Portal(BaseHTTPRequestHandler):
        def do_GET(self):
            body = f'<!doctype html><title>portal</title><iframe src="{target["url"]}"></iframe>'
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *_args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Portal)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def frame(url: str) -> str:
        target["url"] = url
        return f"http://localhost:{server.server_port}/"

    frame.origin = f"http://localhost:{server.server_port}"
    yield frame
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def framed_login_shows(chromium, page_url: str) -> bool:
    context = chromium.new_context(locale="th-TH")
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        page.goto(page_url)
        page.wait_for_load_state("load")
        child = page.frames[1]
        return child.get_by_label("ชื่อผู้ใช้", exact=True).count() == 1
    finally:
        context.close()


@pytest.mark.browser
def test_chromium_lets_only_the_portal_frame_us(make_app, chromium, framing_page):
    """Another origin's page cannot show us in a frame; REPORTS_PORTAL_ORIGINS lets it."""
    for origins, shown in (("", False), (framing_page.origin, True)):
        app = make_app(PORTAL_ORIGINS=origins)
        server = make_server("127.0.0.1", 0, mount(app), threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            login = f"http://127.0.0.1:{server.server_port}{PREFIX}/login"
            assert framed_login_shows(chromium, framing_page(login)) is shown, origins
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
