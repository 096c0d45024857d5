"""backup and restore: a round trip loses nothing, even taken while uploads run; bad archives
and non-empty instances are refused before anything is written."""

import hashlib
import io
import json
import os
import random
import tarfile
import threading
import time

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

import backup
from app import create_app
from extensions import db, storage
from models import REPORTER, Download, User
from tests import figures
from tests.conftest import Browser, base_config
from tests.samples import MINIMAL_PDF


@pytest.fixture
def empty_database(migrated, tmp_path):
    """A second, empty database on the same server (a file beside the first on SQLite)."""
    url = make_url(migrated)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored.sqlite3'}"
        return
    name = f"{url.database}_restore"
    server = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    backend = url.get_backend_name()

    def drop():
        with server.connect() as conn:
            force = " WITH (FORCE)" if backend == "postgresql" else ""
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}{force}"))

    drop()
    with server.connect() as conn:
        if backend == "postgresql":
            conn.execute(text(f"CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0"))
        else:
            conn.execute(
                text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            )
    yield url.set(database=name).render_as_string(hide_password=False)
    drop()
    server.dispose()


@pytest.fixture
def second_instance(empty_database, tmp_path):
    """Another installation: its own empty database and upload folder, nothing run on it."""
    app = create_app(base_config(empty_database, tmp_path / "restored" / "uploads"))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def run(app, *args):
    """A command of that app, in its own context (never the test's app's)."""
    db.session.commit()  # the test's own reads end first (on SQLite they hold the write lock)
    with app.app_context():
        result = app.test_cli_runner().invoke(args=list(args))
        db.session.remove()
    return result


def pdf(n: int) -> bytes:
    return MINIMAL_PDF + f"% {n} {random.random()}\n".encode()


def all_rows(app) -> dict:
    with app.app_context():
        rows = {
            table.name: [
                dict(r._mapping)
                for r in db.session.execute(table.select().order_by(*table.primary_key.columns))
            ]
            for table in db.metadata.sorted_tables
        }
        db.session.remove()
    return rows


def file_bytes(app, stored_name: str) -> bytes:
    with open(os.path.join(app.config["UPLOAD_DIR"], stored_name), "rb") as f:
        return f.read()


def archive_of(output: str) -> str:
    line = next(line for line in output.splitlines() if line.startswith("สำรองข้อมูลแล้ว: "))
    return line.split(": ", 1)[1]


def archived(path: str) -> tuple[dict, list[dict]]:
    with tarfile.open(path) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        documents = [json.loads(line) for line in tar.extractfile("tables/documents.jsonl")]
    return manifest, documents


def check_documents(source, restored, documents) -> None:
    """Each document file by file: restored bytes are the source's and match the row's SHA-256."""
    lost = 0
    for doc in documents:
        data = file_bytes(restored, doc["stored_name"])
        if data != file_bytes(source, doc["stored_name"]):
            lost += 1
        elif hashlib.sha256(data).hexdigest() != doc["sha256"] or len(data) != doc["size"]:
            lost += 1
    figures.add("documents_checked", len(documents))
    figures.add("documents_lost", lost)
    assert lost == 0


@pytest.fixture
def busy_world(app, world, make_user, make_document):
    """Documents in every state, a revision, downloads, notifications and audit entries."""
    from blueprints.receive.services import return_document, store_document
    from blueprints.send.services import send_revision

    docs = [
        make_document(world.indicator, world.reporter, data=pdf(n), title=f"ฉบับ {n}")
        for n in range(4)
    ]
    store_document(world.receiver, docs[0])
    return_document(world.receiver, docs[1], "ขาดตารางสรุป")
    upload = io.BytesIO(pdf(99))
    from werkzeug.datastructures import FileStorage

    send_revision(storage(), world.reporter, docs[1], "ฉบับแก้ไข", FileStorage(upload, "แก้ไข.pdf"))
    db.session.add(Download(user_id=world.receiver.id, document_id=docs[0].id))
    db.session.commit()
    return world


