"""Faults injected for real: a full disk, a database connection killed, a worker killed.

Each fault leaves no row without its file, no file without its row, nothing half-written
where documents live, a clear Thai message for the person who was sending, and a module
that serves the next request. Documents stored before a fault are checked byte for byte.

- Disk full: a 2 MB tmpfs mounted as the upload folder (needs root; CI runs as root).
- Database connection dropped: PostgreSQL's pg_terminate_backend and MariaDB's KILL from a
  second connection, in the middle of an upload's transaction. These run on their own
  database on each server (reports_faults), whatever REPORTS_TEST_DATABASE_URL says, so all
  three CI runs exercise both.
- Worker killed: gunicorn (deploy/gunicorn.conf.py) on the run's database, SIGKILL to its
  worker while a body arrives and while the file is being written; then verify-files.
"""

import contextlib
import hashlib
import io
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.pool import NullPool
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from app import create_app
from extensions import db, storage
from models import Document
from tests import figures
from tests.conftest import IN_CI, PASSWORD, Browser, base_config, wipe_audit_entries
from tests.samples import sample_bytes
from tests.stack import free_port, read, wait_for

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "/myoffice/reports"
DISK_FULL_MESSAGE = "พื้นที่จัดเก็บไฟล์ของระบบเต็ม"
DATABASE_DOWN_MESSAGE = "ฐานข้อมูลขัดข้องชั่วคราว"


def files_in(folder) -> list[str]:
    """Every file under the upload folder, .incoming/ included, as relative paths."""
    return sorted(
        os.path.relpath(os.path.join(root, name), folder)
        for root, _dirs, names in os.walk(folder)
        for name in names
    )


def stored_files(folder) -> list[str]:
    """The documents' own files: the root's entries, our dot-folders left out."""
    return sorted(
        name
        for name in os.listdir(folder)
        if not name.startswith(".") and os.path.isfile(os.path.join(folder, name))
    )


def big_pdf(size: int) -> bytes:
    """A file the type check accepts, of `size` bytes that no filesystem can compress."""
    head = b"%PDF-1.4\n%"
    return head + os.urandom(size - len(head))


def check_documents_intact(folder, expected: dict[str, str]) -> None:
    """Every document stored before the fault still has its row and its exact bytes."""
    rows = {d.stored_name: d.sha256 for d in db.session.scalars(select(Document))}
    db.session.commit()  # on SQLite, a read here holds the write lock until the commit
    lost = 0
    for stored_name, sha256 in expected.items():
        path = os.path.join(folder, stored_name)
        if rows.get(stored_name) != sha256 or not os.path.isfile(path):
            lost += 1
            continue
        with open(path, "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() != sha256:
                lost += 1
    figures.add("documents_checked", len(expected))
    figures.add("documents_lost", lost)
    assert lost == 0


def document_count() -> int:
    count = db.session.scalar(select(func.count(Document.id)))
    db.session.commit()
    return count


def needs_root(what: str) -> None:
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail(f"{what} needs root, and CI runs as root")
        pytest.skip(f"{what} needs root (mount); CI runs it")


# --- disk full --------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs: a real filesystem that really fills up (ENOSPC from the kernel)."""
    needs_root("a full disk (a 2 MB tmpfs)")
    folder = tmp_path / "small-disk"
    folder.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(folder)],
        check=True,
        capture_output=True,
    )
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)


@pytest.fixture
def full_disk_app(make_app, world, small_disk):
    from blueprints.years.services import bootstrap_current_year

    # What the test needs from the world, read now: on SQLite a read in the world's session
    # (outside a request) takes the write lock, which the other app's requests would wait on.
    app = make_app(UPLOAD_DIR=str(small_disk))
    app.reporter = world.reporter.username
    app.indicator = SimpleNamespace(id=world.indicator.id)
    db.session.commit()
    with app.app_context():
        bootstrap_current_year()
        db.session.commit()
        yield app


def free_bytes(folder) -> int:
    info = os.statvfs(folder)
    return info.f_bavail * info.f_frsize


