"""The module behind real nginx, next to a real PHP portal, on the portal's login.

Each mode starts nginx (deploy/nginx), php-fpm serving tests/portal with integrations/php,
and gunicorn (deploy/gunicorn.conf.py via the systemd unit's commands) on loopback ports.
A staff member logs in on the PHP side only, opens the module as themselves, uploads a
file through nginx, logs out of the portal, and is refused here.
"""

import http.client
import os
import re
import socket
import time
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import func, select

from app import create_app
from csp import DOWNLOAD_POLICY
from extensions import db
from models import REPORTER, RETURNED, AuditEntry, Document, Indicator, User
from tests.conftest import IN_CI
from tests.samples import sample_bytes
from tests.stack import DEPLOY, Stack, make_certificate, tools
from thai import fiscal_year, normalize_code, now_utc

missing = [name for name, path in tools().items() if not path]
if missing and not IN_CI:
    reason = f"needs {', '.join(missing)} (apt-get install nginx php-fpm php-redis openssl)"
    pytest.skip(reason, allow_module_level=True)

PREFIX = "/myoffice/reports"
STAFF = {"somchai": ("portal-pass-1", "สมชาย ใจดี"), "malee": ("portal-pass-2", "มาลี ศรีสุข")}


def redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def stacks(tmp_path_factory, certificate):
    """One running stack per configuration, started when first asked for."""
    running = {}

    def get(mode, **php_session):
        key = (mode, tuple(sorted(php_session.items())))
        if key not in running:
            base = tmp_path_factory.mktemp(mode)
            running[key] = Stack(base, mode, certificate, **php_session).start()
        return running[key]

    yield get
    for stack in running.values():
        stack.stop()


class Person:
    """A staff member's browser: the portal and the module share it, as on a real desk."""

    def __init__(self, stack: Stack, https: bool = False):
        self.stack = stack
        self.https = https
        self.http = requests.Session()
        # The test's own self-signed certificate; no CA bundle or proxy from the environment.
        self.http.trust_env = False
        self.http.verify = str(stack.cert[0])

    def url(self, path: str) -> str:
        return self.stack.url(path, self.https)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.http.get(self.url(path), timeout=20, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        # A browser sends the page it is on; Flask-WTF checks it over HTTPS.
        headers = {"Referer": self.url(path), **kwargs.pop("headers", {})}
        return self.http.post(self.url(path), timeout=60, headers=headers, **kwargs)

    def portal_login(self, username: str) -> None:
        password, name = STAFF[username]
        page = self.post("/myoffice/login.php", data={"username": username, "password": password})
        assert page.status_code == 200 and name in page.text, page.text

    def portal_logout(self) -> None:
        page = self.get("/myoffice/logout.php")
        assert "เข้าสู่ระบบ" in page.text

    def open_module(self) -> requests.Response:
        """The portal's menu item for the module, as the mode wires it."""
        if self.stack.mode == "token":
            return self.get("/myoffice/reports_link.php")
        return self.get(PREFIX + "/")

    def csrf_token(self, page: requests.Response) -> str:
        return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page.text)[1]

    def upload(self, indicator_id: int, name: str = "รายงานผล.pdf") -> requests.Response:
        path = f"{PREFIX}/send/indicator/{indicator_id}/attach"
        form = self.get(path)
        assert form.status_code == 200, form.text[:500]
        return self.post(
            path,
            data={"csrf_token": self.csrf_token(form), "round_months": "6", "title": "ผลงานรอบ 6"},
            files={"file": (name, sample_bytes("pdf"), "application/pdf")},
        )


def app_for(stack: Stack):
    return create_app(
        {
            "DATABASE_URL": f"sqlite:///{stack.database}",
            "SECRET_KEY": "x",
            "UPLOAD_DIR": str(stack.uploads),
        }
    )


def make_reporter(stack: Stack, username: str) -> int:
    """The officer's part (marking a reporter, recording an indicator), done in the database."""
    app = app_for(stack)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        user.reporter_status = REPORTER
        receiver = db.session.scalar(select(User).where(User.username == "receiver"))
        if receiver is None:
            receiver = User(username="receiver", full_name="ผู้รับข้อมูล", password_hash="!")
        code = f"{user.id}.{db.session.scalar(select(func.count()).select_from(Indicator)) + 1}"
        indicator = Indicator(
            fiscal_year=fiscal_year(),
            code=code,
            code_key=normalize_code(code),
            name="ร้อยละของสถานศึกษาที่จัดการเรียนรู้เชิงรุก",
            receiver=receiver,
            reporters=[user],
        )
        db.session.add(indicator)
        db.session.commit()
        indicator_id = indicator.id
        db.engine.dispose()
    return indicator_id


