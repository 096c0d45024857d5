"""Fixtures that build the world: the app on the test database, users, indicators, documents."""

import contextvars
import io
import os
import re
import shutil
from contextlib import contextmanager

import pytest
from argon2 import PasswordHasher
from flask import has_app_context, url_for
from sqlalchemy import MetaData, create_engine, event, text
from werkzeug.datastructures import FileStorage
from werkzeug.test import Client

import blueprints.auth.services as auth_services
from app import create_app, mount
from extensions import db, storage
from models import REPORTER, Indicator, User
from tests.samples import sample_bytes
from thai import normalize_code

IN_CI = os.environ.get("CI", "").lower() == "true"
PASSWORD = "รหัสผ่าน-ทดสอบ"


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: real Chromium through Playwright")


def pytest_sessionfinish(session, exitstatus):
    """A whole run that passed writes its security figures into the README (tests/figures.py)."""
    from tests import figures

    if exitstatus == 0 and figures.complete():
        figures.write_readme()


def share_pymysql_default_ssl_context():
    """PyMySQL's default (TLS if the server offers it) builds a new SSL context, reading the
    system's CA store, for every connection: ~20-35 ms of CPU, and every test's app opens its
    own connections. One context, built the same way, serves them all; TLS is tried as before.
    """
    try:
        from pymysql import connections
    except ImportError:  # not a MariaDB run's dependency everywhere
        return
    create = connections.Connection._create_ssl_ctx
    if getattr(create, "shared", False):
        return
    made = {}

    def shared_default(self, sslp):
        if sslp:  # explicit TLS options: built for that connection, as PyMySQL does
            return create(self, sslp)
        if "ctx" not in made:
            made["ctx"] = create(self, sslp)
        return made["ctx"]

    shared_default.shared = True
    connections.Connection._create_ssl_ctx = shared_default


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    url = os.environ.get("REPORTS_TEST_DATABASE_URL")
    if url and url.startswith("mysql+pymysql"):
        share_pymysql_default_ssl_context()
    if not url:
        # A file, not :memory:, so threads and the browser tests' server share one database.
        return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.sqlite3")
    try:
        engine = create_engine(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as error:  # any driver's "cannot connect"
        if IN_CI:
            raise
        pytest.skip(f"test database {url} is not reachable: {error}")
    return url


@pytest.fixture(scope="session")
def migrated(database_url, tmp_path_factory):
    """The schema, built once per run by the real migrations (so they are tested too)."""
    from flask_migrate import upgrade

    app = create_app(base_config(database_url, tmp_path_factory.mktemp("uploads")))
    with app.app_context():
        drop_everything()
        upgrade(directory=app.extensions["migrate"].directory)
        db.engine.dispose()
    # Real argon2id, with parameters cheap enough for hundreds of logins in a test run.
    auth_services.hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    return database_url


def drop_everything():
    """A server database may hold an earlier run's tables (and triggers); start from nothing."""
    existing = MetaData()
    existing.reflect(db.engine)
    existing.drop_all(db.engine)


def base_config(database_url, upload_dir) -> dict:
    return {
        "TESTING": True,
        "ENV_NAME": "testing",
        "SECRET_KEY": "test-secret",
        "DATABASE_URL": database_url,
        "UPLOAD_DIR": str(upload_dir),
        # Staff imports waiting for confirmation: beside the uploads, never in the checkout.
        "IMPORT_DIR": os.path.join(os.path.dirname(str(upload_dir)), "imports"),
        "PER_PAGE": 50,
    }


@pytest.fixture
def make_app(migrated, tmp_path):
    """Build an app on the test database with extra settings; rows are wiped after the test."""
    apps = []

    def build(**overrides):
        config = base_config(migrated, tmp_path / "uploads")
        config.update(overrides)
        app = create_app(config)
        apps.append(app)
        return app

    yield build
    for app in apps[:1]:
        with app.app_context():
            with db.engine.begin() as conn:
                for table in reversed(db.metadata.sorted_tables):
                    if table.name == "audit_entries":
                        wipe_audit_entries(conn)
                        continue
                    if table.name == "documents":  # MariaDB checks the self-reference per row
                        conn.execute(text("UPDATE documents SET replaces_id = NULL"))
                    conn.execute(table.delete())
    for app in apps:
        with app.app_context():
            db.engine.dispose()
    shutil.rmtree(tmp_path / "uploads", ignore_errors=True)


def wipe_audit_entries(conn):
    """Between tests only: the append-only triggers refuse DELETE, as they must for the app."""
    if conn.execute(text("SELECT 1 FROM audit_entries LIMIT 1")).first() is None:
        return  # nothing to wipe: spare the DDL (a TRUNCATE costs MariaDB ~10 ms per test)
    if conn.dialect.name != "sqlite":
        # TRUNCATE bypasses row triggers and needs DDL rights the app never uses.
        conn.execute(text("TRUNCATE TABLE audit_entries"))
        return
    triggers = conn.execute(
        text(
            "SELECT name, sql FROM sqlite_master WHERE type='trigger' AND tbl_name='audit_entries'"
        )
    ).all()
    for name, _sql in triggers:
        conn.execute(text(f'DROP TRIGGER "{name}"'))
    conn.execute(text("DELETE FROM audit_entries"))
    for _name, sql in triggers:
        conn.execute(text(sql))


@pytest.fixture
def app(make_app):
    """The app, with the current fiscal year open (as init-db leaves a new installation)."""
    from blueprints.years.services import bootstrap_current_year

    app = make_app()
    with app.app_context():
        bootstrap_current_year()
        yield app


class Browser:
    """A user's browser: cookies, the module mounted under its prefix, CSRF tokens from pages."""

    address = "192.0.2.10"  # a documentation address, so tests can see it recorded

    def __init__(self, app):
        self.app = app
        self.client = Client(mount(app))

    def url(self, endpoint: str, **values) -> str:
        prefix = self.app.config["URL_PREFIX"]
        with self.app.test_request_context(base_url=f"http://localhost{prefix}/"):
            return url_for(endpoint, **values)

    def _path(self, target: str, values: dict) -> str:
        return target if target.startswith("/") else self.url(target, **values)

    def open(self, *args, **kwargs):
        """One request, as from another process: its own app context, `g` and DB session.

        The test's own session first commits (ending its snapshot), so what it reads next
        is what the request left in the database, not a cached copy.
        """
        if has_app_context():
            db.session.commit()
        kwargs.setdefault("environ_base", {"REMOTE_ADDR": self.address})
        # A streamed body (the export's zip) is read inside the request's own context too,
        # as a server would: stream_with_context cannot re-enter a context made elsewhere.
        kwargs.setdefault("buffered", True)
        return contextvars.Context().run(self.client.open, *args, **kwargs)

    def get(self, target: str, follow_redirects=False, **values):
        return self.open(self._path(target, values), follow_redirects=follow_redirects)

    def csrf_token(self) -> str:
        page = self.get("auth.login").get_data(as_text=True)  # a form for every role
        match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
        match = match or re.search(r'name="csrf-token" content="([^"]+)"', page)
        return match.group(1)

    def post(self, target: str, data=None, follow_redirects=False, csrf=True, **values):
        data = dict(data or {})
        if csrf:
            data.setdefault("csrf_token", self.csrf_token())
        return self.open(
            self._path(target, values), method="POST", data=data, follow_redirects=follow_redirects
        )

    def upload(
        self, indicator, months="6", title="รายงานผลการดำเนินงาน", name="รายงาน.pdf", content=None
    ):
        """แนบไฟล์เพิ่ม through the real form: one file, one round, one title."""
        return self.open(
            self.url("send.attach", indicator_id=indicator.id),
            method="POST",
            data={
                "csrf_token": self.csrf_token(),
                "round_months": months,
                "title": title,
                "file": (io.BytesIO(sample_bytes("pdf") if content is None else content), name),
            },
        )

    def login(self, username: str, password: str = PASSWORD):
        return self.post("auth.login", {"username": username, "password": password})

    def cookie(self, name: str):
        return self.client.get_cookie(name, path=self.app.config["URL_PREFIX"])


@pytest.fixture
def browser(app):
    """An anonymous browser."""
    return Browser(app)


@pytest.fixture
def login_as(app):
    """login_as(user) -> a Browser logged in as that user through the real login form."""

    def login(user: User) -> Browser:
        b = Browser(app)
        response = b.login(user.username)
        assert response.status_code == 302, response.get_data(as_text=True)
        return b

    return login


@pytest.fixture
def make_user(app):
    counter = iter(range(1, 10_000))

    def make(
        name: str | None = None,
        *,
        username: str | None = None,
        position: str = "กลุ่มอำนวยการ",
        admin: bool = False,
        status: str | None = None,
    ) -> User:
        n = next(counter)
        user = auth_services.create_user(
            username or f"user{n}", name or f"ผู้ใช้ทดสอบ {n}", position, PASSWORD, is_admin=admin
        )
        user.reporter_status = status
        db.session.commit()
        return user

    return make


@pytest.fixture
def make_indicator(app, make_user):
    def make(
        code: str = "1.1.1",
        name: str = "ร้อยละผู้เรียนระดับมัธยมศึกษาตอนต้นต่อประชากรกลุ่มอายุ 12-14 ปี",
        *,
        receiver: User | None = None,
        reporters: list[User] | None = None,
        year: int | None = None,
    ) -> Indicator:
        from blueprints.years.services import create_year, get_year
        from thai import fiscal_year

        year = year or fiscal_year()
        if get_year(year) is None:
            create_year(year)
        indicator = Indicator(
            fiscal_year=year,
            category="KRS",
            code=code,
            code_key=normalize_code(code),
            name=name,
            receiver=receiver or make_user(),
            reporters=reporters if reporters is not None else [make_user(status=REPORTER)],
        )
        db.session.add(indicator)
        db.session.commit()
        return indicator

    return make


@pytest.fixture
def make_document(app):
    """Send a document through the real service, as the reporter's upload would."""
    from blueprints.send.services import send_document

    def make(
        indicator,
        uploader,
        *,
        months=6,
        title="โครงการประชุมเชิงปฏิบัติการ",
        data=None,
        filename="รายงานผล.pdf",
    ):
        data = sample_bytes("pdf") if data is None else data
        upload = FileStorage(io.BytesIO(data), filename=filename)
        return send_document(storage(), uploader, indicator, months, title, upload)

    return make


@pytest.fixture
def world(app, make_user, make_indicator):
    """The manual's cast: officer (admin), a receiver, an assigned and an unassigned reporter,
    general staff, and one indicator of this fiscal year."""
    officer = make_user("สมศรี ใจดี", username="officer", admin=True)
    receiver = make_user("ประเสริฐ มั่นคง", username="receiver")
    reporter = make_user("เอกชัย ศรีสุข", username="reporter", status=REPORTER)
    other_reporter = make_user("แก้วตา ใจงาม", username="other", status=REPORTER)
    staff = make_user("วิไลวรรณ ทองดี", username="staff")
    indicator = make_indicator(receiver=receiver, reporters=[reporter])
    make_indicator("9.9", "ตัวชี้วัดของคนอื่น", receiver=officer, reporters=[other_reporter])

    class World:
        pass

    w = World()
    w.officer, w.receiver, w.reporter, w.other_reporter, w.staff = (
        officer,
        receiver,
        reporter,
        other_reporter,
        staff,
    )
    w.indicator = indicator
    return w


@contextmanager
def count_queries(engine):
    """Count SQL statements issued inside the block (the N+1 guard)."""
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "BEGIN", "PRAGMA")):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


CHROMIUM = "/usr/bin/chromium"
# The machine's network is closed: without these Chromium keeps dialling out (and failing).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing (Debian: apt-get install chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright  # only the browser tests need it

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def php():
    """The real PHP CLI; CI installs it, so there a missing php is a failure, not a skip."""
    path = shutil.which("php")
    if path is None:
        if IN_CI:
            pytest.fail("php is not installed (.ci/run installs it)")
        pytest.skip("php CLI is not installed")
    return path
