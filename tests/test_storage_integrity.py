"""A file and its row are kept together: a failure at either step leaves neither behind."""

import hashlib
import os

import pytest
from flask import has_request_context
from sqlalchemy import event, text

from extensions import db, storage
from models import Document

FAIL_INSERT = {
    "sqlite": [
        "CREATE TRIGGER fail_documents BEFORE INSERT ON documents "
        "BEGIN SELECT RAISE(ABORT, 'simulated failure'); END"
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION fail_documents() RETURNS trigger AS $$ "
        "BEGIN RAISE EXCEPTION 'simulated failure'; END; $$ LANGUAGE plpgsql",
        "CREATE TRIGGER fail_documents BEFORE INSERT ON documents "
        "FOR EACH ROW EXECUTE FUNCTION fail_documents()",
    ],
    "mysql": [
        "CREATE TRIGGER fail_documents BEFORE INSERT ON documents FOR EACH ROW "
        "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'simulated failure'"
    ],
}
DROP = {
    "sqlite": "DROP TRIGGER fail_documents",
    "postgresql": "DROP TRIGGER fail_documents ON documents",
    "mysql": "DROP TRIGGER fail_documents",
}


def files_in(folder):
    return sorted(
        os.path.relpath(os.path.join(root, name), folder)
        for root, _dirs, names in os.walk(folder)
        for name in names
    )


def test_a_failed_commit_removes_the_stored_file(app, world, login_as, make_document):
    kept = make_document(world.indicator, world.reporter)
    reporter = login_as(world.reporter)
    before = files_in(storage().root)
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
        dialect = db.engine.dialect.name
        db.session.commit()
        with db.engine.begin() as conn:
            for statement in FAIL_INSERT[dialect]:
                conn.execute(text(statement))
        try:
            response = reporter.upload(world.indicator)
        finally:
            with db.engine.begin() as conn:
                conn.execute(text(DROP[dialect]))
    assert response.status_code == 500
    assert "ระบบขัดข้อง" in response.get_data(as_text=True)
    assert files_in(storage().root) == before  # no orphan file, .incoming empty
    assert [d.id for d in db.session.scalars(db.select(Document))] == [kept.id]


def test_a_failed_write_leaves_no_row(app, world, login_as):
    reporter = login_as(world.reporter)
    incoming = os.path.join(storage().root, ".incoming")
    os.rmdir(incoming)
    with open(incoming, "w") as blocker:  # the temp folder is now a file: writes fail
        blocker.write("x")
    try:
        response = reporter.upload(world.indicator)
    finally:
        os.remove(incoming)
        os.mkdir(incoming)
    assert response.status_code == 503
    assert "บันทึกไฟล์ไม่สำเร็จ" in response.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count(Document.id))) == 0
    assert files_in(storage().root) == []


def test_an_interruption_after_the_commit_keeps_the_file_of_the_saved_row(app, world, login_as):
    """A worker's timeout or a signal may land after the server committed: never a row
    without its file (the worst left is an orphan, which verify-files reports)."""
    reporter = login_as(world.reporter)

    inserted = []

    def note_insert(session, _context, _instances):
        inserted.extend(o for o in session.new if isinstance(o, Document))

    def interrupted(_session):
        # Only the commit of the document's row (the upload commits earlier, and the test's
        # own session commits outside requests).
        if has_request_context() and inserted:
            inserted.clear()
            raise RuntimeError("the worker was interrupted after the commit")

    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
        event.listen(db.session, "before_flush", note_insert)
        event.listen(db.session, "after_commit", interrupted)
        try:
            response = reporter.upload(world.indicator, title="บันทึกแล้วจึงขัดข้อง")
        finally:
            event.remove(db.session, "after_commit", interrupted)
            event.remove(db.session, "before_flush", note_insert)
    assert response.status_code == 500
    saved = db.session.scalars(db.select(Document)).all()
    assert [d.title for d in saved] == ["บันทึกแล้วจึงขัดข้อง"]
    with storage().open(saved[0].stored_name) as f:
        assert hashlib.sha256(f.read()).hexdigest() == saved[0].sha256