def test_disk_full_during_an_upload(full_disk_app, small_disk):
    indicator = full_disk_app.indicator
    reporter = Browser(full_disk_app)
    assert reporter.login(full_disk_app.reporter).status_code == 302
    for n in range(3):  # documents that were there before the disk filled up
        response = reporter.upload(indicator, title=f"ก่อนดิสก์เต็ม {n}")
        assert response.status_code == 302, response.get_data(as_text=True)
    kept = {d.stored_name: d.sha256 for d in db.session.scalars(select(Document))}
    db.session.commit()
    before = files_in(small_disk)
    too_big = big_pdf(free_bytes(small_disk) + 512 * 1024)

    figures.add("faults_injected")
    response = reporter.upload(indicator, title="ไฟล์ใหญ่เกินพื้นที่", content=too_big)
    page = response.get_data(as_text=True)
    assert response.status_code == 507, page
    assert DISK_FULL_MESSAGE in page and "แจ้งผู้ดูแลระบบ" in page
    assert "ระบบขัดข้อง" not in page  # the disk, said plainly, not a generic failure
    assert document_count() == 3
    assert files_in(small_disk) == before  # no partial file, in the root or .incoming
    check_documents_intact(small_disk, kept)

    # Several files at once: the one that does not fit is refused with the same words, the
    # small one after it is stored (the partial file's space was given back).
    figures.add("faults_injected")
    response = reporter.open(
        reporter.url("send.attach", indicator_id=indicator.id),
        method="POST",
        headers={"Accept": "application/json"},
        data={
            "csrf_token": reporter.csrf_token(),
            "round_months": "6",
            "title": ["ใหญ่เกินพื้นที่", "ไฟล์เล็ก"],
            "file": [
                (io.BytesIO(too_big), "ใหญ่.pdf"),
                (io.BytesIO(sample_bytes("pdf")), "เล็ก.pdf"),
            ],
        },
    )
    answer = response.get_json()
    assert response.status_code == 200, answer
    assert [a["name"] for a in answer["accepted"]] == ["เล็ก.pdf"]
    assert [r["name"] for r in answer["refused"]] == ["ใหญ่.pdf"]
    assert DISK_FULL_MESSAGE in answer["refused"][0]["reason"]
    assert document_count() == 4
    assert os.listdir(small_disk / ".incoming") == []
    assert len(stored_files(small_disk)) == 4
    check_documents_intact(small_disk, kept)

    # Nothing else broke: the pages still open, and once space is freed uploads work again.
    assert reporter.get("send.index").status_code == 200


@pytest.fixture
def small_temp_folder(tmp_path, monkeypatch):
    """The temporary folder (systemd's PrivateTmp, usually the uploads' disk) on a 1 MB tmpfs."""
    needs_root("a full temporary folder (a 1 MB tmpfs)")
    folder = tmp_path / "small-tmp"
    folder.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(folder)],
        check=True,
        capture_output=True,
    )
    # Where Werkzeug spools a request body beyond 500 KB, before any view (or CSRF) runs.
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    try:
        yield folder
    finally:
        monkeypatch.undo()
        subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)


@pytest.mark.parametrize("streamed", [True, False], ids=["into-uploads", "werkzeug-spool"])
def test_disk_full_while_the_request_body_arrives(
    app, world, login_as, small_temp_folder, monkeypatch, streamed
):
    """A file part streams into the upload folder's .incoming/ (storage.Spool), so a full
    TMPDIR no longer matters; where it cannot (no O_TMPFILE), Werkzeug spools it to TMPDIR,
    and that disk filling up is a 507 with nothing left behind."""
    import storage as storage_module

    if not streamed:
        monkeypatch.setattr(storage_module, "_TMPFILE", 0)
    reporter = login_as(world.reporter)
    before = reporter.upload(world.indicator, title="ก่อนดิสก์เต็ม")
    assert before.status_code == 302
    kept = {d.stored_name: d.sha256 for d in db.session.scalars(select(Document))}
    db.session.commit()

    # Encoded in memory: the test client would otherwise spool it to the same full folder.
    boundary, body = encode_multipart(
        {
            "csrf_token": reporter.csrf_token(),
            "round_months": "6",
            "title": "ไฟล์ใหญ่",
            "file": FileStorage(io.BytesIO(big_pdf(2 * 1024 * 1024)), "ใหญ่.pdf"),
        }
    )
    figures.add("faults_injected")
    response = reporter.open(
        reporter.url("send.attach", indicator_id=world.indicator.id),
        method="POST",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    page = response.get_data(as_text=True)
    if streamed:
        assert response.status_code == 302, page
        assert document_count() == 2
    else:
        assert response.status_code == 507, page
        assert DISK_FULL_MESSAGE in page and "แจ้งผู้ดูแลระบบ" in page
        assert "ระบบขัดข้อง" not in page
        assert document_count() == 1
    assert os.listdir(small_temp_folder) == []  # the spooled part was given back
    upload_dir = app.config["UPLOAD_DIR"]
    assert os.listdir(os.path.join(upload_dir, ".incoming")) == []
    check_documents_intact(upload_dir, kept)
    assert reporter.get("send.index").status_code == 200


# --- the database connection dropped mid-request ----------------------------------------------

SERVERS = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/",
}
# One per test run: two runs at once (two developers on one server) must not drop each
# other's database mid-test.
FAULTS_DATABASE = f"reports_faults_{os.getpid()}"