def count(stack: Stack, model, **where) -> int:
    app = app_for(stack)
    with app.app_context():
        query = select(func.count()).select_from(model).filter_by(**where)
        result = db.session.scalar(query)
        db.engine.dispose()
    return result


def refused(page: requests.Response) -> bool:
    """Sent to a login page (ours or the portal's), never shown the module."""
    path = urlsplit(page.url).path
    return path in ("/myoffice/login.php", PREFIX + "/login") and "สมชาย" not in page.text


def walk_through(stack: Stack, https: bool = False) -> None:
    person = Person(stack, https)
    assert refused(person.open_module()), "the module opened without any login"

    person.portal_login("somchai")
    home = person.open_module()
    assert home.status_code == 200, stack.logs()
    assert urlsplit(home.url).path == PREFIX + "/"
    assert "สมชาย ใจดี" in home.text  # as themselves, without a second login

    indicator_id = make_reporter(stack, "somchai")
    sent = person.upload(indicator_id)
    assert sent.status_code == 200 and urlsplit(sent.url).path.startswith(PREFIX), sent.text[:500]
    assert "ผลงานรอบ 6" in person.get(PREFIX + "/send/").text
    assert count(stack, Document, indicator_id=indicator_id) == 1

    person.portal_logout()
    assert refused(person.open_module()), "still in after logging out of the portal"
    assert refused(person.get(PREFIX + "/send/"))


@pytest.mark.parametrize("mode", ["header", "php-session", "token"])
def test_staff_open_the_module_on_their_portal_login(stacks, mode):
    """Logged into the portal, a staff member works here as themselves; logged out, not."""
    walk_through(stacks(mode))


def test_over_https_with_a_self_signed_certificate(stacks):
    """Over HTTPS, links, redirects, the CSRF check and cookies (marked Secure) all work."""
    stack = stacks("php-session")
    walk_through(stack, https=True)

    person = Person(stack, https=True)
    person.portal_login("malee")
    home = person.open_module()
    assert home.url.startswith("https://") and "มาลี ศรีสุข" in home.text
    ours = [c for c in person.http.cookies if c.name == "myoffice_reports_session"]
    assert ours and all(c.secure for c in ours)
    # The same installation over plain HTTP does not mark them Secure (it would lose them).
    plain = Person(stack)
    plain.portal_login("malee")
    plain.open_module()
    assert [c.secure for c in plain.http.cookies if c.name == "myoffice_reports_session"] == [False]


@pytest.mark.skipif(not redis_reachable() and not IN_CI, reason="Redis is not running")
def test_php_sessions_kept_in_redis(stacks):
    """A portal whose PHP keeps sessions in Redis (php_serialize format) works the same."""
    walk_through(stacks("php-session", save_handler="redis", serialize_handler="php_serialize"))


def test_a_browser_cannot_send_its_own_remote_user(stacks):
    """X-Remote-User from a browser never counts: nginx replaces it, and gunicorn ignores it
    from any address but nginx's."""
    stack = stacks("header")
    before = count(stack, User)

    stranger = Person(stack)
    page = stranger.get(PREFIX + "/", headers={"X-Remote-User": "somchai"})
    assert refused(page)

    malee = Person(stack)
    malee.portal_login("malee")
    page = malee.get(PREFIX + "/", headers={"X-Remote-User": "somchai"})
    assert "มาลี ศรีสุข" in page.text and "สมชาย" not in page.text

    # Straight to gunicorn from another address: the header is dropped, nobody is created.
    conn = http.client.HTTPConnection(
        "127.0.0.1", stack.app_port, timeout=10, source_address=("127.0.0.2", 0)
    )
    conn.request(
        "GET",
        PREFIX + "/",
        headers={"X-Remote-User": "forged", "X-Forwarded-For": "10.9.9.9"},
    )
    answer = conn.getresponse()
    assert answer.status == 302 and "/login" in answer.getheader("Location")
    assert count(stack, User, username="forged") == 0
    assert count(stack, User) == before + 1  # malee, from the portal


