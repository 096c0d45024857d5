"""รับเอกสารรายงานตัวชี้วัด: receivers store (จัดเก็บ) or return (ส่งกลับแก้ไข) each document."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, or_, select, update
from sqlalchemy.orm import selectinload

import audit
import notifications
from blueprints.send.services import is_assigned
from blueprints.years.services import ensure_open
from errors import RuleError
from extensions import db
from models import RECEIVED, RETURNED, SENT, Document, Indicator, User
from pagination import Page, paginate
from text import clean_text
from thai import code_sort_key, now_utc

MAX_REASON = 2000


def receivable(user: User):
    """The indicators this user receives: all of them for the admin."""
    stmt = select(Indicator)
    return stmt if user.is_admin else stmt.where(Indicator.receiver_id == user.id)


def can_receive(user: User, indicator: Indicator) -> bool:
    return user.is_admin or indicator.receiver_id == user.id


def can_view(user: User, document: Document) -> bool:
    """Receivers and the admin, the uploader, and the indicator's other reporters."""
    if can_receive(user, document.indicator) or document.uploaded_by_id == user.id:
        return True
    return is_assigned(user, document.indicator)


def round_totals(user: User, year: int, rounds) -> dict[int, tuple[int, int]]:
    """{round: (stored, waiting)} over the user's indicators of the year, in one grouped
    query that reads only the documents' (indicator, round, status) index."""
    ids = receivable(user).where(Indicator.fiscal_year == year).with_only_columns(Indicator.id)
    totals = {months: [0, 0] for months in rounds}
    for months, status, n in db.session.execute(
        select(Document.round_months, Document.status, func.count())
        .where(Document.indicator_id.in_(ids), Document.status.in_((RECEIVED, SENT)))
        .group_by(Document.round_months, Document.status)
    ):
        if months in totals:
            totals[months][0 if status == RECEIVED else 1] += int(n)
    return {months: tuple(pair) for months, pair in totals.items()}


def round_indicators(user: User, year: int, months: int) -> Page:
    """One page of the receivable indicators, each with its stored and waiting counts for
    one round.

    The order (codes in natural order, sorted in Python) needs only ids and codes; whole
    rows and counts are loaded for the page's indicators alone, so a year of 600
    indicators costs what a year of 60 does.
    """
    stmt = receivable(user).where(Indicator.fiscal_year == year)
    order = db.session.execute(stmt.with_only_columns(Indicator.id, Indicator.code)).all()
    order.sort(key=lambda row: code_sort_key(row.code))
    page = paginate([row.id for row in order])
    if not page.items:
        return page
    # The list shows code and name only: plain rows, no ORM objects to build.
    shown = select(Indicator.id, Indicator.code, Indicator.name).where(Indicator.id.in_(page.items))
    rows = {row.id: row for row in db.session.execute(shown)}
    counts = {
        indicator_id: (int(stored or 0), int(waiting or 0))
        for indicator_id, stored, waiting in db.session.execute(
            select(
                Document.indicator_id,
                func.sum(case((Document.status == RECEIVED, 1), else_=0)),
                func.sum(case((Document.status == SENT, 1), else_=0)),
            )
            .where(Document.indicator_id.in_(page.items), Document.round_months == months)
            .group_by(Document.indicator_id)
        )
    }
    # An indicator deleted between the two reads is left out, not a KeyError.
    page.items = [(rows[i], *counts.get(i, (0, 0))) for i in page.items if i in rows]
    return page


def round_documents(indicator: Indicator, months: int) -> list[Document]:
    """The round's current documents; replaced ones live on in their revision's history."""
    stmt = (
        select(Document)
        .where(
            Document.indicator_id == indicator.id,
            Document.round_months == months,
            Document.status != "replaced",
        )
        .options(
            selectinload(Document.uploaded_by),
            selectinload(Document.received_by),
            selectinload(Document.returned_by),
        )
        .order_by(Document.uploaded_at, Document.id)
    )
    return list(db.session.scalars(stmt))


