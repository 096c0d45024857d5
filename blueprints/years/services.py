"""Fiscal years and their rounds: open, copy indicators into, set due dates, close."""

from datetime import date, datetime, time, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

import audit
from errors import RuleError
from extensions import db
from language import fiscal_year_label, local_date
from models import (
    OPTIONAL_ROUND_MONTHS,
    ROUND_MONTHS,
    Document,
    FiscalYear,
    Indicator,
    Round,
    User,
    utcnow,
)
from text import small_int
from thai import BANGKOK, BE_OFFSET, fiscal_year, normalize_code

DUE_AFTER_PERIOD = timedelta(days=15)
MIN_YEAR, MAX_YEAR = 2500, 2700  # Buddhist era; the URL converters say the same


def period_end(year: int, months: int) -> date:
    """Last day of a round's period: the fiscal year starts 1 October of CE year - 1."""
    first = date(year - BE_OFFSET - 1, 10, 1)
    month_index = first.month - 1 + months  # months after January of the start year
    next_start = date(first.year + month_index // 12, month_index % 12 + 1, 1)
    return next_start - timedelta(days=1)


def default_due_date(year: int, months: int) -> date:
    return period_end(year, months) + DUE_AFTER_PERIOD


def known_years() -> list[int]:
    """Every fiscal year the office has run, newest first (the year switch's links)."""
    return list(db.session.scalars(select(FiscalYear.year).order_by(FiscalYear.year.desc())))


def selected_year(raw: str | None) -> int:
    """The year a page is about: ?year= when sane, else the current fiscal year if opened,
    else the newest year there is."""
    year = small_int(raw)
    if year is not None and MIN_YEAR <= year <= MAX_YEAR:
        return year
    current = fiscal_year()
    years = known_years()
    if current in years or not years:
        return current
    return max(y for y in years if y <= current) if min(years) <= current else years[-1]


def get_year(year: int) -> FiscalYear | None:
    return db.session.get(FiscalYear, year)


def all_years() -> list[FiscalYear]:
    stmt = select(FiscalYear).options(selectinload(FiscalYear.rounds)).order_by(FiscalYear.year)
    return list(db.session.scalars(stmt).all())[::-1]


def open_years() -> list[int]:
    stmt = select(FiscalYear.year).where(FiscalYear.closed_at.is_(None)).order_by(FiscalYear.year)
    return list(db.session.scalars(stmt))


def ensure_open(year: int) -> None:
    """Every write into a fiscal year passes here: closed years are read-only.

    The share lock (PostgreSQL, MariaDB) makes a concurrent close wait for this write's
    transaction, and this write wait for a close already under way; SQLite's up-front
    write lock serializes them anyway.
    """
    row = db.session.scalar(
        select(FiscalYear).where(FiscalYear.year == year).with_for_update(read=True)
    )
    if row is None:
        raise RuleError(_l("ยังไม่ได้เปิดปีงบประมาณ %(year)s", year=fiscal_year_label(year)), status=409)
    if not row.is_open:
        raise RuleError(
            _l("ปีงบประมาณ %(year)s ปิดแล้ว ดูได้อย่างเดียว แก้ไขไม่ได้", year=fiscal_year_label(year)),
            status=409,
        )


def rounds_of(year: int) -> list[Round]:
    return list(
        db.session.scalars(select(Round).where(Round.fiscal_year == year).order_by(Round.months))
    )


def round_of(year: int, months: int) -> Round | None:
    return db.session.get(Round, (year, months))


def create_year(year: int) -> FiscalYear:
    """A fiscal year with the default rounds (no commit: the caller's transaction)."""
    row = FiscalYear(year=year)
    db.session.add(row)
    for months in ROUND_MONTHS:
        db.session.add(
            Round(fiscal_year=year, months=months, due_date=default_due_date(year, months))
        )
    return row


def bootstrap_current_year() -> None:
    """A new installation starts with the current fiscal year open; later years are opened
    by the admin. Does nothing once any year exists."""
    if db.session.scalar(select(func.count(FiscalYear.year))) == 0:
        create_year(fiscal_year())
        db.session.commit()


def next_year_to_open() -> int:
    latest = db.session.scalar(select(func.max(FiscalYear.year)))
    return fiscal_year() if latest is None else latest + 1


def open_next_year(admin: User, year: int) -> FiscalYear:
    """Open `year`, which must be the next one: a double click opens one year, not two."""
    if year != next_year_to_open():
        raise RuleError(_l("ปีงบประมาณ %(year)s เปิดไปแล้ว", year=fiscal_year_label(year)))
    row = create_year(year)
    audit.record("year_opened", actor=admin, year=year)
    _commit_or_refuse(_l("ปีงบประมาณ %(year)s เปิดไปแล้ว", year=fiscal_year_label(year)))
    return row


def _commit_or_refuse(message) -> None:
    """Commit; if a concurrent request got there first, the constraint's answer is a 409."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise RuleError(message) from None


def close_year(admin: User, year: int, today: date) -> None:
    # Exclusive lock first (never a shared one upgraded: two closes would deadlock); it
    # waits for writes into the year that are under way.
    row = db.session.scalar(select(FiscalYear).where(FiscalYear.year == year).with_for_update())
    if row is None or not row.is_open:
        ensure_open(year)  # raises the right message
    pending = db.session.scalar(
        select(func.count(Document.id))
        .join(Indicator, Indicator.id == Document.indicator_id)
        .where(Indicator.fiscal_year == year, Document.status == "sent")
    )
    if pending:
        # Receivers' work first; a document returned and never revised does not hold the
        # year open forever (its reporter may have left).
        raise RuleError(
            _l(
                "ยังปิดปีงบประมาณ %(year)s ไม่ได้ มีเอกสารรอจัดเก็บ %(n)s รายการ",
                year=fiscal_year_label(year),
                n=pending,
            )
        )
    last_due = db.session.scalar(select(func.max(Round.due_date)).where(Round.fiscal_year == year))
    if last_due is not None and today < last_due:
        raise RuleError(
            _l(
                "ยังปิดปีงบประมาณ %(year)s ไม่ได้ จนกว่าจะถึงวันครบกำหนดรอบสุดท้าย (%(due)s)",
                year=fiscal_year_label(year),
                due=local_date(last_due),
            )
        )
    row.closed_at = utcnow()
    row.closed_by_id = admin.id
    audit.record("year_closed", actor=admin, year=year)
    db.session.commit()


def add_round(admin: User, year: int, months: int) -> Round:
    ensure_open(year)
    if months not in OPTIONAL_ROUND_MONTHS + ROUND_MONTHS:
        raise RuleError(_l("รอบการรายงานไม่ถูกต้อง"), status=400)
    if round_of(year, months) is not None:
        raise RuleError(_l("ปีงบประมาณนี้มีรอบนี้อยู่แล้ว"))
    row = Round(fiscal_year=year, months=months, due_date=default_due_date(year, months))
    db.session.add(row)
    audit.record("round_added", actor=admin, year=year, round=months)
    _commit_or_refuse(_l("ปีงบประมาณนี้มีรอบนี้อยู่แล้ว"))
    return row


def set_due_date(admin: User, year: int, months: int, due: date) -> None:
    ensure_open(year)
    row = round_of(year, months)
    if row is None:
        raise RuleError(_l("ไม่พบรอบการรายงานนี้"), status=404)
    if (
        due < period_end(year, months) - timedelta(days=366)
        or due.year > period_end(year, months).year + 2
    ):
        raise RuleError(_l("วันครบกำหนดไม่สมเหตุสมผล กรุณาตรวจสอบปี (ค.ศ./พ.ศ.)"), status=400)
    row.due_date = due
    # 'Late' is measured against the due date in force: moving it re-judges what was sent.
    cutoff = datetime.combine(due + timedelta(days=1), time(), BANGKOK)
    in_round = select(Indicator.id).where(Indicator.fiscal_year == year)
    db.session.execute(
        update(Document)
        .where(Document.indicator_id.in_(in_round), Document.round_months == months)
        .values(late=Document.uploaded_at >= cutoff)
    )
    audit.record("due_date_set", actor=admin, year=year, round=months, due=due.isoformat())
    db.session.commit()


def copy_indicators(admin: User, source: int, target: int) -> tuple[int, int]:
    """Copy a year's indicators, receivers and reporters; codes the target has are skipped.

    Returns (copied, skipped). Staff who have left are not carried over.
    """
    ensure_open(target)
    if source >= target or get_year(source) is None:
        raise RuleError(_l("กรุณาเลือกปีงบประมาณต้นทางที่ถูกต้อง"), status=400)
    existing = set(
        db.session.scalars(select(Indicator.code_key).where(Indicator.fiscal_year == target))
    )
    stmt = (
        select(Indicator)
        .where(Indicator.fiscal_year == source)
        .options(selectinload(Indicator.reporters), selectinload(Indicator.receiver))
    )
    copied = skipped = 0
    for old in db.session.scalars(stmt).all():
        if normalize_code(old.code) in existing or not old.receiver.active:
            skipped += 1
            continue
        db.session.add(
            Indicator(
                fiscal_year=target,
                category=old.category,
                code=old.code,
                code_key=old.code_key,
                name=old.name,
                receiver_id=old.receiver_id,
                reporters=[u for u in old.reporters if u.active and u.is_reporter],
            )
        )
        copied += 1
    audit.record("indicators_copied", actor=admin, year=target, source=source, count=copied)
    _commit_or_refuse(_l("มีการคัดลอกตัวชี้วัดเข้าปีนี้พร้อมกัน กรุณาตรวจสอบแล้วลองอีกครั้ง"))
    return copied, skipped