def test_a_portal_link_works_once(stacks):
    """The token link from the portal's menu logs in once; the same link again is refused."""
    stack = stacks("token")
    person = Person(stack)
    person.portal_login("malee")
    link = person.get("/myoffice/reports_link.php", allow_redirects=False).headers["Location"]
    assert link.startswith(PREFIX + "/handoff?token=")

    first = person.get(link)
    assert "มาลี ศรีสุข" in first.text

    replay = Person(stack).get(link)
    assert replay.status_code == 403
    assert "ลิงก์เข้าระบบไม่ถูกต้อง" in replay.text


def test_nginx_refuses_an_oversized_upload_in_thai(stacks):
    """A file over the limit is stopped by nginx with a Thai page, before anything is stored."""
    stack = stacks("php-session")
    conn = http.client.HTTPConnection("127.0.0.1", stack.http_port, timeout=10)
    conn.putrequest("POST", PREFIX + "/send/indicator/1/attach")
    conn.putheader("Content-Type", "multipart/form-data; boundary=x")
    conn.putheader("Content-Length", str(60 * 1024 * 1024))
    conn.endheaders()
    answer = conn.getresponse()
    body = answer.read().decode("utf-8")
    assert answer.status == 413
    assert "ไฟล์มีขนาดใหญ่เกินกำหนด" in body and "50 MB" in body
    assert "text/html" in answer.getheader("Content-Type")


def test_nginx_and_the_app_refuse_the_same_size():
    """client_max_body_size is exactly the app's own limit, so both answer alike."""
    site = (DEPLOY / "nginx" / "myoffice.conf").read_text()
    kib = int(re.search(r"client_max_body_size (\d+)k;", site)[1])
    app = create_app({"SECRET_KEY": "x", "DATABASE_URL": "sqlite://"})
    assert kib * 1024 == app.config["MAX_CONTENT_LENGTH"]


def test_a_slow_upload_does_not_hold_up_other_users(stacks):
    """With a single gunicorn worker, a reporter on a slow line still leaves room for others:
    nginx takes the whole upload before gunicorn sees it."""
    stack = stacks("php-session")
    slow = socket.create_connection(("127.0.0.1", stack.http_port), timeout=10)
    try:
        slow.sendall(
            (
                f"POST {PREFIX}/send/indicator/1/attach HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{stack.http_port}\r\n"
                "Content-Type: multipart/form-data; boundary=x\r\n"
                f"Content-Length: {1024 * 1024}\r\n\r\n"
            ).encode()
            + b"x" * 1000  # ... and the rest never comes, for now
        )
        time.sleep(0.5)
        other = Person(stack)
        other.portal_login("malee")
        started = time.monotonic()
        page = other.open_module()
        assert page.status_code == 200 and "มาลี ศรีสุข" in page.text
        # Not a speed target: a blocked worker would wait out nginx's 60 s body timeout.
        assert time.monotonic() - started < 20
    finally:
        slow.close()


def test_deploy_files_point_at_what_exists():
    """The unit and nginx site name files that are really in the repository."""
    unit = (DEPLOY / "myoffice-reports.service").read_text()
    for path in re.findall(r"/opt/myoffice-reports/([\w./-]+)", unit):
        if not path.startswith((".venv", "uploads", "instance")):
            assert (DEPLOY.parent / path).exists(), path
    site = (DEPLOY / "nginx" / "myoffice.conf").read_text()
    for path in re.findall(r"/opt/myoffice-reports/([\w./-]+)", site):
        assert (DEPLOY.parent / path).exists(), path
    assert os.path.exists(DEPLOY / "nginx" / "reports-auth-header.conf")


