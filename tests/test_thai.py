"""Fiscal years and Thai dates at their boundaries, and the Thai orders the lists use."""

from datetime import UTC, date, datetime

import pytest

from thai import code_sort_key, fiscal_year, thai_date, thai_datetime, thai_sort_key


@pytest.mark.parametrize(
    ("moment", "year", "shown"),
    [
        # 17:00 UTC on 30 Sep is midnight of 1 Oct in Bangkok: the new fiscal year starts.
        (datetime(2026, 9, 30, 16, 59, tzinfo=UTC), 2569, "30 ก.ย. 2569"),
        (datetime(2026, 9, 30, 17, 0, tzinfo=UTC), 2570, "1 ต.ค. 2569"),
        # New Year in Bangkok: the calendar year turns, the fiscal year does not.
        (datetime(2026, 12, 31, 16, 59, tzinfo=UTC), 2570, "31 ธ.ค. 2569"),
        (datetime(2026, 12, 31, 17, 0, tzinfo=UTC), 2570, "1 ม.ค. 2570"),
        (datetime(2026, 11, 23, 3, 0, tzinfo=UTC), 2570, "23 พ.ย. 2569"),
    ],
)
def test_fiscal_year_and_thai_date_follow_bangkok(moment, year, shown):
    assert fiscal_year(moment) == year
    assert thai_date(moment) == shown


def test_fiscal_year_of_a_calendar_day():
    assert fiscal_year(date(2026, 10, 1)) == 2570
    assert fiscal_year(date(2026, 9, 30)) == 2569


def test_thai_datetime_shows_bangkok_clock():
    assert thai_datetime(datetime(2026, 11, 23, 3, 5, tzinfo=UTC)) == "23 พ.ย. 2569 10:05 น."


def test_names_sort_in_thai_dictionary_order():
    names = ["ไพโรจน์ ขยันยิ่ง", "แก้วตา ใจงาม", "กมล ดีงาม", "เอกชัย ศรีสุข", "โสภา แสงทอง", "ขวัญ ใจ"]
    # Leading vowels เ แ โ ใ ไ sort by the consonant after them: แก้วตา under ก, ไพโรจน์ under พ.
    assert sorted(names, key=thai_sort_key) == [
        "กมล ดีงาม",
        "แก้วตา ใจงาม",
        "ขวัญ ใจ",
        "ไพโรจน์ ขยันยิ่ง",
        "โสภา แสงทอง",
        "เอกชัย ศรีสุข",
    ]


def test_indicator_codes_sort_naturally():
    codes = ["1.10", "2", "1.2", "7.1B", "1.1.1", "7.1", "10"]
    assert sorted(codes, key=code_sort_key) == ["1.1.1", "1.2", "1.10", "2", "7.1", "7.1B", "10"]
