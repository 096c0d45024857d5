"""The review cycle: return with a reason, revise, receive; undo by the admin only."""

import io
import os

import pytest

from extensions import db, storage
from models import Document
from tests.samples import sample_bytes

REASON = "ขาดลายมือชื่อผู้อำนวยการ"


def revise(b, document, title="ฉบับแก้ไข", name="รายงานฉบับแก้ไข.pdf"):
    return b.open(
        b.url("send.revise", document_id=document.id),
        method="POST",
        data={
            "csrf_token": b.csrf_token(),
            "title": title,
            "file": (io.BytesIO(sample_bytes("pdf")), name),
        },
    )


def fresh(document_id) -> Document:
    return db.session.get(Document, document_id)


def test_return_revise_receive_with_history_on_both_sides(login_as, world, make_document):
    first = make_document(world.indicator, world.reporter, title="รายงานผลรอบ 6 เดือน")
    receiver, reporter = login_as(world.receiver), login_as(world.reporter)

    # The reason is required.
    empty = receiver.post("receive.return_document", {"reason": "  "}, document_id=first.id)
    assert empty.status_code == 400 and "กรุณากรอกเหตุผล" in empty.get_data(as_text=True)
    assert fresh(first.id).status == "sent"

    # Returned: the reporter sees ส่งกลับแก้ไข with the reason.
    response = receiver.post("receive.return_document", {"reason": REASON}, document_id=first.id)
    assert response.status_code == 302
    returned = fresh(first.id)
    assert returned.status == "returned" and returned.return_reason == REASON
    assert returned.returned_by_id == world.receiver.id
    page = reporter.get("send.index").get_data(as_text=True)
    assert "ส่งกลับแก้ไข" in page and REASON in page and "ส่งฉบับแก้ไข" in page

    # The revision links to what it replaces; the old one stays, read-only.
    assert revise(reporter, first).status_code == 302
    second = db.session.scalars(db.select(Document).where(Document.replaces_id == first.id)).one()
    assert second.status == "sent" and fresh(first.id).status == "replaced"
    assert os.path.exists(storage().path(fresh(first.id).stored_name))
    page = reporter.get("send.index").get_data(as_text=True)
    assert "ฉบับแก้ไข" in page and "ส่งแล้ว" in page

    # Both sides open the history: version 1 with the reason, version 2.
    for b in (reporter, receiver):
        history = b.get("receive.history", document_id=second.id).get_data(as_text=True)
        assert "ฉบับที่ 1" in history and "ฉบับที่ 2" in history and REASON in history
    # The receiver's page lists the revision, not the replaced document.
    html = receiver.get(
        "receive.indicator_page", months=6, indicator_id=world.indicator.id
    ).get_data(as_text=True)
    assert "ฉบับแก้ไข" in html and "รายงานผลรอบ 6 เดือน" not in html

    assert receiver.post("receive.store", document_id=second.id).status_code == 302
    assert fresh(second.id).status == "received"
    assert "รับแล้ว" in reporter.get("send.index").get_data(as_text=True)


@pytest.mark.parametrize("state", ["received", "returned"])
def test_reporter_cannot_delete_rename_or_replace_a_handled_document(
    login_as, world, make_document, state
):
    document = make_document(world.indicator, world.reporter)
    receiver = login_as(world.receiver)
    if state == "received":
        receiver.post("receive.store", document_id=document.id)
    else:
        receiver.post("receive.return_document", {"reason": REASON}, document_id=document.id)
    before = fresh(document.id)
    snapshot = (before.status, before.title, before.stored_name)
    reporter = login_as(world.reporter)
    assert reporter.post("send.delete", document_id=document.id).status_code == 409
    assert reporter.post("send.edit", {"title": "ใหม่"}, document_id=document.id).status_code == 409
    if state == "received":
        assert revise(reporter, document).status_code == 409  # only a returned one is revised
    after = fresh(document.id)
    assert (after.status, after.title, after.stored_name) == snapshot
    assert os.path.exists(storage().path(after.stored_name))


def test_a_returned_document_is_revised_once(login_as, world, make_document):
    document = make_document(world.indicator, world.reporter)
    login_as(world.receiver).post(
        "receive.return_document", {"reason": REASON}, document_id=document.id
    )
    reporter = login_as(world.reporter)
    assert revise(reporter, document).status_code == 302
    again = revise(reporter, document, title="ส่งซ้ำ")
    assert again.status_code == 409
    count = db.session.scalar(db.select(db.func.count(Document.id)))
    assert count == 2 and len(os.listdir(storage().root)) == 2 + 1  # two files + .incoming


def test_another_reporter_cannot_revise_my_returned_document(
    login_as, world, make_user, make_document
):
    from models import REPORTER

    colleague = make_user(status=REPORTER)
    world.indicator.reporters.append(colleague)
    db.session.commit()
    document = make_document(world.indicator, world.reporter)
    login_as(world.receiver).post(
        "receive.return_document", {"reason": REASON}, document_id=document.id
    )
    assert revise(login_as(colleague), document).status_code == 403


def test_only_the_admin_undoes_a_receipt_with_a_reason(login_as, world, make_document):
    document = make_document(world.indicator, world.reporter)
    receiver, admin = login_as(world.receiver), login_as(world.officer)
    receiver.post("receive.store", document_id=document.id)
    assert (
        receiver.post("receive.undo", {"reason": REASON}, document_id=document.id).status_code
        == 403
    )
    no_reason = admin.post("receive.undo", {"reason": ""}, document_id=document.id)
    assert no_reason.status_code == 400
    assert fresh(document.id).status == "received"
    assert (
        admin.post("receive.undo", {"reason": REASON}, document_id=document.id).status_code == 302
    )
    undone = fresh(document.id)
    assert undone.status == "sent" and undone.received_by_id is None
    page = login_as(world.reporter).get("send.index").get_data(as_text=True)
    assert "ส่งแล้ว" in page


def test_store_or_return_of_a_handled_document_is_refused(login_as, world, make_document):
    document = make_document(world.indicator, world.reporter)
    receiver = login_as(world.receiver)
    receiver.post("receive.store", document_id=document.id)
    received_at = fresh(document.id).received_at
    again = receiver.post("receive.return_document", {"reason": REASON}, document_id=document.id)
    assert again.status_code == 409 and "มีผู้ดำเนินการไปแล้ว" in again.get_data(as_text=True)
    assert fresh(document.id).status == "received"
    assert fresh(document.id).received_at == received_at