@pytest.mark.browser
@pytest.mark.parametrize("mode", ["header", "token"])
def test_in_a_real_browser_over_https(stacks, chromium, mode):
    """In Chromium over HTTPS: log in at the portal, click its menu item, send a file through
    the module's own form, log out at the portal, and the module is closed."""
    from playwright.sync_api import expect

    stack = stacks(mode)
    context = chromium.new_context(ignore_https_errors=True, locale="th-TH")
    page = context.new_page()
    try:
        page.goto(stack.url("/myoffice/login.php", https=True))
        page.fill("#username", "somchai")
        page.fill("#password", STAFF["somchai"][0])
        page.get_by_role("button", name="เข้าสู่ระบบ").click()
        page.locator("#reports-token" if mode == "token" else "#reports").click()
        expect(page.locator("header")).to_contain_text("สมชาย ใจดี")
        assert page.url.startswith(stack.url(PREFIX + "/", https=True))

        indicator_id = make_reporter(stack, "somchai")
        page.goto(stack.url(f"{PREFIX}/send/indicator/{indicator_id}/attach", https=True))
        page.get_by_label("รอบ 6 เดือน", exact=True).check()
        page.get_by_label("ชื่อรายการ", exact=True).fill("ส่งผ่านเบราว์เซอร์")
        page.get_by_label("ไฟล์แนบ", exact=True).set_input_files(
            {"name": "ผลงาน.pdf", "mimeType": "application/pdf", "buffer": sample_bytes("pdf")}
        )
        page.get_by_role("button", name="บันทึกการส่ง").click()
        expect(page.get_by_role("status")).to_contain_text("ส่งเอกสารเรียบร้อยแล้ว")
        assert all(c["secure"] for c in context.cookies() if c["name"].startswith("myoffice"))

        page.goto(stack.url("/myoffice/logout.php", https=True))
        page.goto(stack.url(PREFIX + "/send/", https=True))
        expect(page.locator("body")).not_to_contain_text("สมชาย ใจดี")
        assert urlsplit(page.url).path in ("/myoffice/login.php", PREFIX + "/login")
    except Exception:
        print(stack.logs())
        raise
    finally:
        context.close()


def set_up_waiting_work(stack: Stack) -> None:
    """somchai sends two documents; one comes back for revision. malee receives them."""
    somchai = Person(stack)
    somchai.portal_login("somchai")
    assert somchai.open_module().status_code == 200
    indicator_id = make_reporter(stack, "somchai")
    for _first_returned_then_waiting in range(2):
        page = somchai.upload(indicator_id)
        assert page.status_code == 200, page.text[:300]
    malee = Person(stack)
    malee.portal_login("malee")
    assert malee.open_module().status_code == 200  # token mode: her account starts here
    app = app_for(stack)
    with app.app_context():
        receiver = db.session.scalar(select(User).where(User.username == "malee"))
        db.session.get(Indicator, indicator_id).receiver = receiver
        first = db.session.scalars(
            select(Document).where(Document.indicator_id == indicator_id).order_by(Document.id)
        ).first()
        first.status = RETURNED
        first.returned_by = receiver
        first.returned_at = now_utc()
        first.return_reason = "แนบไฟล์ผิด"
        db.session.commit()
        db.engine.dispose()


def portal_menu(page: requests.Response) -> dict[str, tuple[str, str]]:
    """The module's entries in the portal page's menu: label -> (count, href)."""
    menu = re.search(r'<nav id="portal-reports-menu">(.*?)</nav>', page.text, re.S)[1]
    entries = {}
    for href, label, count in re.findall(
        r'<a href="([^"]+)">([^<]+?)(?: <span class="reports-count"[^>]*>(\d+)</span>)?</a>',
        menu,
    ):
        entries[label.strip()] = (count, href.replace("&amp;", "&"))
    return entries


@pytest.mark.parametrize("mode", ["header", "php-session", "token"])
def test_the_portal_menu_shows_our_entries_with_counts(stacks, mode):
    """The portal's own page prints our menu, fetched by its PHP as the logged-in user:
    the reporter sees what came back to revise, the receiver what waits to be stored."""
    stack = stacks(mode)
    set_up_waiting_work(stack)

    somchai = Person(stack)
    somchai.portal_login("somchai")
    entries = portal_menu(somchai.get("/myoffice/index.php"))
    assert entries["ส่งเอกสารคำรับรอง"][0] == "1", stack.logs()  # sent back for revision
    assert "รับเอกสารรายงานตัวชี้วัด" not in entries  # not somchai's work

    malee = Person(stack)
    malee.portal_login("malee")
    entries = portal_menu(malee.get("/myoffice/index.php"))
    assert entries["รับเอกสารรายงานตัวชี้วัด"][0] == "1"  # one to store; the returned one is not
    assert "ส่งเอกสารคำรับรอง" not in entries

    # The entry takes malee to the page, as herself, on her portal login alone.
    href = entries["รับเอกสารรายงานตัวชี้วัด"][1]
    if mode == "token":
        assert href.startswith("/myoffice/reports_link.php?next=")
    else:
        assert href == PREFIX + "/receive/"
    page = malee.get(href)
    assert urlsplit(page.url).path == PREFIX + "/receive/" and "มาลี ศรีสุข" in page.text

    # Logged out of the portal: the portal shows its login, and the module tells nobody.
    malee.portal_logout()
    assert refused(malee.get("/myoffice/index.php"))


