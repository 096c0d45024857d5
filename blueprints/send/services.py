"""ส่งเอกสารคำรับรอง: a reporter's indicators, the files sent for each round, and revisions."""

import contextlib
import errno
from dataclasses import dataclass
from datetime import date

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import selectinload

import audit
import notifications
from blueprints.years.services import ensure_open, round_of
from errors import RuleError
from extensions import db
from filetypes import RejectedFile, clean_filename
from models import (
    RECEIVED,
    REPLACED,
    RETURNED,
    SENT,
    Document,
    Indicator,
    Round,
    User,
    indicator_reporters,
)
from storage import FileTooLarge
from text import clean_text
from thai import bangkok_date, code_sort_key, now_utc


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


def my_indicators(user: User, years: list[int]) -> list[Indicator]:
    """The reporter's indicators of the given years, documents loaded in the same trip."""
    stmt = (
        select(Indicator)
        .join(indicator_reporters, indicator_reporters.c.indicator_id == Indicator.id)
        .where(indicator_reporters.c.user_id == user.id, Indicator.fiscal_year.in_(years))
        .options(
            selectinload(Indicator.documents).selectinload(Document.uploaded_by),
            selectinload(Indicator.documents).selectinload(Document.received_by),
            selectinload(Indicator.documents).selectinload(Document.returned_by),
        )
    )
    indicators = sorted(
        db.session.scalars(stmt), key=lambda i: (-i.fiscal_year, code_sort_key(i.code))
    )
    for indicator in indicators:
        indicator.documents.sort(key=lambda d: (d.round_months, d.uploaded_at, d.id))
    return indicators


def rounds_by_year(years: list[int]) -> dict[int, list[Round]]:
    stmt = select(Round).where(Round.fiscal_year.in_(years)).order_by(Round.months)
    grouped: dict[int, list[Round]] = {year: [] for year in years}
    for row in db.session.scalars(stmt):
        grouped[row.fiscal_year].append(row)
    return grouped


def round_state(documents: list[Document]) -> str:
    """One word per indicator and round: what is still expected of the reporter."""
    states = {d.status for d in documents}
    if RETURNED in states:
        return "returned"
    if SENT in states:
        return "sent"
    if RECEIVED in states:
        return "received"
    return "not_sent"


def round_summary(indicator: Indicator, rounds: list[Round]) -> list[tuple]:
    """Per round of the indicator's year: (round, state, current documents)."""
    current: dict[int, list[Document]] = {r.months: [] for r in rounds}
    for document in indicator.documents:
        if document.status != REPLACED and document.round_months in current:
            current[document.round_months].append(document)
    return [(r, round_state(current[r.months]), current[r.months]) for r in rounds]


def is_late(moment, due: date) -> bool:
    """Sent after the due date, counted in Bangkok days: the whole due day is on time."""
    return bangkok_date(moment) > due


def clean_title(title: str) -> str:
    title = " ".join(clean_text(title or "").split())
    if not title:
        raise RuleError(_l("กรุณากรอกชื่อรายการ"), status=400)
    if len(title) > 255:
        raise RuleError(_l("ชื่อรายการยาวเกิน 255 ตัวอักษร"), status=400)
    return title


# No space left, or the service user's quota reached.
STORAGE_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
STORAGE_FULL_MESSAGE = _l("พื้นที่จัดเก็บไฟล์ของระบบเต็ม ไฟล์นี้ยังไม่ได้บันทึก กรุณาแจ้งผู้ดูแลระบบ แล้วส่งใหม่ภายหลัง")


