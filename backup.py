"""backup and restore: every row and every document's file in one tar, checked by SHA-256.

The archive: tables/<table>.jsonl (one JSON object a row, ordered by primary key, the same
on every database), files/<stored name> (each document's bytes), and manifest.json last
(format, revision, rows and SHA-256 per table, SHA-256 and size per file).
"""

import base64
import contextlib
import hashlib
import io
import json
import os
import re
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import upgrade
from sqlalchemy import TypeDecorator, bindparam, create_engine, event, func, inspect, select, text
from sqlalchemy.pool import NullPool

from extensions import db, storage
from storage import _fsync_directory, is_stored_name

FORMAT = "myoffice-reports-backup"
VERSION = 1
MANIFEST = "manifest.json"
_TABLE_MEMBER = re.compile(r"tables/([a-z_]+)\.jsonl")
_FILE_MEMBER = re.compile(r"files/(.+)")
_MANIFEST_LIMIT = 256 * 1024 * 1024
_CHUNK = 1 << 20
_BATCH = 500
_PARTIAL_PREFIX = ".reports-backup-"
# A partial this old is no backup in progress (a night's backup takes minutes to hours): a
# killed run left it, full-size, where the operator's `find -name 'reports-backup-*.tar'`
# never looks.
_PARTIAL_STALE_AFTER = 24 * 3600


class BackupError(Exception):
    """What the operator reads (Thai); the command exits non-zero."""


@dataclass
class Summary:
    path: str
    rows: dict[str, int]
    files: int
    bytes: int


# -- backup ----------------------------------------------------------------------------------


def create(dest: str) -> Summary:
    target = _target(dest)
    _remove_stale_partials(os.path.dirname(target))
    files = storage()
    # The hold comes before the snapshot: a document deleted after the snapshot keeps its
    # file in .trash/ until we are done (Storage.delete).
    with files.hold():
        revision, tables, documents = _snapshot()
        fd, part = tempfile.mkstemp(dir=os.path.dirname(target), prefix=_PARTIAL_PREFIX)
        try:
            with os.fdopen(fd, "wb") as out:
                with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
                    manifest_tables = {}
                    for name, (spool, rows, sha) in tables.items():
                        _add(tar, f"tables/{name}.jsonl", spool)
                        manifest_tables[name] = {"rows": rows, "sha256": sha}
                    manifest_files, size, problems = _add_files(tar, files, documents)
                    if problems:
                        raise BackupError(
                            "สำรองข้อมูลไม่สำเร็จ ไฟล์ของเอกสารเหล่านี้หายหรือไม่ตรงกับที่บันทึกไว้ "
                            "(ตรวจด้วย flask --app app verify-files):\n" + "\n".join(problems)
                        )
                    manifest = {
                        "format": FORMAT,
                        "version": VERSION,
                        "created_at": datetime.now(UTC).isoformat(),
                        "revision": revision,
                        "dialect": db.engine.dialect.name,
                        "tables": manifest_tables,
                        "files": manifest_files,
                    }
                    data = json.dumps(manifest, ensure_ascii=False, indent=1).encode()
                    _add(tar, MANIFEST, io.BytesIO(data))
                out.flush()
                os.fsync(out.fileno())
            if os.path.lexists(target):
                raise BackupError(f"มีไฟล์ {target} อยู่แล้ว ไม่เขียนทับ")
            os.replace(part, target)
            _fsync_directory(os.path.dirname(target))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(part)
            raise
        finally:
            for spool, _rows, _sha in tables.values():
                spool.close()
    counts = {name: rows for name, (_spool, rows, _sha) in tables.items()}
    return Summary(target, counts, len(documents), size)


