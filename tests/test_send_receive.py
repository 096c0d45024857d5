"""Sending and receiving: who sees what, corrections before receipt, receipt per document."""

import os

from extensions import db, storage
from models import Document


def test_reporter_sends_any_number_of_files(login_as, world):
    b = login_as(world.reporter)
    for n, months in enumerate(("6", "6", "9", "12")):
        assert b.upload(world.indicator, title=f"รายการ {n}", months=months).status_code == 302
    docs = db.session.scalars(db.select(Document).order_by(Document.id)).all()
    assert [d.round_months for d in docs] == [6, 6, 9, 12]
    assert all(d.uploaded_by_id == world.reporter.id and d.status == "sent" for d in docs)
    assert len(os.listdir(storage().root)) == 4 + 1  # four files and .incoming/


def test_sent_table_shows_round_title_thai_date_and_status(login_as, world, make_document):
    make_document(world.indicator, world.reporter, months=9, title="แบบรายงานผล")
    html = login_as(world.reporter).get("send.index").get_data(as_text=True)
    assert "รอบ 9 เดือน" in html and "แบบรายงานผล" in html and "ส่งแล้ว" in html
    assert "พ.ย." in html or " 25" in html  # a Thai date, Buddhist era


def test_reporter_corrects_title_or_deletes_before_receipt(login_as, world, make_document):
    document = make_document(world.indicator, world.reporter)
    document_id, path = document.id, storage().path(document.stored_name)
    b = login_as(world.reporter)
    response = b.post("send.edit", {"title": "ชื่อที่ถูกต้อง"}, document_id=document_id)
    assert response.status_code == 302
    assert db.session.get(Document, document_id).title == "ชื่อที่ถูกต้อง"
    assert b.post("send.delete", document_id=document_id).status_code == 302
    assert db.session.get(Document, document_id) is None and not os.path.exists(path)


def test_after_receipt_the_reporter_can_neither_edit_nor_delete(login_as, world, make_document):
    document = make_document(world.indicator, world.reporter)
    login_as(world.receiver).post("receive.store", document_id=document.id)
    b = login_as(world.reporter)
    edit = b.post("send.edit", {"title": "แก้หลังรับ"}, document_id=document.id)
    assert edit.status_code == 409 and "ได้รับแล้ว" in edit.get_data(as_text=True)
    delete = b.post("send.delete", document_id=document.id)
    assert delete.status_code == 409
    document = db.session.get(Document, document.id)
    assert document.title == "โครงการประชุมเชิงปฏิบัติการ" and document.status == "received"
    assert os.path.exists(storage().path(document.stored_name))
    page = b.get("send.index").get_data(as_text=True)
    assert "รับแล้ว" in page and f"/send/document/{document.id}/delete" not in page


def test_receiver_sees_only_their_indicators_admin_sees_all(login_as, world, make_document):
    make_document(world.indicator, world.reporter)
    receiver_page = login_as(world.receiver).get("receive.round_page", months=6)
    html = receiver_page.get_data(as_text=True)
    assert world.indicator.name in html and "ตัวชี้วัดของคนอื่น" not in html
    admin_html = login_as(world.officer).get("receive.round_page", months=6).get_data(as_text=True)
    assert world.indicator.name in admin_html and "ตัวชี้วัดของคนอื่น" in admin_html


def test_round_page_counts_stored_and_waiting(login_as, world, make_document):
    stored = make_document(world.indicator, world.reporter, title="ก")
    make_document(world.indicator, world.reporter, title="ข")
    make_document(world.indicator, world.reporter, title="ค", months=9)
    b = login_as(world.receiver)
    b.post("receive.store", document_id=stored.id)
    html = b.get("receive.round_page", months=6).get_data(as_text=True)
    assert f"ชื่อตัวชี้วัด : {world.indicator.code} {world.indicator.name} (1)" in html
    assert "รอจัดเก็บ 1" in html
    index = b.get("receive.index").get_data(as_text=True)
    assert "จัดเก็บแล้ว 1 · รอจัดเก็บ 1" in index and "จัดเก็บแล้ว 0 · รอจัดเก็บ 1" in index


def test_indicator_page_lists_only_that_rounds_documents(login_as, world, make_document):
    make_document(world.indicator, world.reporter, title="รอบหก")
    make_document(world.indicator, world.reporter, title="รอบเก้า", months=9)
    b = login_as(world.receiver)
    html = b.get("receive.indicator_page", months=6, indicator_id=world.indicator.id).get_data(
        as_text=True
    )
    assert "รอบหก" in html and "รอบเก้า" not in html and "เอกชัย ศรีสุข" in html


def test_receipt_is_per_document_and_names_who_and_when(login_as, world, make_document):
    first = make_document(world.indicator, world.reporter, title="ฉบับแรก")
    second = make_document(world.indicator, world.reporter, title="ฉบับสอง")
    login_as(world.receiver).post("receive.store", document_id=first.id)
    first, second = db.session.get(Document, first.id), db.session.get(Document, second.id)
    assert first.status == "received" and first.received_by_id == world.receiver.id
    assert first.received_at is not None
    assert second.status == "sent" and second.received_by_id is None


def test_co_reporter_sees_and_downloads_but_cannot_change_anothers_document(
    login_as, world, make_user, make_document
):
    from models import REPORTER

    colleague = make_user("มานี มีนา", status=REPORTER)
    world.indicator.reporters.append(colleague)
    db.session.commit()
    document = make_document(world.indicator, world.reporter)
    b = login_as(colleague)
    html = b.get("send.index").get_data(as_text=True)
    assert "ส่งโดย เอกชัย ศรีสุข" in html
    assert b.get("receive.download", document_id=document.id).status_code == 200
    assert b.post("send.delete", document_id=document.id).status_code == 403