def _store_upload(storage, user, indicator, months, title, upload, replaces=None) -> Document:
    """Store the file, then its row; a failure at either step leaves neither behind."""
    ensure_open(indicator.fiscal_year)
    round_row = round_of(indicator.fiscal_year, months) if isinstance(months, int) else None
    if round_row is None:
        raise RuleError(_l("กรุณาเลือกรอบการรายงาน"), status=400)
    title = clean_title(title)
    if upload is None or not upload.filename:
        raise RuleError(_l("กรุณาเลือกไฟล์แนบ"), status=400)
    indicator_id, year, due = indicator.id, indicator.fiscal_year, round_row.due_date
    user_id, replaces_id = user.id, (replaces.id if replaces is not None else None)
    original_late = replaces.late if replaces is not None else None
    committing = False
    # End the transaction before copying up to MAX_UPLOAD_MB: on SQLite it holds the write
    # lock, and other staff's clicks must not wait for a slow upload.
    db.session.commit()
    try:
        stored = storage.save(upload.stream, upload.filename)
    except RejectedFile as error:
        raise RuleError(error.message, status=400) from None
    except OSError as error:
        # Disk full or a broken upload folder: nothing was kept (save() removes its partial
        # file), and the user should know it is the server, not their file.
        current_app.logger.exception("storing an upload failed")
        if error.errno in STORAGE_FULL:
            # 507: the one fault only the administrator can fix, so the message says so.
            raise RuleError(STORAGE_FULL_MESSAGE, status=507) from None
        raise RuleError(
            _l("บันทึกไฟล์ไม่สำเร็จ กรุณาลองใหม่อีกครั้ง หากยังไม่ได้โปรดแจ้งผู้ดูแลระบบ"), status=503
        ) from None
    now = now_utc()
    document = Document(
        indicator_id=indicator_id,
        round_months=months,
        title=title,
        original_name=stored.original_name,
        stored_name=stored.stored_name,
        size=stored.size,
        sha256=stored.sha256,
        content_type=stored.content_type,
        uploaded_by_id=user_id,
        uploaded_at=now,
        status=SENT,
        # A revision keeps its original's verdict: the return, not the reporter, made it later.
        late=original_late if replaces_id is not None else is_late(now, due),
        replaces_id=replaces_id,
    )
    try:
        ensure_open(year)  # again: the year may have closed while the file was written
        if replaces is not None:
            # Only a still-returned document may be replaced, and only once.
            result = db.session.execute(
                update(Document)
                .where(Document.id == replaces_id, Document.status == RETURNED)
                .values(status=REPLACED)
            )
            if result.rowcount != 1:
                raise RuleError(_l("เอกสารนี้ส่งฉบับแก้ไขไปแล้ว หรือไม่ได้ถูกส่งกลับแก้ไข"))
        db.session.add(document)
        db.session.flush()
        notifications.document_sent(user, document)
        if replaces is None:
            audit.record(
                "document_sent",
                actor=user,
                obj=document,
                indicator_id=indicator_id,
                title=title,
                file=stored.original_name,
                round=months,
            )
        else:
            audit.record(
                "document_revised",
                actor=user,
                obj=document,
                indicator_id=indicator_id,
                title=title,
                file=stored.original_name,
                replaces=replaces_id,
            )
        committing = True
        db.session.commit()
    except BaseException as error:
        # A commit interrupted halfway can leave the session unable even to roll back; the
        # check below asks on a connection of its own.
        with contextlib.suppress(Exception):
            db.session.rollback()
        if row_may_exist(error, stored.stored_name, committing):
            # Never a row without its file: the worst left is an orphan verify-files reports.
            current_app.logger.error("kept %s: its row may have committed", stored.stored_name)
        else:
            storage.delete(stored.stored_name)
        raise
    return document


def row_may_exist(error: BaseException, stored_name: str, committing: bool) -> bool:
    """Did the commit land anyway? Ask before deleting the file.

    The server may commit and then lose the connection before saying so; and anything that
    interrupts the commit itself (a worker's timeout, a signal) may come after the server
    committed. A database error on a live connection, or a failure before the commit, surely
    rolled back.
    """
    if isinstance(error, DBAPIError):
        if not error.connection_invalidated:
            return False
    elif not committing:
        return False
    try:
        with db.engine.connect() as conn:
            found = conn.scalar(select(Document.id).where(Document.stored_name == stored_name))
    except Exception:
        return True  # still cannot tell
    return found is not None


def send_document(storage, user: User, indicator: Indicator, round_months, title, upload):
    if not is_assigned(user, indicator):
        raise RuleError(_l("คุณไม่ได้เป็นผู้รายงานของตัวชี้วัดนี้"), status=403)
    return _store_upload(storage, user, indicator, round_months, title, upload)


def send_revision(storage, user: User, returned: Document, title, upload) -> Document:
    """ส่งฉบับแก้ไข: a new document, linked to the returned one it replaces."""
    own_document_or_403(user, returned)
    if returned.status != RETURNED:
        raise RuleError(_l("ส่งฉบับแก้ไขได้เฉพาะเอกสารที่ถูกส่งกลับแก้ไข"))
    indicator = returned.indicator
    return _store_upload(
        storage, user, indicator, returned.round_months, title, upload, replaces=returned
    )