def _target(dest: str) -> str:
    dest = os.path.realpath(dest)
    root = os.path.realpath(storage().root)
    if dest == root or dest.startswith(root + os.sep):
        # It would be a stray there itself, and in the next backup.
        raise BackupError("ห้ามเก็บไฟล์สำรองไว้ในโฟลเดอร์ไฟล์เอกสาร กรุณาเลือกที่อื่น")
    if os.path.isdir(dest):
        return os.path.join(dest, datetime.now().strftime("reports-backup-%Y%m%d-%H%M%S.tar"))
    if not os.path.isdir(os.path.dirname(dest)):
        raise BackupError(f"ไม่พบโฟลเดอร์ {os.path.dirname(dest)}")
    if os.path.lexists(dest):
        raise BackupError(f"มีไฟล์ {dest} อยู่แล้ว ไม่เขียนทับ")
    return dest


def _remove_stale_partials(folder: str) -> list[str]:
    """Partial archives of killed backups; a failed one removes its own (create())."""
    removed, now = [], datetime.now().timestamp()
    with os.scandir(folder) as it:
        for entry in it:
            if not entry.name.startswith(_PARTIAL_PREFIX):
                continue
            try:
                info = entry.stat(follow_symlinks=False)
                # Only plain files we could have written; a link or folder is someone else's.
                if entry.is_file(follow_symlinks=False) and now - info.st_mtime > (
                    _PARTIAL_STALE_AFTER
                ):
                    os.unlink(entry.path)
                    removed.append(entry.name)
            except OSError:  # gone meanwhile, or not ours to remove: not worth failing a backup
                continue
    return removed


def _snapshot():
    """Every table read in one transaction that sees one moment, whatever commits meanwhile."""
    engine = _snapshot_engine()
    tables = {}
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn = conn.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
            with conn.begin():
                revision = conn.scalar(text("SELECT version_num FROM alembic_version"))
                for table in db.metadata.sorted_tables:
                    tables[table.name] = _dump(conn, table)
                d = db.metadata.tables["documents"].c
                documents = conn.execute(
                    select(d.id, d.stored_name, d.size, d.sha256).order_by(d.id)
                ).all()
    except BaseException:
        for spool, _rows, _sha in tables.values():
            spool.close()
        raise
    finally:
        engine.dispose()
    return revision, tables, documents


def _snapshot_engine():
    """An engine of our own: the app's starts SQLite transactions with a write lock."""
    engine = create_engine(db.engine.url, poolclass=NullPool)
    name = engine.dialect.name
    if name == "sqlite":

        @event.listens_for(engine, "connect")
        def on_connect(dbapi_connection, _record):
            dbapi_connection.isolation_level = None
            dbapi_connection.execute("PRAGMA busy_timeout=10000")

        @event.listens_for(engine, "begin")
        def on_begin(conn):
            # Deferred: in WAL mode the first read fixes what every later read sees, and
            # writers go on working meanwhile.
            conn.exec_driver_sql("BEGIN")

    elif name in ("mysql", "mariadb"):

        @event.listens_for(engine, "begin")
        def on_begin(conn):
            # Plain REPEATABLE READ would start its snapshot at the first read; this starts it
            # now, for all tables at once.
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            conn.exec_driver_sql("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")

    return engine


