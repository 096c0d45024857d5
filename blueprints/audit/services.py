"""ประวัติการใช้งาน: read the audit trail, filtered, newest first (never edit it)."""

from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from audit import ACTIONS
from extensions import db
from models import AuditEntry, Indicator, User
from thai import BANGKOK, code_sort_key, thai_sort_key


def parse_day(raw: str | None) -> date | None:
    """A filter day; anything unreadable or outside any office's records means 'no filter'."""
    try:
        day = date.fromisoformat(raw) if raw else None
    except ValueError:
        return None
    return day if day and 1900 <= day.year <= 2200 else None


def search(user_id=None, action=None, indicator_id=None, since=None, until=None):
    """The filtered query; days are Bangkok days, converted to the UTC we store."""
    stmt = select(AuditEntry).options(selectinload(AuditEntry.actor))
    if user_id:
        stmt = stmt.where(AuditEntry.actor_id == user_id)
    if action in ACTIONS:
        stmt = stmt.where(AuditEntry.action == action)
    if indicator_id:
        stmt = stmt.where(AuditEntry.indicator_id == indicator_id)
    if since:
        stmt = stmt.where(AuditEntry.at >= datetime.combine(since, time(), BANGKOK))
    if until:
        end = datetime.combine(until + timedelta(days=1), time(), BANGKOK)
        stmt = stmt.where(AuditEntry.at < end)
    return stmt.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())


def indicators() -> list[Indicator]:
    """Every indicator ever recorded, newest year first, for the filter's list."""
    rows = db.session.scalars(select(Indicator))
    return sorted(rows, key=lambda i: (-i.fiscal_year, code_sort_key(i.code)))


def people() -> list[User]:
    return sorted(db.session.scalars(select(User)), key=lambda u: thai_sort_key(u.full_name))