def test_round_trip_restores_every_row_and_every_file(app, busy_world, second_instance, tmp_path):
    made = run(app, "backup", str(tmp_path))
    assert made.exit_code == 0, made.output
    path = archive_of(made.output)
    assert os.path.dirname(path) == str(tmp_path)
    assert os.path.basename(path).startswith("reports-backup-") and path.endswith(".tar")
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"  # password hashes and documents
    manifest, documents = archived(path)
    assert manifest["format"] == "myoffice-reports-backup" and manifest["version"] == 1
    assert manifest["tables"]["documents"]["rows"] == len(documents) == 5
    assert {d["stored_name"] for d in documents} == set(manifest["files"])
    assert any(d["replaces_id"] for d in documents)

    restored = run(second_instance, "restore", path)
    assert restored.exit_code == 0, restored.output
    assert all_rows(second_instance) == all_rows(app)
    check_documents(app, second_instance, documents)
    checked = run(second_instance, "verify-files")
    assert checked.exit_code == 0, checked.output

    # New rows continue after the restored ids (PostgreSQL's sequences were moved on).
    with second_instance.app_context():
        from blueprints.auth.services import create_user

        newcomer = create_user("newcomer", "คนใหม่", "", "รหัสผ่าน-ยาวพอ")
        db.session.commit()
        assert newcomer.id > max(u["id"] for u in all_rows(app)["users"])
        db.session.remove()
    reporter = Browser(second_instance)
    assert reporter.login(busy_world.reporter.username).status_code == 302


def test_round_trip_taken_while_uploads_run(
    app, world, make_user, make_indicator, make_document, second_instance, tmp_path, monkeypatch
):
    reporters = [make_user(status=REPORTER) for _ in range(3)]
    indicator = make_indicator("2.1", reporters=reporters)
    for n in range(3):
        make_document(indicator, reporters[0], data=pdf(n))
    indicator_id, usernames = indicator.id, [u.username for u in reporters]
    db.session.commit()  # on SQLite the test's reads would hold the write lock
    stop = threading.Event()
    sent, errors = [], []
    started = threading.Barrier(len(reporters) + 1, timeout=60)

    def keep_uploading(username):
        browser = Browser(app)
        browser.login(username)
        target = type("Target", (), {"id": indicator_id})
        started.wait()
        n = 0
        while not stop.is_set() or n < 3:
            n += 1
            response = browser.upload(target, title=f"{username} {n}", content=pdf(n))
            (sent if response.status_code == 302 else errors).append(response.status_code)

    threads = [threading.Thread(target=keep_uploading, args=(name,)) for name in usernames]
    for t in threads:
        t.start()
    started.wait()
    for _ in range(1200):
        if len(sent) >= 6 or errors:
            break
        threading.Event().wait(0.05)
    copy_files = backup._add_files
    during = {}

    def once_an_upload_lands_after_the_snapshot(tar, files, documents):
        # Between the snapshot and the file copy: hold the backup until a document the
        # snapshot does not have has committed and an upload has answered since the backup
        # began, so the overlap is certain, not lucky.
        snapshot = {doc.id for doc in documents}
        for _ in range(1200):
            with db.engine.connect() as conn:
                ids = set(conn.scalars(text("SELECT id FROM documents")))
            if (ids - snapshot and len(sent) > sent_before) or errors:
                break
            threading.Event().wait(0.05)
        during["committed"] = ids - snapshot
        return copy_files(tar, files, documents)

    monkeypatch.setattr(backup, "_add_files", once_an_upload_lands_after_the_snapshot)
    with db.engine.connect() as conn:  # what was committed before the backup began
        before = {
            row.id: row.sha256 for row in conn.execute(text("SELECT id, sha256 FROM documents"))
        }
    sent_before = len(sent)
    try:
        made = run(app, "backup", str(tmp_path))
        sent_during = len(sent)
    finally:
        stop.set()
        for t in threads:
            t.join(120)
    assert not errors, errors
    assert made.exit_code == 0, made.output
    assert during["committed"], "no upload committed while the backup ran"
    assert sent_during > sent_before  # and their requests completed while it ran
    path = archive_of(made.output)
    manifest, documents = archived(path)
    in_archive = {d["id"]: d["sha256"] for d in documents}
    assert before.items() <= in_archive.items()  # everything committed before is there
    assert not during["committed"] & in_archive.keys()  # and nothing after its snapshot

    restored = run(second_instance, "restore", path)
    assert restored.exit_code == 0, restored.output
    restored_documents = all_rows(second_instance)["documents"]
    assert [d["id"] for d in restored_documents] == sorted(in_archive)
    check_documents(app, second_instance, documents)
    checked = run(second_instance, "verify-files")
    assert checked.exit_code == 0, checked.output
    assert f"ถูกต้อง {len(documents)} ไฟล์" in checked.output


