"""The Thai calendar, dates and sort orders, computed by us rather than the server's locale."""

import re
from datetime import UTC, date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import icu

BANGKOK = ZoneInfo("Asia/Bangkok")
THAI_MONTHS_SHORT = (
    "ม.ค.",
    "ก.พ.",
    "มี.ค.",
    "เม.ย.",
    "พ.ค.",
    "มิ.ย.",
    "ก.ค.",
    "ส.ค.",
    "ก.ย.",
    "ต.ค.",
    "พ.ย.",
    "ธ.ค.",
)
BE_OFFSET = 543


def now_utc() -> datetime:
    return datetime.now(UTC)


def bangkok_date(moment: datetime) -> date:
    """The calendar day in Bangkok of an aware moment: what staff call 'today'."""
    return moment.astimezone(BANGKOK).date()


def fiscal_year(moment: datetime | date | None = None) -> int:
    """Buddhist-era fiscal year; it starts on 1 October in Bangkok."""
    if moment is None:
        moment = now_utc()
    day = bangkok_date(moment) if isinstance(moment, datetime) else moment
    return day.year + BE_OFFSET + (1 if day.month >= 10 else 0)


def thai_date(moment: datetime | date | None) -> str:
    """'23 พ.ย. 2569': day, short Thai month, Buddhist-era year, in Bangkok."""
    if moment is None:
        return "-"
    day = bangkok_date(moment) if isinstance(moment, datetime) else moment
    return f"{day.day} {THAI_MONTHS_SHORT[day.month - 1]} {day.year + BE_OFFSET}"


def thai_datetime(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    local = moment.astimezone(BANGKOK)
    return f"{thai_date(local.date())} {local:%H:%M} น."


@lru_cache(maxsize=1)
def _collator():
    # ICU's Thai rules order เ แ โ ใ ไ by the consonant that follows, as dictionaries do.
    return icu.Collator.createInstance(icu.Locale("th_TH"))


def thai_sort_key(text: str) -> bytes:
    return _collator().getSortKey(text or "")


_CODE_PART = re.compile(r"([0-9]+)")


@lru_cache(maxsize=8192)  # asked for every indicator of a year on each list page
def code_sort_key(code: str) -> tuple:
    """Natural order for indicator codes: 1.2 before 1.10, 7.1 before 7.1B."""
    parts = _CODE_PART.split(code.strip().lower())
    return tuple((0, int(p), "") if p.isascii() and p.isdigit() else (1, 0, p) for p in parts if p)


def normalize_code(code: str) -> str:
    return code.strip().lower()
