"""ส่งเอกสารคำรับรอง: a reporter's indicators and the evidence files sent for each round."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select, update
from sqlalchemy.orm import selectinload

from errors import RuleError
from extensions import db
from filetypes import RejectedFile
from models import ROUND_MONTHS, SENT, Document, Indicator, User, indicator_reporters
from thai import code_sort_key

ROUND_LABELS = {
    3: _l("รอบ 3 เดือน"),
    6: _l("รอบ 6 เดือน"),
    9: _l("รอบ 9 เดือน"),
    12: _l("รอบ 12 เดือน"),
}


def is_assigned(user: User, indicator: Indicator) -> bool:
    return (
        db.session.scalar(
            select(indicator_reporters.c.user_id).where(
                indicator_reporters.c.indicator_id == indicator.id,
                indicator_reporters.c.user_id == user.id,
            )
        )
        is not None
    )


def my_indicators(user: User, year: int) -> list[Indicator]:
    """The reporter's indicators of a year, each with its documents loaded in the same trip."""
    stmt = (
        select(Indicator)
        .join(indicator_reporters, indicator_reporters.c.indicator_id == Indicator.id)
        .where(indicator_reporters.c.user_id == user.id, Indicator.fiscal_year == year)
        .options(
            selectinload(Indicator.documents).selectinload(Document.uploaded_by),
            selectinload(Indicator.documents).selectinload(Document.received_by),
        )
    )
    indicators = sorted(db.session.scalars(stmt), key=lambda i: code_sort_key(i.code))
    for indicator in indicators:
        indicator.documents.sort(key=lambda d: (d.round_months, d.uploaded_at, d.id))
    return indicators


def clean_title(title: str) -> str:
    title = " ".join((title or "").split())
    if not title:
        raise RuleError(_l("กรุณากรอกชื่อรายการ"), status=400)
    if len(title) > 255:
        raise RuleError(_l("ชื่อรายการยาวเกิน 255 ตัวอักษร"), status=400)
    return title


def send_document(storage, user: User, indicator: Indicator, round_months, title, upload):
    """Store the file, then its row; a failure at either step leaves neither behind."""
    if not is_assigned(user, indicator):
        raise RuleError(_l("คุณไม่ได้เป็นผู้รายงานของตัวชี้วัดนี้"), status=403)
    if round_months not in ROUND_MONTHS:
        raise RuleError(_l("กรุณาเลือกรอบการรายงาน"), status=400)
    title = clean_title(title)
    if upload is None or not upload.filename:
        raise RuleError(_l("กรุณาเลือกไฟล์แนบ"), status=400)
    try:
        stored = storage.save(upload.stream, upload.filename)
    except RejectedFile as error:
        raise RuleError(error.message, status=400) from None
    document = Document(
        indicator_id=indicator.id,
        round_months=round_months,
        title=title,
        original_name=stored.original_name,
        stored_name=stored.stored_name,
        size=stored.size,
        sha256=stored.sha256,
        content_type=stored.content_type,
        uploaded_by_id=user.id,
        status=SENT,
    )
    try:
        db.session.add(document)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        storage.delete(stored.stored_name)
        raise
    return document


def own_document_or_403(user: User, document: Document) -> None:
    if document.uploaded_by_id != user.id:
        raise RuleError(_l("แก้ไขหรือลบได้เฉพาะเอกสารที่คุณส่งเอง"), status=403)


NOT_EDITABLE = _l("เอกสารนี้ได้รับแล้ว จึงแก้ไขหรือลบไม่ได้")


def rename_document(user: User, document: Document, title: str) -> None:
    own_document_or_403(user, document)
    title = clean_title(title)
    # Conditional on 'still sent', so a receipt that lands first always wins.
    result = db.session.execute(
        update(Document)
        .where(Document.id == document.id, Document.status == SENT)
        .values(title=title)
    )
    if result.rowcount != 1:
        db.session.rollback()
        raise RuleError(NOT_EDITABLE)
    db.session.commit()


def delete_document(storage, user: User, document: Document) -> None:
    own_document_or_403(user, document)
    stored_name = document.stored_name
    result = db.session.execute(
        delete(Document).where(Document.id == document.id, Document.status == SENT)
    )
    if result.rowcount != 1:
        db.session.rollback()
        raise RuleError(NOT_EDITABLE)
    db.session.commit()
    # Only after the row is gone: a failed commit must not leave a row without its file.
    storage.delete(stored_name)
