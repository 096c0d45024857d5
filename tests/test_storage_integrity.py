"""A file and its row are kept together: a failure at either step leaves neither behind."""

import os

import pytest
from sqlalchemy import text

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