def _transition(document: Document, from_status: str, values: dict) -> bool:
    """Move a document between states only if it is still in `from_status`.

    One conditional UPDATE whose row count decides: when the receiver and the admin act on
    the same document at once, exactly one of them changes it.
    """
    result = db.session.execute(
        update(Document)
        .where(Document.id == document.id, Document.status == from_status)
        .values(**values)
    )
    if result.rowcount != 1:
        db.session.rollback()
        return False
    return True


def _check_receiver(user: User, document: Document) -> None:
    if not can_receive(user, document.indicator):
        raise RuleError(_l("คุณไม่ได้เป็นผู้รับข้อมูลของตัวชี้วัดนี้"), status=403)
    ensure_open(document.indicator.fiscal_year)


ALREADY_HANDLED = _l("เอกสารนี้มีผู้ดำเนินการไปแล้ว (จัดเก็บหรือส่งกลับแก้ไข) กรุณาดูสถานะล่าสุด")


def store_document(user: User, document: Document) -> None:
    """จัดเก็บ: the document is received; the reporter sees รับแล้ว."""
    _check_receiver(user, document)
    values = {"status": RECEIVED, "received_by_id": user.id, "received_at": now_utc()}
    if not _transition(document, SENT, values):
        raise RuleError(ALREADY_HANDLED)
    notifications.document_decided(user, document, "document_received")
    audit.record_document("document_received", user, document)
    db.session.commit()


def clean_reason(reason: str | None) -> str:
    reason = clean_text(reason or "").strip()
    if not reason:
        raise RuleError(_l("กรุณากรอกเหตุผล"), status=400)
    if len(reason) > MAX_REASON:
        raise RuleError(_l("เหตุผลยาวเกิน %(n)s ตัวอักษร", n=MAX_REASON), status=400)
    return reason


def return_document(user: User, document: Document, reason: str) -> None:
    """ส่งกลับแก้ไข: the reporter is asked, in writing, for a corrected file."""
    _check_receiver(user, document)
    reason = clean_reason(reason)
    values = {
        "status": RETURNED,
        "return_reason": reason,
        "returned_by_id": user.id,
        "returned_at": now_utc(),
    }
    if not _transition(document, SENT, values):
        raise RuleError(ALREADY_HANDLED)
    notifications.document_decided(user, document, "document_returned", reason=reason)
    audit.record_document("document_returned", user, document, reason=reason)
    db.session.commit()


def undo_receipt(user: User, document: Document, reason: str) -> None:
    """Only the admin takes a receipt back; the document is ส่งแล้ว again."""
    if not user.is_admin:
        raise RuleError(_l("เฉพาะผู้ดูแลระบบเท่านั้นที่ยกเลิกการรับได้"), status=403)
    ensure_open(document.indicator.fiscal_year)
    reason = clean_reason(reason)
    values = {"status": SENT, "received_by_id": None, "received_at": None}
    if not _transition(document, RECEIVED, values):
        raise RuleError(_l("เอกสารนี้ไม่ได้อยู่ในสถานะรับแล้ว"))
    audit.record_document("receipt_undone", user, document, reason=reason)
    db.session.commit()


def record_download(user: User, document: Document) -> None:
    audit.record_document("document_downloaded", user, document)
    db.session.commit()


def history(document: Document) -> list[Document]:
    """Every version of a document, oldest first: the returned ones and their revisions.

    Versions share indicator and round, so one query loads them all; the chain is then
    followed in memory (no query per version).
    """
    stmt = (
        select(Document)
        .where(
            Document.indicator_id == document.indicator_id,
            Document.round_months == document.round_months,
            or_(
                Document.replaces_id.is_not(None),
                Document.status.in_(("returned", "replaced")),
                Document.id == document.id,
            ),
        )
        .options(
            selectinload(Document.uploaded_by),
            selectinload(Document.received_by),
            selectinload(Document.returned_by),
        )
    )
    by_id = {d.id: d for d in db.session.scalars(stmt)}
    revision_of = {d.replaces_id: d for d in by_id.values() if d.replaces_id}
    first = document
    while first.replaces_id in by_id and len(by_id) > 0:
        first = by_id[first.replaces_id]
        if first is document:  # a cycle cannot be stored, but never loop on one
            break
    chain = [first]
    while chain[-1].id in revision_of and len(chain) <= len(by_id):
        chain.append(revision_of[chain[-1].id])
    return chain
