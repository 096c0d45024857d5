"""บันทึกตัวชี้วัด: indicators of a fiscal year, each with one receiver and its reporters."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

import audit
from blueprints.years.services import MAX_YEAR, MIN_YEAR, ensure_open
from errors import RuleError
from extensions import db
from language import fiscal_year_label
from models import Document, FiscalYear, Indicator, User
from pagination import Page, paginate
from text import clean_text
from thai import code_sort_key, normalize_code, thai_sort_key


def list_indicators(year: int) -> Page:
    """One page of the year's indicators, in code order, with receiver and reporters.

    Only ids and codes are read for the order; whole rows for the page alone, so the
    statements stay the same (and few) for a year of 600 indicators.
    """
    order = db.session.execute(
        select(Indicator.id, Indicator.code).where(Indicator.fiscal_year == year)
    ).all()
    order.sort(key=lambda row: code_sort_key(row.code))
    page = paginate([row.id for row in order])
    if not page.items:
        return page
    stmt = (
        select(Indicator)
        .where(Indicator.id.in_(page.items))
        .options(selectinload(Indicator.receiver), selectinload(Indicator.reporters))
    )
    by_id = {indicator.id: indicator for indicator in db.session.scalars(stmt)}
    # An indicator deleted between the two reads is left out, not a KeyError.
    page.items = [by_id[i] for i in page.items if i in by_id]
    for indicator in page.items:
        indicator.reporters.sort(key=lambda u: thai_sort_key(u.full_name))
    return page


def received_in_open_years(user: User) -> list[Indicator]:
    """Indicators of open years this person receives (someone must take them over)."""
    stmt = (
        select(Indicator)
        .join(FiscalYear, FiscalYear.year == Indicator.fiscal_year)
        .where(Indicator.receiver_id == user.id, FiscalYear.closed_at.is_(None))
    )
    return sorted(db.session.scalars(stmt), key=lambda i: (i.fiscal_year, code_sort_key(i.code)))


def receiver_choices() -> list[User]:
    stmt = select(User).where(User.active.is_(True))
    return sorted(db.session.scalars(stmt), key=lambda u: thai_sort_key(u.full_name))


def reporter_choices(indicator: Indicator | None = None) -> list[User]:
    """Active reporters, plus whoever the indicator already has (so an edit can keep them)."""
    stmt = select(User).where(User.active.is_(True), User.reporter_status == "reporter")
    users = {u.id: u for u in db.session.scalars(stmt)}
    for user in indicator.reporters if indicator else []:
        users.setdefault(user.id, user)
    return sorted(users.values(), key=lambda u: thai_sort_key(u.full_name))


def save_indicator(
    admin: User,
    indicator: Indicator | None,
    *,
    year: int,
    category: str,
    code: str,
    name: str,
    receiver_id: int | None,
    reporter_ids: list[int],
) -> Indicator:
    """Create (indicator=None) or update; every rule is checked here, whatever the form allowed."""
    code, name = clean_text(code).strip(), clean_text(name).strip()
    category = clean_text(category).strip() or "KRS"
    if not code or not name:
        raise RuleError(_l("กรุณากรอกรหัสและชื่อตัวชี้วัด"), status=400)
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise RuleError(_l("ปีงบประมาณไม่ถูกต้อง"), status=400)
    if indicator is not None and indicator.fiscal_year != year:
        ensure_open(indicator.fiscal_year)
        if has_documents(indicator):
            # Its documents belong to that year's rounds and due dates.
            raise RuleError(_l("ย้ายปีงบประมาณไม่ได้ เพราะตัวชี้วัดนี้มีเอกสารรายงานแล้ว"), status=409)
    ensure_open(year)
    receiver = db.session.get(User, receiver_id) if receiver_id else None
    if receiver is None or not receiver.active:
        raise RuleError(_l("กรุณาเลือก จนท.รับข้อมูลตัวชี้วัด หนึ่งคน"), status=400)
    allowed = {u.id: u for u in reporter_choices(indicator)}
    if not reporter_ids:
        raise RuleError(_l("กรุณาเลือก จนท.รายงานตัวชี้วัด อย่างน้อยหนึ่งคน"), status=400)
    if any(rid not in allowed for rid in reporter_ids):
        raise RuleError(_l("เลือกได้เฉพาะบุคลากรที่เป็นผู้รายงานตัวชี้วัด"), status=400)

    key = normalize_code(code)
    if len(key) > 32:  # lower() can lengthen some letters past the column
        raise RuleError(_l("รหัสตัวชี้วัดยาวเกิน 32 ตัวอักษร"), status=400)
    clash = select(
        exists().where(
            Indicator.fiscal_year == year,
            Indicator.code_key == key,
            Indicator.id != (indicator.id if indicator else 0),
        )
    )
    if db.session.scalar(clash):
        raise RuleError(
            _l("รหัสตัวชี้วัด %(code)s มีอยู่แล้วในปี %(year)s", code=code, year=fiscal_year_label(year))
        )

    action = "indicator_created" if indicator is None else "indicator_updated"
    if indicator is None:
        indicator = Indicator()
        db.session.add(indicator)
    indicator.fiscal_year, indicator.category = year, category
    indicator.code, indicator.code_key, indicator.name = code, key, name
    indicator.receiver = receiver
    indicator.reporters = [allowed[rid] for rid in dict.fromkeys(reporter_ids)]
    try:
        db.session.flush()
        audit.record(
            action,
            actor=admin,
            obj=indicator,
            indicator_id=indicator.id,
            code=code,
            name=name,
            year=year,
            receiver=receiver.id,
            reporters=sorted(set(reporter_ids)),
        )
        db.session.commit()
    except IntegrityError:
        # Two officers saving the same code at once: the unique constraint decides.
        db.session.rollback()
        raise RuleError(
            _l("รหัสตัวชี้วัด %(code)s มีอยู่แล้วในปี %(year)s", code=code, year=fiscal_year_label(year))
        ) from None
    return indicator


def has_documents(indicator: Indicator) -> bool:
    return db.session.scalar(select(exists().where(Document.indicator_id == indicator.id)))


def delete_indicator(admin: User, indicator: Indicator) -> None:
    ensure_open(indicator.fiscal_year)
    if has_documents(indicator):
        raise RuleError(
            _l(
                "ไม่สามารถลบตัวชี้วัด %(code)s ได้ เพราะมีเอกสารรายงานแล้ว",
                code=indicator.code,
            )
        )
    audit.record(
        "indicator_deleted",
        actor=admin,
        obj=indicator,
        indicator_id=indicator.id,
        code=indicator.code,
        name=indicator.name,
        year=indicator.fiscal_year,
    )
    db.session.delete(indicator)
    try:
        db.session.commit()
    except IntegrityError:
        # A document arrived between the check and the delete: the foreign key decides.
        db.session.rollback()
        raise RuleError(
            _l("ไม่สามารถลบตัวชี้วัด %(code)s ได้ เพราะมีเอกสารรายงานแล้ว", code=indicator.code)
        ) from None
