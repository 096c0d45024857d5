"""Which staff are indicator reporters (ผู้รายงานตัวชี้วัด) and which are general staff."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

import audit
from errors import RuleError
from extensions import db
from models import GENERAL, REPORTER, FiscalYear, Indicator, User, indicator_reporters
from text import clean_text
from thai import code_sort_key, thai_sort_key

STATUSES = (REPORTER, GENERAL)


def list_staff(query: str = "", position: str = "") -> list[User]:
    """Active staff in Thai dictionary order of their names, filtered by name and work group."""
    stmt = select(User).where(User.active.is_(True))
    query, position = clean_text(query).strip(), clean_text(position)
    if query:
        stmt = stmt.where(func.lower(User.full_name).contains(query.lower(), autoescape=True))
    if position:
        stmt = stmt.where(User.position == position)
    return sorted(db.session.scalars(stmt), key=lambda u: thai_sort_key(u.full_name))


def positions() -> list[str]:
    stmt = select(User.position).where(User.active.is_(True), User.position != "").distinct()
    return sorted(db.session.scalars(stmt), key=thai_sort_key)


def reported_indicators(user: User) -> list[Indicator]:
    """Indicators of open years this person reports on (closed years are history)."""
    stmt = (
        select(Indicator)
        .join(indicator_reporters, indicator_reporters.c.indicator_id == Indicator.id)
        .join(FiscalYear, FiscalYear.year == Indicator.fiscal_year)
        .where(indicator_reporters.c.user_id == user.id, FiscalYear.closed_at.is_(None))
    )
    return sorted(db.session.scalars(stmt), key=lambda i: (i.fiscal_year, code_sort_key(i.code)))


def set_reporter_status(admin: User, user: User, status: str) -> None:
    if status not in STATUSES:
        raise RuleError(_l("กรุณาเลือก ผู้รายงานตัวชี้วัด หรือ จนท.ทั่วไป"), status=400)
    if status == GENERAL:
        still = reported_indicators(user)
        if still:
            names = ", ".join(f"{i.code} {i.name} ({i.fiscal_year})" for i in still)
            raise RuleError(
                _l(
                    "ไม่สามารถเปลี่ยน %(name)s เป็น จนท.ทั่วไป ได้ เพราะยังเป็นผู้รายงานตัวชี้วัด: "
                    "%(indicators)s กรุณานำออกจากตัวชี้วัดเหล่านี้ก่อน",
                    name=user.full_name,
                    indicators=names,
                )
            )
    old = user.reporter_status
    user.reporter_status = status
    audit.record("role_changed", actor=admin, obj=user, name=user.full_name, old=old, new=status)
    db.session.commit()