def own_document_or_403(user: User, document: Document) -> None:
    """The uploader, while still a reporter of the indicator, may change their document."""
    if document.uploaded_by_id != user.id or not is_assigned(user, document.indicator):
        raise RuleError(_l("แก้ไขหรือลบได้เฉพาะเอกสารที่คุณส่งเอง"), status=403)


NOT_EDITABLE = _l("เอกสารนี้ได้รับแล้วหรือถูกส่งกลับแก้ไขแล้ว จึงแก้ไขหรือลบไม่ได้")


def rename_document(user: User, document: Document, title: str) -> None:
    own_document_or_403(user, document)
    ensure_open(document.indicator.fiscal_year)
    title = clean_title(title)
    old_title = document.title
    # Conditional on 'still sent', so a receipt or return that lands first always wins.
    result = db.session.execute(
        update(Document)
        .where(Document.id == document.id, Document.status == SENT)
        .values(title=title)
    )
    if result.rowcount != 1:
        db.session.rollback()
        raise RuleError(NOT_EDITABLE)
    audit.record(
        "document_renamed",
        actor=user,
        obj=document,
        indicator_id=document.indicator_id,
        old_title=old_title,
        new_title=title,
    )
    db.session.commit()


def delete_document(storage, user: User, document: Document) -> None:
    own_document_or_403(user, document)
    ensure_open(document.indicator.fiscal_year)
    stored_name, title, indicator_id = document.stored_name, document.title, document.indicator_id
    document_id, replaces_id = document.id, document.replaces_id
    result = db.session.execute(
        delete(Document).where(Document.id == document_id, Document.status == SENT)
    )
    if result.rowcount != 1:
        db.session.rollback()
        raise RuleError(NOT_EDITABLE)
    if replaces_id is not None:
        # Deleting a revision hands the returned original back to the reporter, reason and
        # all, instead of leaving it replaced by nothing.
        db.session.execute(
            update(Document)
            .where(Document.id == replaces_id, Document.status == REPLACED)
            .values(status=RETURNED)
        )
    audit.record(
        "document_deleted",
        actor=user,
        indicator_id=indicator_id,
        title=title,
        document=document_id,
    )
    db.session.commit()
    # Only after the row is gone: a failed commit must not leave a row without its file.
    try:
        storage.delete(stored_name)
    except OSError:  # the deletion stands; a leftover file is only disk space
        current_app.logger.exception("removing %s failed", stored_name)


def default_title(filename: str) -> str:
    """The title of a file sent without one: its cleaned name without the extension."""
    name = clean_filename(filename or "")
    stem, dot, _ext = name.rpartition(".")
    return " ".join(clean_text(stem if dot else name).split())[:255]


@dataclass
class Outcome:
    """One file of a batch: the document it became, or why it was refused (and the status)."""

    name: str
    document: Document | None = None
    reason: str | None = None
    status: int = 200


def send_documents(storage, user: User, indicator: Indicator, round_months, items) -> list[Outcome]:
    """Several files in one go: (title, upload) pairs, each stored or refused on its own.

    Each file is its own send_document call and transaction, so a refused file costs the
    others nothing. A blank title becomes the file's name.
    """
    outcomes = []
    for title, upload in items:
        filename = upload.filename if upload is not None else ""
        outcome = Outcome(clean_filename(filename) if filename else "")
        if not filename:
            outcome.reason, outcome.status = str(_l("กรุณาเลือกไฟล์แนบ")), 400
            outcomes.append(outcome)
            continue
        if not " ".join(clean_text(title or "").split()):
            title = default_title(filename)
        try:
            outcome.document = send_document(storage, user, indicator, round_months, title, upload)
        except FileTooLarge as error:
            mb = error.max_bytes // (1024 * 1024)
            outcome.reason = str(_l("ขนาดไฟล์ต้องไม่เกิน %(mb)s MB กรุณาลดขนาดไฟล์แล้วส่งใหม่", mb=mb))
            outcome.status = 413
        except RuleError as error:
            outcome.reason, outcome.status = error.message, error.status
        outcomes.append(outcome)
    return outcomes