def test_the_menu_answers_strangers_with_nothing(stacks):
    """Asked by anyone but the portal's server with a user, the menu is empty and a 401."""
    stack = stacks("token")
    direct = requests.Session()
    direct.trust_env = False
    for headers in ({}, {"Authorization": "Bearer forged.token"}):
        answer = direct.get(
            stack.app_url(PREFIX + "/menu.json"),
            headers={"Host": "127.0.0.1", **headers},
            timeout=10,
        )
        assert answer.status_code in (401, 403)
        assert answer.json()["entries"] == []


def stored_documents(stack: Stack, indicator_id: int) -> list[tuple[int, str, str]]:
    """(id, stored name, content type) of an indicator's documents, oldest first."""
    app = app_for(stack)
    with app.app_context():
        rows = db.session.execute(
            select(Document.id, Document.stored_name, Document.content_type)
            .where(Document.indicator_id == indicator_id)
            .order_by(Document.id)
        ).all()
        db.engine.dispose()
    return [tuple(row) for row in rows]


def test_nginx_sends_the_download_the_app_allowed(stacks):
    """REPORTS_X_ACCEL_REDIRECT (on in every stack, as deploy/ ships it): the app checks and
    records the download, nginx sends the bytes with the app's headers; the internal location
    itself is closed to browsers, and refused users get the app's refusal and nothing else."""
    stack = stacks("php-session")
    somchai = Person(stack)
    somchai.portal_login("somchai")
    assert somchai.open_module().status_code == 200
    indicator_id = make_reporter(stack, "somchai")
    assert somchai.upload(indicator_id, "รายงานผล รอบ 6.pdf").status_code == 200
    form = somchai.get(f"{PREFIX}/send/indicator/{indicator_id}/attach")
    csv = sample_bytes("csv-cp874")
    sent = somchai.post(
        f"{PREFIX}/send/indicator/{indicator_id}/attach",
        data={"csrf_token": somchai.csrf_token(form), "round_months": "6", "title": "ตาราง"},
        files={"file": ("ตาราง.csv", csv, "text/csv")},
    )
    assert sent.status_code == 200, sent.text[:300]
    (pdf_id, pdf_name, pdf_type), (csv_id, csv_name, csv_type) = stored_documents(
        stack, indicator_id
    )

    files = ((pdf_id, sample_bytes("pdf"), pdf_type), (csv_id, csv, csv_type))
    for document_id, content, content_type in files:
        answer = somchai.get(f"{PREFIX}/receive/document/{document_id}/file")
        assert answer.status_code == 200, stack.logs()
        assert answer.content == content  # byte for byte, through nginx's internal location
        headers = answer.headers
        assert headers["Content-Type"] == content_type
        assert headers["Content-Disposition"].startswith("attachment; filename=")
        assert "filename*=UTF-8''" in headers["Content-Disposition"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Content-Security-Policy"] == DOWNLOAD_POLICY
        assert headers["Referrer-Policy"] == "same-origin"
        assert "no-store" in headers["Cache-Control"]
        assert "X-Accel-Redirect" not in headers
    # gunicorn sent no body: nginx did.
    log = (stack.base / "gunicorn.log").read_text()
    assert re.search(rf'"GET ({PREFIX})?/receive/document/{pdf_id}/file HTTP/1.1" 200 0 ', log)
    assert count(stack, AuditEntry, action="document_downloaded", object_id=pdf_id) == 1

    # A range, as a resumed download asks for, comes from nginx too.
    part = somchai.get(f"{PREFIX}/receive/document/{pdf_id}/file", headers={"Range": "bytes=0-3"})
    assert part.status_code == 206 and part.content == b"%PDF"

    # Someone the document is not for: the app's 403 page, no file, no redirect to it.
    malee = Person(stack)
    malee.portal_login("malee")
    refused_download = malee.get(f"{PREFIX}/receive/document/{pdf_id}/file")
    assert refused_download.status_code == 403
    assert "X-Accel-Redirect" not in refused_download.headers
    assert b"%PDF" not in refused_download.content
    assert "attachment" not in refused_download.headers.get("Content-Disposition", "")

    # The internal location, asked for by a browser (logged in or not): nginx's 404.
    for person in (somchai, Person(stack)):
        for name in (pdf_name, csv_name, ""):
            direct = person.get(f"/myoffice-reports-files/{name}")
            assert direct.status_code == 404
            assert direct.content != sample_bytes("pdf") and direct.content != csv
