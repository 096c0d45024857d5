"""The year's status report as .xlsx: one row per indicator and round, every user text as text."""

import io
from datetime import UTC, datetime

from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import case, func, select
from sqlalchemy.orm import selectinload

from extensions import db
from labels import ROUND_LABELS
from language import local_date
from models import RECEIVED, REPLACED, RETURNED, SENT, Document, Indicator, Round, User
from thai import code_sort_key, thai_sort_key

from .services import receivable

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def report_rows(user: User, year: int) -> list[list]:
    """[code, name, round, receiver, reporters, sent, returned, received, last sent, due,
    handed over] for each indicator the user receives and each round of the year."""
    indicators = list(
        db.session.scalars(
            receivable(user)
            .where(Indicator.fiscal_year == year)
            .options(selectinload(Indicator.receiver), selectinload(Indicator.reporters))
        )
    )
    indicators.sort(key=lambda i: code_sort_key(i.code))
    rounds = list(
        db.session.scalars(
            select(Round)
            .where(Round.fiscal_year == year)
            .options(selectinload(Round.handed_over_by))
            .order_by(Round.months)
        )
    )
    counts = {
        (indicator_id, months): (int(sent or 0), int(returned or 0), int(received or 0), last)
        for indicator_id, months, sent, returned, received, last in db.session.execute(
            select(
                Document.indicator_id,
                Document.round_months,
                func.sum(case((Document.status == SENT, 1), else_=0)),
                func.sum(case((Document.status == RETURNED, 1), else_=0)),
                func.sum(case((Document.status == RECEIVED, 1), else_=0)),
                func.max(Document.uploaded_at),
            )
            .where(
                Document.indicator_id.in_([i.id for i in indicators]),
                Document.status != REPLACED,
            )
            .group_by(Document.indicator_id, Document.round_months)
        )
    }
    rows = []
    for indicator in indicators:
        reporters = ", ".join(sorted((u.full_name for u in indicator.reporters), key=thai_sort_key))
        for round_row in rounds:
            sent, returned, received, last = counts.get(
                (indicator.id, round_row.months), (0, 0, 0, None)
            )
            if isinstance(last, str):  # SQLite hands an aggregate back as text
                last = datetime.fromisoformat(last)
            if last is not None and last.tzinfo is None:  # an aggregate skips UTCDateTime
                last = last.replace(tzinfo=UTC)
            handed = (
                _("ส่งระบบ สพฐ. แล้ว %(day)s", day=local_date(round_row.handed_over_at))
                if round_row.handed_over_at
                else ""
            )
            rows.append(
                [
                    indicator.code,
                    indicator.name,
                    str(ROUND_LABELS[round_row.months]),
                    indicator.receiver.full_name,
                    reporters,
                    sent,
                    returned,
                    received,
                    local_date(last) if last is not None else "",
                    local_date(round_row.due_date),
                    handed,
                ]
            )
    return rows


def headings() -> list[str]:
    return [
        _("รหัสตัวชี้วัด"),
        _("ชื่อตัวชี้วัด"),
        _("รอบ"),
        _("ผู้รับข้อมูล"),
        _("ผู้รายงาน"),
        _("ส่งแล้ว (รอจัดเก็บ)"),
        _("ส่งกลับแก้ไข"),
        _("รับแล้ว"),
        _("ส่งล่าสุด"),
        _("ครบกำหนด"),
        _("ส่งระบบ สพฐ."),
    ]


def build_xlsx(user: User, year: int, title: str) -> bytes:
    """The workbook's bytes. Each text cell is typed as a string (and quote-prefixed), so an
    indicator named '=HYPERLINK(...)' is shown as those characters, never run as a formula."""
    book = Workbook()
    sheet = book.active
    sheet.title = title[:31]
    sheet.append([])  # row 1 takes the headings, written as text below
    for column, heading in enumerate(headings(), start=1):
        text_cell(sheet.cell(row=1, column=column), heading).font = Font(bold=True)
    for r, row in enumerate(report_rows(user, year), start=2):
        for column, value in enumerate(row, start=1):
            target = sheet.cell(row=r, column=column)
            if isinstance(value, int):
                target.value = value
            else:
                text_cell(target, value)
    sheet.freeze_panes = "A2"
    for letter, width in zip(
        "ABCDEFGHIJK", (10, 50, 14, 24, 40, 10, 10, 10, 14, 14, 24), strict=True
    ):
        sheet.column_dimensions[letter].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def text_cell(target, value: str):
    target.value = value
    target.data_type = "s"  # openpyxl takes a leading '=' for a formula unless told
    if value[:1] in ("=", "+", "-", "@"):
        target.quotePrefix = True  # Excel keeps it text when the cell is edited, too
    return target