def server_engine(server: str):
    return create_engine(
        SERVERS[server] + ("postgres" if server == "postgresql" else ""),
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT",
    )


@pytest.fixture(scope="session", params=sorted(SERVERS))
def faults_database(request, migrated, tmp_path_factory):
    """A database of our own on the server, built by the real migrations."""
    from flask_migrate import upgrade

    server = request.param
    engine = server_engine(server)
    try:
        with engine.connect() as conn:
            if server == "postgresql":
                conn.execute(text(f"DROP DATABASE IF EXISTS {FAULTS_DATABASE} WITH (FORCE)"))
                conn.execute(
                    text(f"CREATE DATABASE {FAULTS_DATABASE} ENCODING 'UTF8' TEMPLATE template0")
                )
            else:
                conn.execute(text(f"DROP DATABASE IF EXISTS {FAULTS_DATABASE}"))
                conn.execute(
                    text(
                        f"CREATE DATABASE {FAULTS_DATABASE} "
                        "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                    )
                )
    except Exception as error:  # any driver's "cannot connect"
        if IN_CI:
            raise
        pytest.skip(f"{server} at {SERVERS[server]} is not reachable: {error}")
    finally:
        engine.dispose()
    url = SERVERS[server] + FAULTS_DATABASE
    if server == "mariadb":
        url += "?charset=utf8mb4"
    app = create_app(base_config(url, tmp_path_factory.mktemp("faults-migrate")))
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        db.engine.dispose()
    yield server, url
    engine = server_engine(server)
    with engine.connect() as conn:
        force = " WITH (FORCE)" if server == "postgresql" else ""
        conn.execute(text(f"DROP DATABASE IF EXISTS {FAULTS_DATABASE}{force}"))
    engine.dispose()


@pytest.fixture
def server_app(faults_database, app, tmp_path):
    """The app on that database, its year open; rows wiped afterwards (as make_app does)."""
    from blueprints.years.services import bootstrap_current_year

    server, url = faults_database
    server_app = create_app(base_config(url, tmp_path / "server-uploads"))
    server_app.config["PROPAGATE_EXCEPTIONS"] = False  # the error pages, as staff see them
    server_app.fault_server = server
    with server_app.app_context():
        bootstrap_current_year()
        yield server_app
        db.session.rollback()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                if table.name == "audit_entries":
                    wipe_audit_entries(conn)
                    continue
                if table.name == "documents":
                    conn.execute(text("UPDATE documents SET replaces_id = NULL"))
                conn.execute(table.delete())
        db.engine.dispose()


def backend_id(dbapi_connection, server: str) -> int:
    """The server's id for this connection: pg_backend_pid(), or MariaDB's CONNECTION_ID()."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(
            "SELECT pg_backend_pid()" if server == "postgresql" else "SELECT CONNECTION_ID()"
        )
        return int(cursor.fetchone()[0])
    finally:
        cursor.close()


def kill_backend(server: str, backend: int) -> None:
    """From a second connection, as an administrator or a restarting server would."""
    engine = server_engine(server)
    try:
        with engine.connect() as conn:
            if server == "postgresql":
                assert conn.scalar(text("SELECT pg_terminate_backend(:p)"), {"p": backend})
                alive = "SELECT count(*) FROM pg_stat_activity WHERE pid = :p"
            else:
                conn.execute(text(f"KILL CONNECTION {int(backend)}"))
                alive = "SELECT count(*) FROM information_schema.processlist WHERE id = :p"
            deadline = time.monotonic() + 10
            while conn.scalar(text(alive), {"p": backend}) and time.monotonic() < deadline:
                time.sleep(0.02)
    finally:
        engine.dispose()


@contextlib.contextmanager
def connection_killed_at(engine, server: str, moment: str):
    """Kill the connection of the first statement that writes a document row, or the commit
    (and then, for "commit, then the check", the connection asking whether it landed)."""
    killed = []

    def before_insert(conn, _cursor, statement, *_args):
        if not killed and statement.lstrip().upper().startswith("INSERT INTO DOCUMENTS"):
            killed.append(backend_id(conn.connection.dbapi_connection, server))
            kill_backend(server, killed[-1])

    def before_commit(conn):
        inserted = conn.info.get("document_inserted")
        if not killed and inserted:
            killed.append(backend_id(conn.connection.dbapi_connection, server))
            kill_backend(server, killed[-1])

    def note_insert(conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("INSERT INTO DOCUMENTS"):
            conn.info["document_inserted"] = True

    def before_check(conn, _cursor, statement, *_args):
        # The service's "did the commit land anyway?" question, after the first kill.
        words = " ".join(statement.split()).upper()
        if len(killed) == 1 and words.startswith("SELECT DOCUMENTS.ID FROM DOCUMENTS WHERE"):
            killed.append(backend_id(conn.connection.dbapi_connection, server))
            kill_backend(server, killed[-1])

    if moment == "insert":
        listeners = [("before_cursor_execute", before_insert)]
    else:
        listeners = [("after_cursor_execute", note_insert), ("commit", before_commit)]
    if moment == "commit, then the check":
        listeners.append(("before_cursor_execute", before_check))
    for name, listener in listeners:
        event.listen(engine, name, listener)
    try:
        yield killed
    finally:
        for name, listener in listeners:
            event.remove(engine, name, listener)


@pytest.mark.parametrize("moment", ["insert", "commit", "commit, then the check"])
def test_database_connection_killed_during_an_upload(server_app, make_user, make_indicator, moment):
    from models import REPORTER

    server = server_app.fault_server
    reporter_user = make_user("สมหญิง รักงาน", username="faults-reporter", status=REPORTER)
    indicator = make_indicator("3.1.1", reporters=[reporter_user])
    reporter = Browser(server_app)
    assert reporter.login(reporter_user.username, PASSWORD).status_code == 302
    for n in range(2):
        response = reporter.upload(indicator, title=f"ก่อนตัดการเชื่อมต่อ {n}")
        assert response.status_code == 302, response.get_data(as_text=True)
    kept = {d.stored_name: d.sha256 for d in db.session.scalars(select(Document))}
    db.session.commit()
    folder = storage().root
    before = files_in(folder)

    with connection_killed_at(db.engine, server, moment) as killed:
        response = reporter.upload(indicator, title="ส่งระหว่างฐานข้อมูลขัดข้อง")
    page = response.get_data(as_text=True)
    assert len(killed) == (2 if moment == "commit, then the check" else 1), page[-3000:]
    figures.add("faults_injected", len(killed))
    assert response.status_code == 503, page
    assert DATABASE_DOWN_MESSAGE in page and "ยังไม่ได้บันทึก" in page
    assert document_count() == 2
    if moment == "commit, then the check":
        # Whether the commit landed could not be told: the file stays, an orphan for
        # verify-files to report, rather than risking a row without its file.
        assert len(stored_files(folder)) == 3
        assert os.listdir(os.path.join(folder, ".incoming")) == []
    else:
        assert files_in(folder) == before  # the file written before the row was removed
    check_documents_intact(folder, kept)

    # The next requests get a live connection: the page, and an upload that is stored.
    assert reporter.get("send.index").status_code == 200
    response = reporter.upload(indicator, title="ส่งใหม่หลังฐานข้อมูลกลับมา")
    assert response.status_code == 302, response.get_data(as_text=True)
    assert document_count() == 3
    assert len(stored_files(folder)) == (4 if moment == "commit, then the check" else 3)


# --- a worker killed mid-upload ---------------------------------------------------------------


class Gunicorn:
    """deploy/gunicorn.conf.py with one worker, on the run's database and an upload folder."""

    def __init__(self, base: Path, database_url: str, uploads: Path):
        self.base = base
        self.port = free_port()
        self.log = base / "gunicorn.log"
        self.uploads = uploads
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("REPORTS_")},
            "REPORTS_ENV_NAME": "production",
            "REPORTS_SECRET_KEY": "faults-test-secret-key",
            "REPORTS_DATABASE_URL": database_url,
            "REPORTS_UPLOAD_DIR": str(uploads),
            "REPORTS_BIND": f"127.0.0.1:{self.port}",
            "REPORTS_WORKERS": "1",
            # A large file keeps the worker writing long enough to be caught at it.
            "REPORTS_MAX_UPLOAD_MB": "120",
            # Werkzeug spools the request body here; kept with the test, not in /tmp.
            "TMPDIR": str(base),
        }

    def start(self) -> "Gunicorn":
        gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
        self.process = subprocess.Popen(
            [gunicorn, "--config", str(ROOT / "deploy" / "gunicorn.conf.py")],
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(self.port, self.process, self.log)
        return self

    def workers(self) -> list[int]:
        with open(f"/proc/{self.process.pid}/task/{self.process.pid}/children") as f:
            return [int(pid) for pid in f.read().split()]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{PREFIX}{path}"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture
def server(migrated, app, tmp_path):
    db.session.commit()  # hold no SQLite lock while gunicorn writes
    uploads = tmp_path / "uploads"  # make_app's folder: the app fixture made .incoming
    running = Gunicorn(tmp_path, migrated, uploads).start()
    try:
        yield running
    finally:
        running.stop()


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html)[1]