def test_a_document_deleted_after_the_snapshot_keeps_its_file_in_the_archive(
    app, world, make_document, login_as, second_instance, tmp_path, monkeypatch
):
    doomed = make_document(world.indicator, world.reporter, data=pdf(1))
    kept = make_document(world.indicator, world.reporter, data=pdf(2))
    doomed_id, doomed_name, doomed_bytes = (
        doomed.id,
        doomed.stored_name,
        file_bytes(app, doomed.stored_name),
    )
    reporter = login_as(world.reporter)
    root = storage().root
    snapshot = backup._snapshot

    def then_deleted(*args):
        taken = snapshot(*args)
        # The row is in the snapshot; the reporter deletes it before its file is copied.
        response = reporter.post("send.delete", document_id=doomed_id)
        assert response.status_code == 302
        assert not os.path.exists(os.path.join(root, doomed_name))
        assert os.path.exists(os.path.join(root, ".trash", doomed_name))
        return taken

    monkeypatch.setattr(backup, "_snapshot", then_deleted)
    made = run(app, "backup", str(tmp_path / "nightly.tar"))
    assert made.exit_code == 0, made.output
    assert os.listdir(os.path.join(root, ".trash")) == []  # emptied once the backup is done

    _manifest, documents = archived(str(tmp_path / "nightly.tar"))
    assert {d["id"] for d in documents} == {doomed_id, kept.id}
    restored = run(second_instance, "restore", str(tmp_path / "nightly.tar"))
    assert restored.exit_code == 0, restored.output
    assert file_bytes(second_instance, doomed_name) == doomed_bytes
    figures.add("documents_checked", 2)
    figures.add("documents_lost", 0)

    # With no backup running a deletion deletes: nothing lingers in .trash/.
    monkeypatch.undo()
    response = reporter.post("send.delete", document_id=kept.id)
    assert response.status_code == 302
    assert os.listdir(os.path.join(root, ".trash")) == []


def test_a_file_gone_for_good_fails_the_backup_loudly(app, world, make_document, tmp_path):
    make_document(world.indicator, world.reporter, data=pdf(1))
    lost = make_document(world.indicator, world.reporter, data=pdf(2))
    os.unlink(storage().path(lost.stored_name))
    made = run(app, "backup", str(tmp_path))
    assert made.exit_code != 0
    assert f"ไม่พบไฟล์: เอกสาร #{lost.id}" in made.output and "verify-files" in made.output
    leftovers = [n for n in os.listdir(tmp_path) if n.endswith(".tar") or n.startswith(".")]
    assert leftovers == []


def test_a_killed_backups_partial_is_removed_by_a_later_backup(
    app, world, make_document, tmp_path, monkeypatch
):
    """Left full-size by a SIGKILL, where `find -name 'reports-backup-*.tar'` never looks."""
    make_document(world.indicator, world.reporter, data=pdf(1))
    dest = tmp_path / "backups"
    dest.mkdir()

    def planted(name, age):
        path = dest / name
        path.write_bytes(b"\0" * 4096)
        then = time.time() - age
        os.utime(path, (then, then))
        return path

    killed = planted(".reports-backup-k1ll3d", 25 * 3600)
    running = planted(".reports-backup-runn1ng", 3600)  # another backup, still writing
    someone_elses = planted(".reports-something", 30 * 86400)
    (dest / ".reports-backup-dir").mkdir()
    os.utime(dest / ".reports-backup-dir", (0, 0))
    made = run(app, "backup", str(dest))
    assert made.exit_code == 0, made.output
    assert not killed.exists()
    assert running.exists() and someone_elses.exists() and (dest / ".reports-backup-dir").is_dir()

    # A backup that fails after writing part of its archive removes its own partial at once.
    copy_files = backup._add_files

    def then_the_disk_fills(tar, files, documents):
        copy_files(tar, files, documents)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(backup, "_add_files", then_the_disk_fills)
    failed = run(app, "backup", str(dest))
    assert failed.exit_code != 0 and isinstance(failed.exception, OSError)
    assert sorted(n for n in os.listdir(dest) if n.startswith(".")) == [
        ".reports-backup-dir",
        ".reports-backup-runn1ng",
        ".reports-something",
    ]
    assert len([n for n in os.listdir(dest) if n.endswith(".tar")]) == 1


def test_backup_never_overwrites_a_file(app, world, make_document, tmp_path):
    make_document(world.indicator, world.reporter)
    target = tmp_path / "backup.tar"
    assert run(app, "backup", str(target)).exit_code == 0
    before = target.read_bytes()
    again = run(app, "backup", str(target))
    assert again.exit_code != 0 and "อยู่แล้ว" in again.output
    assert target.read_bytes() == before
    assert sorted(n for n in os.listdir(tmp_path) if n.startswith(".")) == []
    inside = run(app, "backup", storage().root)
    assert inside.exit_code != 0 and "โฟลเดอร์ไฟล์เอกสาร" in inside.output