def _dump(conn, table):
    spool = tempfile.SpooledTemporaryFile(max_size=8 << 20)
    digest, rows = hashlib.sha256(), 0
    result = conn.execution_options(yield_per=1000).execute(
        select(table).order_by(*table.primary_key.columns)
    )
    for row in result:
        line = json.dumps(
            {key: _encode(value) for key, value in row._mapping.items()},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        data = line.encode() + b"\n"
        spool.write(data)
        digest.update(data)
        rows += 1
    spool.seek(0)
    return spool, rows, digest.hexdigest()


def _encode(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _add(tar, name: str, fileobj) -> None:
    fileobj.seek(0, os.SEEK_END)
    info = tarfile.TarInfo(name)
    info.size = fileobj.tell()
    info.mode = 0o600
    info.mtime = int(datetime.now().timestamp())
    fileobj.seek(0)
    tar.addfile(info, fileobj)


def _add_files(tar, files, documents):
    manifest, total, problems = {}, 0, []
    for doc in documents:
        label = f"เอกสาร #{doc.id} ({doc.stored_name})"
        try:
            source = files.open_kept(doc.stored_name)
        except (OSError, ValueError):
            problems.append(f"  ไม่พบไฟล์: {label}")
            continue
        with source:
            size = os.fstat(source.fileno()).st_size
            if size != doc.size:
                problems.append(f"  ขนาดไม่ตรง: {label} {size} ไบต์ ควรเป็น {doc.size} ไบต์")
                continue
            info = tarfile.TarInfo(f"files/{doc.stored_name}")
            info.size, info.mode = size, 0o600
            info.mtime = int(os.fstat(source.fileno()).st_mtime)
            reader = _Hashing(source)
            tar.addfile(info, reader)
        if reader.digest.hexdigest() != doc.sha256:
            problems.append(f"  SHA-256 ไม่ตรง: {label}")
            continue
        manifest[doc.stored_name] = {"sha256": doc.sha256, "size": size}
        total += size
    return manifest, total, problems


class _Hashing:
    def __init__(self, f):
        self.f, self.digest = f, hashlib.sha256()

    def read(self, n=-1):
        chunk = self.f.read(n)
        self.digest.update(chunk)
        return chunk


# -- restore ---------------------------------------------------------------------------------


def restore(path: str) -> Summary:
    """Into an empty instance only; the archive is checked whole before anything is written."""
    try:
        tar = tarfile.open(path, mode="r:")
    except (OSError, tarfile.TarError) as error:
        raise BackupError(f"อ่านไฟล์สำรอง {path} ไม่ได้: {error}") from None
    with tar:
        members = _members(tar)
        manifest = _manifest(tar, members)
        _check_revision(manifest["revision"])
        _check_empty(manifest["revision"])
        try:
            documents = _check_contents(tar, members, manifest)
        except (KeyError, TypeError, AttributeError, ValueError, tarfile.TarError) as error:
            # A manifest of the wrong shape, or a member cut short: not one of our archives.
            raise BackupError(f"ไฟล์สำรองไม่ถูกต้อง: {error!r}") from None
        if not inspect(db.engine).has_table("alembic_version"):
            upgrade(directory=current_app.extensions["migrate"].directory)
            _check_empty(manifest["revision"])
        written = []
        files = storage()
        try:
            for name in sorted(documents):
                entry = manifest["files"][name]
                with tar.extractfile(members[f"files/{name}"]) as source:
                    try:
                        files.put(name, source, entry["sha256"], entry["size"])
                    except ValueError:  # the archive changed since we checked it
                        raise BackupError(f"ไฟล์สำรองเสียหาย: {name} ไม่ตรงกับ SHA-256") from None
                written.append(name)
            rows = _insert_rows(tar, members)
        except BaseException:
            for name in written:
                files.delete(name)
            raise
    size = sum(entry["size"] for entry in manifest["files"].values())
    return Summary(os.path.abspath(path), rows, len(written), size)


def _members(tar) -> dict:
    """Only the names we write, only plain files, each once: nothing else is ever read.

    Nothing is extracted by name, so a hostile name (../, /etc/...) has nowhere to go; it
    refuses the whole archive all the same, as a sign it is not one of ours.
    """
    members = {}
    try:
        listed = tar.getmembers()
    except (OSError, tarfile.TarError) as error:
        raise BackupError(f"ไฟล์สำรองเสียหาย: {error}") from None
    for member in listed:
        name = member.name
        table = _TABLE_MEMBER.fullmatch(name)
        stored = _FILE_MEMBER.fullmatch(name)
        ours = (
            name == MANIFEST
            or (table and table.group(1) in db.metadata.tables)
            or (stored and is_stored_name(stored.group(1)))
        )
        if not ours or not member.isreg() or name in members:
            raise BackupError(f"ไฟล์สำรองไม่ถูกต้อง: มีรายการที่ไม่ใช่ของระบบนี้ ({name!r})")
        members[name] = member
    if MANIFEST not in members:
        raise BackupError("ไฟล์สำรองไม่ถูกต้อง: ไม่มี manifest.json")
    return members


def _manifest(tar, members) -> dict:
    member = members[MANIFEST]
    if member.size > _MANIFEST_LIMIT:
        raise BackupError("ไฟล์สำรองไม่ถูกต้อง: manifest.json ใหญ่ผิดปกติ")
    try:
        with tar.extractfile(member) as f:
            manifest = json.loads(f.read())
        ok = (
            manifest["format"] == FORMAT
            and isinstance(manifest["revision"], str)
            and isinstance(manifest["tables"], dict)
            and isinstance(manifest["files"], dict)
        )
    except (OSError, tarfile.TarError, ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise BackupError("ไฟล์สำรองไม่ถูกต้อง: อ่าน manifest.json ไม่ได้")
    if manifest["version"] != VERSION:
        raise BackupError(f"ไฟล์สำรองรุ่น {manifest['version']} ใช้กับโปรแกรมรุ่นนี้ไม่ได้")
    return manifest


def _check_revision(revision: str) -> None:
    script = ScriptDirectory(current_app.extensions["migrate"].directory)
    head = script.get_current_head()
    if revision != head:
        raise BackupError(
            f"ไฟล์สำรองเป็นฐานข้อมูลรุ่น {revision} แต่โปรแกรมนี้ใช้รุ่น {head} "
            "กรุณากู้คืนด้วยโปรแกรมรุ่นเดียวกับที่สำรองไว้"
        )


def _check_empty(revision: str) -> None:
    """No row in any table, no document in the upload folder: a restore never merges."""
    existing = set(inspect(db.engine).get_table_names())
    if existing and "alembic_version" not in existing:
        raise BackupError("ฐานข้อมูลปลายทางมีตารางอื่นอยู่ กรุณาใช้ฐานข้อมูลว่าง")
    if existing and db.session.scalar(text("SELECT version_num FROM alembic_version")) != revision:
        db.session.rollback()
        raise BackupError("ฐานข้อมูลปลายทางเป็นรุ่นอื่น กรุณาใช้ฐานข้อมูลว่าง (ไม่ต้องรัน init-db ก่อนกู้คืน)")
    for table in db.metadata.sorted_tables:
        if table.name in existing and db.session.scalar(select(func.count()).select_from(table)):
            db.session.rollback()
            raise BackupError(
                f"ฐานข้อมูลปลายทางมีข้อมูลอยู่แล้ว (ตาราง {table.name}) กู้คืนได้เฉพาะฐานข้อมูลว่าง "
                "(ไม่ต้องรัน init-db ก่อนกู้คืน)"
            )
    db.session.rollback()
    root = storage().root
    if any(not name.startswith(".") for name in os.listdir(root)):
        raise BackupError(f"โฟลเดอร์ไฟล์ {root} มีไฟล์อยู่แล้ว กู้คืนได้เฉพาะโฟลเดอร์ว่าง")


def _check_contents(tar, members, manifest) -> set[str]:
    """Every table and file against the manifest, and the documents' rows against the files."""
    tables = manifest["tables"]
    if set(tables) != set(db.metadata.tables) or any(
        f"tables/{name}.jsonl" not in members for name in tables
    ):
        raise BackupError("ไฟล์สำรองไม่ถูกต้อง: ตารางไม่ครบหรือเกิน")
    documents = {}
    for name, expected in tables.items():
        digest, rows = hashlib.sha256(), 0
        for line in _lines(tar, members[f"tables/{name}.jsonl"]):
            digest.update(line)
            rows += 1
            row = _row(line, db.metadata.tables[name])
            if name == "documents":
                documents[row["stored_name"]] = (row["sha256"], row["size"])
        if (rows, digest.hexdigest()) != (expected.get("rows"), expected.get("sha256")):
            raise BackupError(f"ไฟล์สำรองเสียหาย: ตาราง {name} ไม่ตรงกับ manifest.json")
    files = manifest["files"]
    in_archive = {m[len("files/") :] for m in members if m.startswith("files/")}
    if set(files) != in_archive or set(files) != set(documents):
        raise BackupError("ไฟล์สำรองไม่ถูกต้อง: ไฟล์ไม่ตรงกับรายการเอกสาร")
    for name, entry in files.items():
        if (entry.get("sha256"), entry.get("size")) != documents[name]:
            raise BackupError(f"ไฟล์สำรองไม่ถูกต้อง: {name} ไม่ตรงกับเอกสาร")
        digest = hashlib.sha256()
        with tar.extractfile(members[f"files/{name}"]) as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
        if digest.hexdigest() != entry["sha256"] or members[f"files/{name}"].size != entry["size"]:
            raise BackupError(f"ไฟล์สำรองเสียหาย: {name} ไม่ตรงกับ SHA-256 ที่บันทึกไว้")
    return set(documents)


def _lines(tar, member):
    with tar.extractfile(member) as f:
        yield from f


def _row(line: bytes, table) -> dict:
    try:
        raw = json.loads(line)
        if not isinstance(raw, dict) or set(raw) != set(table.c.keys()):
            raise ValueError("columns")
        return {key: _decode(table.c[key], value) for key, value in raw.items()}
    except (ValueError, TypeError, KeyError) as error:
        raise BackupError(f"ไฟล์สำรองไม่ถูกต้อง: แถวในตาราง {table.name} อ่านไม่ได้ ({error})") from None


def _decode(column, value):
    if value is None:
        return None
    kind_of = column.type
    if isinstance(kind_of, TypeDecorator):  # UTCDateTime: its python_type is not its impl's
        kind_of = kind_of.impl_instance
    try:
        kind = kind_of.python_type
    except NotImplementedError:
        return value
    if kind is datetime:
        return datetime.fromisoformat(value)
    if kind is date:
        return date.fromisoformat(value)
    if kind is bytes:
        return base64.b64decode(value)
    if kind is Decimal:
        return Decimal(value)
    if kind in (bool, int) and not isinstance(value, int):
        raise ValueError(f"{column.name}: {value!r}")
    return value


def _insert_rows(tar, members) -> dict[str, int]:
    counts = {}
    with db.engine.begin() as conn:
        for table in db.metadata.sorted_tables:
            later = []  # documents.replaces_id: set once every document exists
            batch, counts[table.name] = [], 0
            for line in _lines(tar, members[f"tables/{table.name}.jsonl"]):
                row = _row(line, table)
                if table.name == "documents" and row["replaces_id"] is not None:
                    later.append({"doc_id": row["id"], "ref": row["replaces_id"]})
                    row["replaces_id"] = None
                batch.append(row)
                if len(batch) >= _BATCH:
                    conn.execute(table.insert(), batch)
                    batch = []
                counts[table.name] += 1
            if batch:
                conn.execute(table.insert(), batch)
            if later:
                conn.execute(
                    table.update()
                    .where(table.c.id == bindparam("doc_id"))
                    .values(replaces_id=bindparam("ref")),
                    later,
                )
        if conn.dialect.name == "postgresql":
            _reset_sequences(conn)
    # MariaDB (InnoDB) and SQLite continue after the largest id inserted on their own.
    return counts


def _reset_sequences(conn) -> None:
    """New rows after a restore must get ids after the restored ones, not 1, 2, 3..."""
    for table in db.metadata.sorted_tables:
        column = table.autoincrement_column
        if column is None:
            continue
        top = conn.scalar(select(func.max(column)))
        conn.execute(
            text("SELECT setval(pg_get_serial_sequence(:table, :column), :next, false)"),
            {"table": table.name, "column": column.name, "next": (top or 0) + 1},
        )