def logged_in(server: Gunicorn, username: str) -> requests.Session:
    http = requests.Session()
    http.trust_env = False
    form = http.get(server.url("/login"), timeout=20)
    response = http.post(
        server.url("/login"),
        data={"csrf_token": csrf_token(form.text), "username": username, "password": PASSWORD},
        allow_redirects=False,
        timeout=20,
    )
    assert response.status_code == 302, response.text[:500]
    return http


def raw_upload(server: Gunicorn, http: requests.Session, indicator_id: int, content: bytes):
    """A multipart POST on a raw socket: (socket, the body), nothing of the body sent yet."""
    path = f"/send/indicator/{indicator_id}/attach"
    token = csrf_token(http.get(server.url(path), timeout=20).text)
    boundary = "faults" + secrets.token_hex(8)

    def field(name: str, value: str) -> bytes:
        return (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()

    body = (
        field("csrf_token", token)
        + field("round_months", "6")
        + field("title", "ไฟล์ใหญ่ระหว่างเครื่องดับ")
        + (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="report.pdf"\r\nContent-Type: application/pdf\r\n\r\n'
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    cookies = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
    head = (
        f"POST {PREFIX}{path} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\n"
        f"Cookie: {cookies}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    sock.sendall(head)
    return sock, body


def wait_for_worker(server: Gunicorn, old: int) -> None:
    """The arbiter starts a new worker; the module answers again."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        workers = server.workers()
        if workers and old not in workers:
            with contextlib.suppress(requests.RequestException):
                if requests.get(server.url("/login"), timeout=5).status_code == 200:
                    return
        time.sleep(0.1)
    raise AssertionError(f"no new worker answered:\n{read(server.log)}")


def test_worker_killed_mid_upload(server, world):
    uploads = server.uploads
    incoming = uploads / ".incoming"
    username, indicator_id = world.reporter.username, world.indicator.id
    db.session.commit()  # on SQLite, the test's read holds the write lock until here
    http = logged_in(server, username)
    for n in range(2):  # stored before the faults, checked byte for byte after them
        path = f"/send/indicator/{indicator_id}/attach"
        form = http.get(server.url(path), timeout=20)
        response = http.post(
            server.url(path),
            data={"csrf_token": csrf_token(form.text), "round_months": "6", "title": f"ก่อน {n}"},
            files={"file": (f"ก่อน{n}.pdf", sample_bytes("pdf"), "application/pdf")},
            allow_redirects=False,
            timeout=60,
        )
        assert response.status_code == 302, response.text[:500]
    kept = {d.stored_name: d.sha256 for d in db.session.scalars(select(Document))}
    db.session.commit()
    before = stored_files(uploads)
    content = big_pdf(100 * 1024 * 1024)

    # 1. Killed while the body is still arriving: nothing of it anywhere but gone with it.
    sock, body = raw_upload(server, http, indicator_id, content)
    sock.sendall(body[: len(body) // 3])
    time.sleep(0.5)
    assert os.listdir(incoming) == []  # the form is still being read; no file begun
    (worker,) = server.workers()
    os.kill(worker, signal.SIGKILL)
    figures.add("faults_injected")
    sock.close()
    wait_for_worker(server, worker)
    assert document_count() == 2
    assert stored_files(uploads) == before
    assert os.listdir(incoming) == []

    # 2. Killed while the file is being written into .incoming/.
    for _attempt in range(3):
        (worker,) = server.workers()
        sock, body = raw_upload(server, http, indicator_id, content)
        sock.sendall(body)
        caught = None
        deadline = time.monotonic() + 60
        while caught is None and time.monotonic() < deadline:
            leftovers = os.listdir(incoming)
            if leftovers:
                os.kill(worker, signal.SIGKILL)
                caught = leftovers
        sock.close()
        wait_for_worker(server, worker)
        if caught is None:
            raise AssertionError(f"no file appeared in .incoming:\n{read(server.log)}")
        if os.listdir(incoming):
            break
        # The write finished between our look and the kill (a fast disk): that upload was
        # complete and is a document like any other; try again with a new one.
        kept = {d.stored_name: d.sha256 for d in db.session.scalars(select(Document))}
        db.session.commit()
        before = stored_files(uploads)
    else:
        pytest.fail("the worker finished every write before it could be killed")
    figures.add("faults_injected")

    # Nothing half-written is visible: no row, no file where documents live.
    assert document_count() == len(kept)
    assert stored_files(uploads) == before
    (leftover,) = os.listdir(incoming)
    assert os.path.getsize(incoming / leftover) < len(content) + 1
    check_documents_intact(uploads, kept)

    # The module keeps serving, uploads included.
    path = f"/send/indicator/{indicator_id}/attach"
    form = http.get(server.url(path), timeout=20)
    assert form.status_code == 200
    response = http.post(
        server.url(path),
        data={"csrf_token": csrf_token(form.text), "round_months": "6", "title": "หลังเครื่องดับ"},
        files={"file": ("หลัง.pdf", sample_bytes("pdf"), "application/pdf")},
        allow_redirects=False,
        timeout=60,
    )
    assert response.status_code == 302, response.text[:500]
    assert document_count() == len(kept) + 1

    # An hour later the checker reports the leftover, removes it, and finds all else clean.
    old = time.time() - 2 * 3600
    os.utime(incoming / leftover, (old, old))
    flask = os.path.join(os.path.dirname(sys.executable), "flask")
    check = subprocess.run(
        [flask, "--app", "app", "verify-files"],
        cwd=ROOT,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = check.stdout + check.stderr
    assert check.returncode == 0, output
    assert leftover in output
    assert os.listdir(incoming) == []
    assert document_count() == len(kept) + 1
    # Every document checked and good; the leftover is none of them, and nothing else is off.
    total = len(kept) + 1
    assert re.search(rf"ตรวจไฟล์ของเอกสาร {total} รายการ", output), output
    assert re.search(rf"ถูกต้อง {total} ไฟล์", output), output
    assert re.search(r"ไม่พบไฟล์ 0 ไฟล์", output), output
    assert re.search(r"ไม่มีเอกสารอ้างถึง 0 ไฟล์", output), output
    figures.add("documents_checked", total)


@pytest.mark.parametrize("faults_database", ["postgresql"], indirect=True)
def test_database_refusing_connections(server_app, make_user, make_indicator):
    """The server up but the database closed to everyone (a restore, a restart): a plain
    Thai 503, whatever the page needed, and the next request works once it opens again."""
    from models import REPORTER

    reporter_user = make_user("สมหญิง รักงาน", username="faults-reporter", status=REPORTER)
    indicator = make_indicator("3.1.1", reporters=[reporter_user])
    reporter = Browser(server_app)
    assert reporter.login(reporter_user.username, PASSWORD).status_code == 302
    # Asked now: during the outage even the login page (where tokens come from) is a 503.
    token, attach = reporter.csrf_token(), reporter.url("send.attach", indicator_id=indicator.id)
    indicator = SimpleNamespace(id=indicator.id)
    document_count()
    folder = storage().root
    admin = server_engine("postgresql")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"ALTER DATABASE {FAULTS_DATABASE} ALLOW_CONNECTIONS false"))
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
                {"d": FAULTS_DATABASE},
            )
        figures.add("faults_injected")
        page = reporter.get("send.index")
        upload = reporter.open(
            attach,
            method="POST",
            data={
                "csrf_token": token,
                "round_months": "6",
                "title": "ส่งตอนฐานข้อมูลปิด",
                "file": (io.BytesIO(sample_bytes("pdf")), "รายงาน.pdf"),
            },
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"ALTER DATABASE {FAULTS_DATABASE} ALLOW_CONNECTIONS true"))
        admin.dispose()
    for response in (page, upload):
        body = response.get_data(as_text=True)
        assert response.status_code == 503, body
        assert DATABASE_DOWN_MESSAGE in body
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "no-store" in response.headers["Cache-Control"]
    assert "ยังไม่ได้บันทึก" in upload.get_data(as_text=True)
    assert stored_files(folder) == []
    assert reporter.get("send.index").status_code == 200
    assert reporter.upload(indicator).status_code == 302
    assert document_count() == 1