def rewrite(path: str, out: str, change) -> str:
    """A copy of the archive with one member changed (or added) by `change`."""
    with tarfile.open(path) as tar, tarfile.open(out, "w") as copy:
        for member in tar.getmembers():
            data = tar.extractfile(member).read()
            member, data = change(member, data)
            if member is not None:
                copy.addfile(member, io.BytesIO(data))
        extra = change(None, None)
        if extra[0] is not None:
            copy.addfile(*extra)
    return out


def altered_file(member, data):
    if member is not None and member.name.startswith("files/"):
        return member, bytes([data[0] ^ 1]) + data[1:]
    return member, data


def altered_row(member, data):
    if member is not None and member.name == "tables/documents.jsonl":
        return member, data.replace("ฉบับ".encode(), "ฉบัย".encode(), 1)
    return member, data


def misshapen_manifest(member, data):
    if member is not None and member.name == "manifest.json":
        manifest = json.loads(data)
        manifest["files"] = {name: "not an entry" for name in manifest["files"]}
        data = json.dumps(manifest).encode()
        member.size = len(data)
    return member, data


def added(name, kind=tarfile.REGTYPE, linkname=""):
    def change(member, data):
        if member is None:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, linkname
            payload = b"" if kind != tarfile.REGTYPE else b"evil"
            info.size = len(payload)
            return info, io.BytesIO(payload)
        return member, data

    return change


