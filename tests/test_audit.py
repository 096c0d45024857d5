"""The audit trail: one entry per action with actor, object, time and address; append-only."""

import io
import json

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from extensions import db
from models import AuditEntry, Document, Indicator, Round, User
from tests.conftest import PASSWORD, Browser
from tests.samples import sample_bytes
from thai import fiscal_year

YEAR = fiscal_year()


def entries() -> list[AuditEntry]:
    return list(db.session.scalars(db.select(AuditEntry).order_by(AuditEntry.id)))


def returned(w, login_as, make_document):
    doc = make_document(w.indicator, w.reporter)
    login_as(w.receiver).post("receive.return_document", {"reason": "แก้"}, document_id=doc.id)
    return doc


def received(w, login_as, make_document):
    doc = make_document(w.indicator, w.reporter)
    login_as(w.receiver).post("receive.store", document_id=doc.id)
    return doc


# name -> (setup(w, login_as, make_document) -> context, act(w, ctx, login_as) -> response,
#          expected action, actor attribute of the world, object type, object id from ctx)
def _case_login(w, ctx, login_as):
    return Browser(w.app).login("reporter")


def _case_login_failed(w, ctx, login_as):
    return Browser(w.app).login("reporter", "ผิด")


CASES = {
    "login": (None, _case_login, "login", "reporter", "users", lambda w, c: w.reporter.id),
    "login_failed": (
        None,
        _case_login_failed,
        "login_failed",
        "reporter",
        "users",
        lambda w, c: w.reporter.id,
    ),
    "logout": (
        lambda w, la, md: la(w.reporter),
        lambda w, b, la: b.post("auth.logout"),
        "logout",
        "reporter",
        "users",
        lambda w, c: w.reporter.id,
    ),
    "password_changed": (
        lambda w, la, md: la(w.reporter),
        lambda w, b, la: b.post(
            "auth.change_password",
            {"current": PASSWORD, "new": "ใหม่-12345", "confirm": "ใหม่-12345"},
        ),
        "password_changed",
        "reporter",
        "users",
        lambda w, c: w.reporter.id,
    ),
    "password_reset": (
        None,
        lambda w, c, la: la(w.officer).post(
            "auth.reset_password", {"new": "ตั้งใหม่-123"}, user_id=w.staff.id
        ),
        "password_reset",
        "officer",
        "users",
        lambda w, c: w.staff.id,
    ),
    "account_deactivated": (
        None,
        lambda w, c, la: la(w.officer).post("auth.set_active", {"active": "0"}, user_id=w.staff.id),
        "account_deactivated",
        "officer",
        "users",
        lambda w, c: w.staff.id,
    ),
    "role_changed": (
        None,
        lambda w, c, la: la(w.officer).post(
            "roles.set_status", {"status": "reporter"}, user_id=w.staff.id
        ),
        "role_changed",
        "officer",
        "users",
        lambda w, c: w.staff.id,
    ),
    "indicator_updated": (
        None,
        lambda w, c, la: la(w.officer).post(
            "indicators.edit",
            {
                "fiscal_year": str(YEAR),
                "category": "KRS",
                "code": "1.1.1",
                "name": "ชื่อใหม่",
                "receiver": str(w.receiver.id),
                "reporters": [str(w.reporter.id)],
            },
            indicator_id=w.indicator.id,
        ),
        "indicator_updated",
        "officer",
        "indicators",
        lambda w, c: w.indicator.id,
    ),
    "indicator_deleted": (
        None,
        lambda w, c, la: la(w.officer).post("indicators.delete", indicator_id=w.indicator.id),
        "indicator_deleted",
        "officer",
        "indicators",
        lambda w, c: w.indicator_id,
    ),
    "document_sent": (
        lambda w, la, md: la(w.reporter),
        lambda w, b, la: b.upload(w.indicator),
        "document_sent",
        "reporter",
        "documents",
        lambda w, c: db.session.scalar(db.select(db.func.max(Document.id))),
    ),
    "document_downloaded": (
        lambda w, la, md: md(w.indicator, w.reporter),
        lambda w, d, la: la(w.receiver).get("receive.download", document_id=d.id),
        "document_downloaded",
        "receiver",
        "documents",
        lambda w, d: d.id,
    ),
    "document_received": (
        lambda w, la, md: md(w.indicator, w.reporter),
        lambda w, d, la: la(w.receiver).post("receive.store", document_id=d.id),
        "document_received",
        "receiver",
        "documents",
        lambda w, d: d.id,
    ),
    "document_returned": (
        lambda w, la, md: md(w.indicator, w.reporter),
        lambda w, d, la: la(w.receiver).post(
            "receive.return_document", {"reason": "แก้"}, document_id=d.id
        ),
        "document_returned",
        "receiver",
        "documents",
        lambda w, d: d.id,
    ),
    "document_revised": (
        returned,
        lambda w, d, la: (
            lambda b: b.open(
                b.url("send.revise", document_id=d.id),
                method="POST",
                data={
                    "csrf_token": b.csrf_token(),
                    "title": "แก้แล้ว",
                    "file": (io.BytesIO(sample_bytes("pdf")), "แก้.pdf"),
                },
            )
        )(la(w.reporter)),
        "document_revised",
        "reporter",
        "documents",
        lambda w, d: db.session.scalar(db.select(db.func.max(Document.id))),
    ),
    "receipt_undone": (
        received,
        lambda w, d, la: la(w.officer).post("receive.undo", {"reason": "รับผิด"}, document_id=d.id),
        "receipt_undone",
        "officer",
        "documents",
        lambda w, d: d.id,
    ),
    "year_opened": (
        None,
        lambda w, c, la: la(w.officer).post("years.open_next", {"year": str(YEAR + 1)}),
        "year_opened",
        "officer",
        None,
        lambda w, c: None,
    ),
    "year_closed": (
        lambda w, la, md: [
            setattr(r, "due_date", r.due_date.replace(year=2000))
            for r in db.session.scalars(db.select(Round))
        ],
        lambda w, c, la: la(w.officer).post("years.close", year=YEAR),
        "year_closed",
        "officer",
        None,
        lambda w, c: None,
    ),
    "indicators_copied": (
        lambda w, la, md: la(w.officer).post("years.open_next", {"year": str(YEAR + 1)}),
        lambda w, c, la: la(w.officer).post("years.copy", {"source": str(YEAR)}, year=YEAR + 1),
        "indicators_copied",
        "officer",
        None,
        lambda w, c: None,
    ),
    "round_added": (
        None,
        lambda w, c, la: la(w.officer).post("years.add_round", {"months": "3"}, year=YEAR),
        "round_added",
        "officer",
        None,
        lambda w, c: None,
    ),
    "due_date_set": (
        None,
        lambda w, c, la: la(w.officer).post(
            "years.set_due", {"due_date": "2027-04-30"}, year=YEAR, months=6
        ),
        "due_date_set",
        "officer",
        None,
        lambda w, c: None,
    ),
    "indicator_created": (
        None,
        lambda w, c, la: la(w.officer).post(
            "indicators.create",
            {
                "fiscal_year": str(YEAR),
                "category": "KRS",
                "code": "3.3",
                "name": "ใหม่",
                "receiver": str(w.receiver.id),
                "reporters": [str(w.reporter.id)],
            },
        ),
        "indicator_created",
        "officer",
        "indicators",
        lambda w, c: db.session.scalar(db.select(db.func.max(Indicator.id))),
    ),
    "document_renamed": (
        lambda w, la, md: md(w.indicator, w.reporter),
        lambda w, d, la: la(w.reporter).post("send.edit", {"title": "ชื่อใหม่"}, document_id=d.id),
        "document_renamed",
        "reporter",
        "documents",
        lambda w, d: d.id,
    ),
    "document_deleted": (
        lambda w, la, md: md(w.indicator, w.reporter),
        lambda w, d, la: la(w.reporter).post("send.delete", document_id=d.id),
        "document_deleted",
        "reporter",
        None,
        lambda w, d: None,
    ),
    "account_created": (
        None,
        lambda w, c, la: la(w.officer).post(
            "auth.accounts",
            {"username": "newbie", "full_name": "มานี มีนา", "password": "เริ่มต้น-1234"},
        ),
        "account_created",
        "officer",
        "users",
        lambda w, c: db.session.scalar(db.select(User.id).filter_by(username="newbie")),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_each_action_writes_exactly_one_entry(app, world, login_as, make_document, name):
    setup, act, action, actor, object_type, object_id = CASES[name]
    world.app, world.indicator_id = app, world.indicator.id
    ctx = setup(world, login_as, make_document) if setup else None
    before = {e.id for e in entries()}
    response = act(world, ctx, login_as)
    assert response.status_code in (200, 302, 400), response.get_data(as_text=True)[:500]
    new = [e for e in entries() if e.id not in before]
    if name != "login":  # act() for the others logs in first, which is its own entry
        new = [e for e in new if e.action != "login"]
    assert [e.action for e in new] == [action]
    entry = new[0]
    assert entry.actor_id == getattr(world, actor).id
    assert entry.object_type == object_type
    assert entry.object_id == object_id(world, ctx)
    assert entry.ip == Browser.address and entry.at is not None


def test_the_admin_reads_the_trail_in_thai_filtered_and_newest_first(
    login_as, world, make_document
):
    document = make_document(world.indicator, world.reporter, title="โครงการประหยัดพลังงาน")
    login_as(world.receiver).post("receive.store", document_id=document.id)
    admin = login_as(world.officer)
    page = admin.get("audit.index").get_data(as_text=True)
    assert "ประวัติการใช้งาน" in page
    assert "จัดเก็บเอกสาร โครงการประหยัดพลังงาน" in page
    assert page.index("เข้าระบบ") < page.index("จัดเก็บเอกสาร")  # newest (admin login) first
    only = admin.get("audit.index", action="document_received", user=world.receiver.id)
    html = only.get_data(as_text=True)
    assert html.count('data-action="document_received"') == 1 and 'data-action="login"' not in html
    by_indicator = admin.get("audit.index", indicator=world.indicator.id).get_data(as_text=True)
    assert 'data-action="document_received"' in by_indicator
    assert 'data-action="login"' not in by_indicator
    future = admin.get("audit.index", since="2199-01-01").get_data(as_text=True)
    assert "ไม่พบรายการ" in future
    assert login_as(world.receiver).get("audit.index").status_code == 403


def test_entries_are_codes_with_parameters_not_text(login_as, world):
    login_as(world.officer).post("roles.set_status", {"status": "reporter"}, user_id=world.staff.id)
    entry = db.session.scalars(db.select(AuditEntry).filter_by(action="role_changed")).one()
    assert json.loads(entry.params) == {
        "name": world.staff.full_name,
        "old": None,
        "new": "reporter",
    }


def test_the_database_refuses_to_change_or_delete_entries(app, login_as, world):
    login_as(world.reporter)
    entry_id, action = entries()[0].id, entries()[0].action
    db.session.commit()  # release this session's lock; the statements below go direct
    for statement in (
        "UPDATE audit_entries SET action = 'forged' WHERE id = :id",
        "DELETE FROM audit_entries WHERE id = :id",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            with db.engine.begin() as conn:
                conn.execute(text(statement), {"id": entry_id})
    assert db.session.get(AuditEntry, entry_id).action == action


def test_no_route_changes_earlier_entries(app, world, login_as, make_document):
    """A whole working session only ever adds entries."""
    login_as(world.officer)
    before = [(e.id, e.action, e.params, e.at) for e in entries()]
    doc = make_document(world.indicator, world.reporter)
    login_as(world.receiver).post("receive.store", document_id=doc.id)
    officer = login_as(world.officer)
    officer.post("receive.undo", {"reason": "ตรวจซ้ำ"}, document_id=doc.id)
    officer.post("auth.reset_password", {"new": "ใหม่-123456"}, user_id=world.staff.id)
    officer.post("years.open_next", {"year": str(YEAR + 1)})
    officer.post("auth.logout")
    after = [(e.id, e.action, e.params, e.at) for e in entries()]
    assert after[: len(before)] == before and len(after) > len(before)
    assert db.session.get(Indicator, world.indicator.id) is not None
