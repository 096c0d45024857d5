"""รับเอกสารรายงานตัวชี้วัด: receivers check and store (จัดเก็บ) the documents of their indicators."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select, update
from sqlalchemy.orm import selectinload

from errors import RuleError
from extensions import db
from models import RECEIVED, SENT, Document, Indicator, User, indicator_reporters
from thai import code_sort_key, now_utc


def receivable(user: User):
    """The indicators this user receives: all of them for the admin."""
    stmt = select(Indicator)
    return stmt if user.is_admin else stmt.where(Indicator.receiver_id == user.id)


def can_receive(user: User, indicator: Indicator) -> bool:
    return user.is_admin or indicator.receiver_id == user.id


def can_download(user: User, document: Document) -> bool:
    """Receivers and the admin, the uploader, and the indicator's other reporters."""
    if can_receive(user, document.indicator) or document.uploaded_by_id == user.id:
        return True
    return (
        db.session.scalar(
            select(indicator_reporters.c.user_id).where(
                indicator_reporters.c.indicator_id == document.indicator_id,
                indicator_reporters.c.user_id == user.id,
            )
        )
        is not None
    )


def _counts(user: User, year: int):
    """(indicator_id, round, stored, waiting) for the user's indicators, in one grouped query."""
    ids = receivable(user).where(Indicator.fiscal_year == year).with_only_columns(Indicator.id)
    return db.session.execute(
        select(
            Document.indicator_id,
            Document.round_months,
            func.sum(case((Document.status == RECEIVED, 1), else_=0)),
            func.sum(case((Document.status == SENT, 1), else_=0)),
        )
        .where(Document.indicator_id.in_(ids))
        .group_by(Document.indicator_id, Document.round_months)
    ).all()


def round_totals(user: User, year: int, rounds) -> dict[int, tuple[int, int]]:
    totals = {months: [0, 0] for months in rounds}
    for _indicator_id, months, stored, waiting in _counts(user, year):
        if months in totals:
            totals[months][0] += int(stored or 0)
            totals[months][1] += int(waiting or 0)
    return {months: tuple(pair) for months, pair in totals.items()}


def round_indicators(user: User, year: int, months: int) -> list[tuple[Indicator, int, int]]:
    """Each receivable indicator with its stored and waiting counts for one round."""
    counts = {
        indicator_id: (int(stored or 0), int(waiting or 0))
        for indicator_id, round_months, stored, waiting in _counts(user, year)
        if round_months == months
    }
    stmt = receivable(user).where(Indicator.fiscal_year == year)
    indicators = sorted(db.session.scalars(stmt), key=lambda i: code_sort_key(i.code))
    return [(i, *counts.get(i.id, (0, 0))) for i in indicators]


def round_documents(indicator: Indicator, months: int) -> list[Document]:
    stmt = (
        select(Document)
        .where(Document.indicator_id == indicator.id, Document.round_months == months)
        .options(selectinload(Document.uploaded_by), selectinload(Document.received_by))
        .order_by(Document.uploaded_at, Document.id)
    )
    return list(db.session.scalars(stmt))


def store_document(user: User, document: Document) -> None:
    """จัดเก็บ: exactly one receipt, even when two people press it at once."""
    if not can_receive(user, document.indicator):
        raise RuleError(_l("คุณไม่ได้เป็นผู้รับข้อมูลของตัวชี้วัดนี้"), status=403)
    result = db.session.execute(
        update(Document)
        .where(Document.id == document.id, Document.status == SENT)
        .values(status=RECEIVED, received_by_id=user.id, received_at=now_utc())
    )
    if result.rowcount != 1:
        db.session.rollback()
        raise RuleError(_l("เอกสารนี้จัดเก็บไปแล้ว"))
    db.session.commit()