def test_a_tampered_or_hostile_archive_is_refused_before_anything_is_written(
    app, world, make_document, second_instance, tmp_path
):
    make_document(world.indicator, world.reporter, data=pdf(1), title="ฉบับ 1")
    made = run(app, "backup", str(tmp_path / "good.tar"))
    assert made.exit_code == 0, made.output
    good = str(tmp_path / "good.tar")
    evil_dir = tmp_path / "evil-target"
    cases = {
        "altered file": altered_file,
        "altered row": altered_row,
        "parent path": added("../evil.pdf"),
        "deep parent path": added("files/../../evil.pdf"),
        "absolute path": added(str(evil_dir / "evil.pdf")),
        "symlink": added("files/" + "e" * 32 + ".pdf", tarfile.SYMTYPE, "/etc/passwd"),
        "unknown member": added("tables/evil.jsonl"),
        "manifest of another shape": misshapen_manifest,
    }
    for case, change in cases.items():
        bad = rewrite(good, str(tmp_path / f"{case}.tar"), change)
        refused = run(second_instance, "restore", bad)
        assert refused.exit_code != 0, case
        assert "ไฟล์สำรอง" in refused.output, (case, refused.output)
    with open(tmp_path / "garbage.tar", "wb") as f:
        f.write(b"not a tar at all" * 100)
    assert run(second_instance, "restore", str(tmp_path / "garbage.tar")).exit_code != 0
    with open(good, "rb") as f, open(tmp_path / "cut.tar", "wb") as cut:
        cut.write(f.read()[: os.path.getsize(good) // 2])
    refused = run(second_instance, "restore", str(tmp_path / "cut.tar"))
    assert refused.exit_code != 0 and "ไฟล์สำรอง" in refused.output, refused.output

    uploads = second_instance.config["UPLOAD_DIR"]
    assert [n for n in os.listdir(uploads) if not n.startswith(".")] == []
    assert os.listdir(os.path.join(uploads, ".incoming")) == []
    assert not evil_dir.exists()
    for folder, _dirs, names in os.walk(tmp_path.parent):
        assert "evil.pdf" not in names, folder
    with second_instance.app_context():
        assert inspect(db.engine).get_table_names() == []  # not even the schema
        db.engine.dispose()

    restored = run(second_instance, "restore", good)  # and the good one still restores
    assert restored.exit_code == 0, restored.output


def test_restore_into_an_instance_in_use_is_refused_and_changes_nothing(
    app, busy_world, second_instance, tmp_path
):
    made = run(app, "backup", str(tmp_path))
    path = archive_of(made.output)
    rows_before = all_rows(app)
    files_before = sorted(os.listdir(storage().root))
    db.session.commit()
    refused = run(app, "restore", path)
    assert refused.exit_code != 0
    assert "มีข้อมูลอยู่แล้ว" in refused.output
    assert all_rows(app) == rows_before
    assert sorted(os.listdir(storage().root)) == files_before

    # An empty database but an upload folder with files in it: refused too.
    uploads = second_instance.config["UPLOAD_DIR"]
    with open(os.path.join(uploads, "left-over.pdf"), "wb") as f:
        f.write(b"%PDF-1.4")
    refused = run(second_instance, "restore", path)
    assert refused.exit_code != 0 and "โฟลเดอร์ไฟล์" in refused.output
    assert sorted(os.listdir(uploads)) == [".incoming", "left-over.pdf"]
    with second_instance.app_context():
        tables = set(inspect(db.engine).get_table_names())
        db.engine.dispose()
    assert not tables & {t.name for t in db.metadata.sorted_tables}


def test_restore_refuses_an_archive_of_another_schema_revision(
    app, world, second_instance, tmp_path
):
    made = run(app, "backup", str(tmp_path / "b.tar"))
    assert made.exit_code == 0, made.output

    def older(member, data):
        if member is not None and member.name == "manifest.json":
            manifest = json.loads(data)
            manifest["revision"] = "0001"
            data = json.dumps(manifest).encode()
            member.size = len(data)
        return member, data

    bad = rewrite(str(tmp_path / "b.tar"), str(tmp_path / "old.tar"), older)
    refused = run(second_instance, "restore", bad)
    assert refused.exit_code != 0 and "รุ่นเดียวกับที่สำรอง" in refused.output


def test_users_survive_with_their_passwords(app, world, second_instance, tmp_path):
    """Hashes are copied as they are: the same people log in with the same passwords."""
    made = run(app, "backup", str(tmp_path / "u.tar"))
    assert run(second_instance, "restore", str(tmp_path / "u.tar")).exit_code == 0, made.output
    with second_instance.app_context():
        names = sorted(db.session.scalars(db.select(User.username)))
        db.session.remove()
    assert names == sorted(u["username"] for u in all_rows(app)["users"])


def test_the_archive_is_one_moment_even_when_writes_land_mid_snapshot(
    app, world, make_document, login_as, tmp_path, monkeypatch
):
    """A document sent while the tables are being read is in none of them, or in all."""
    make_document(world.indicator, world.reporter, data=pdf(1))
    reporter = login_as(world.reporter)
    # Not the test's own object: loading it would open a transaction (SQLite: the write lock).
    target = type("Target", (), {"id": world.indicator.id})
    db.session.commit()
    dump = backup._dump
    landed = []

    def with_an_upload_between(conn, table):
        dumped = dump(conn, table)
        if table.name == "users":  # read first; documents, audit and notifications come later
            landed.append(reporter.upload(target, content=pdf(2)).status_code)
        return dumped

    monkeypatch.setattr(backup, "_dump", with_an_upload_between)
    made = run(app, "backup", str(tmp_path / "moment.tar"))
    assert made.exit_code == 0, made.output
    assert landed == [302]
    with tarfile.open(tmp_path / "moment.tar") as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        audit = [json.loads(line) for line in tar.extractfile("tables/audit_entries.jsonl")]
    assert manifest["tables"]["documents"]["rows"] == 1
    assert [a["action"] for a in audit].count("document_sent") == 1
    assert len(manifest["files"]) == 1
    with db.engine.connect() as conn:  # and the upload itself did commit
        assert conn.scalar(text("SELECT COUNT(*) FROM documents")) == 2


def test_a_killed_backup_leaves_no_lock_behind(tmp_path):
    """The hold is a lock the kernel drops with the process: SIGKILL leaves nothing to clean."""
    import signal
    import subprocess
    import sys

    from storage import Storage

    store = Storage(str(tmp_path / "uploads"), 1 << 20)
    first = store.save(io.BytesIO(pdf(1)), "a.pdf").stored_name
    second = store.save(io.BytesIO(pdf(2)), "b.pdf").stored_name
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from storage import Storage\n"
            f"with Storage({store.root!r}, 1).hold():\n"
            "    print('held', flush=True); time.sleep(600)",
        ],
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        store.delete(first)  # a backup is running: parked
        assert os.listdir(store.trash) == [first]
        assert store.empty_trash() == 0
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
    store.delete(second)  # nobody holds the folder any more: deleted outright
    assert os.listdir(store.trash) == [first]
    assert store.empty_trash() == 1
    assert os.listdir(store.trash) == [] and sorted(os.listdir(store.root)) == [
        ".incoming",
        ".trash",
    ]
