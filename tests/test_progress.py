"""Progress at a glance: the matrix of a year's indicators by rounds, its shares, filters,
chart and printable summary, for the receiver, the admin and the reporter."""

import re
from datetime import timedelta
from uuid import uuid4

import pytest

from blueprints.receive import progress
from blueprints.receive.services import receivable
from blueprints.years.services import create_year
from extensions import db
from models import RECEIVED, REPLACED, RETURNED, SENT, Document, Indicator, Round, utcnow
from tests.conftest import count_queries
from thai import bangkok_date, fiscal_year, normalize_code, now_utc


class Seed:
    """The seeded year, every state present (due dates relative to today, in Bangkok):

    round 3 (added) due 40 days ago, round 6 due yesterday, round 9 due today, round 12 in
    60 days. Indicators (code: receiver; reporters' group):
      1.1.1 world.indicator: receiver; world.reporter (กลุ่มอำนวยการ). Nothing sent.
      1.1   receiver; world.reporter. r6: received + replaced + its sent revision;
            r9: returned; r12: sent.
      1.2   receiver; a reporter of กลุ่มส่งเสริมการจัดการศึกษา. r3: 2 received; r6: returned.
      2.1   another receiver; world.reporter. r6: received (late).
      9.9   the officer; world.other_reporter. Nothing sent.
    """

    def __init__(self, world, make_user, make_indicator):
        self.world = world
        self.year = world.indicator.fiscal_year
        self.today = bangkok_date(now_utc())
        db.session.add(Round(fiscal_year=self.year, months=3, due_date=self.today))
        db.session.flush()
        dues = {3: -40, 6: -1, 9: 0, 12: 60}
        for row in db.session.scalars(db.select(Round).where(Round.fiscal_year == self.year)):
            row.due_date = self.today + timedelta(days=dues[row.months])
        db.session.commit()
        self.other_receiver = make_user("สมชาย รับดี", username="receiver2")
        self.promoter = make_user("มานี ส่งเสริม", position="กลุ่มส่งเสริมการจัดการศึกษา", status="reporter")
        r, rep = world.receiver, world.reporter
        self.a = make_indicator("1.1", "ตัวชี้วัดเอ", receiver=r, reporters=[rep])
        self.b = make_indicator("1.2", "ตัวชี้วัดบี", receiver=r, reporters=[self.promoter])
        self.c = make_indicator("2.1", "ตัวชี้วัดซี", receiver=self.other_receiver, reporters=[rep])
        first = self.doc(self.a, 6, REPLACED)
        db.session.flush()
        self.doc(self.a, 6, SENT, replaces_id=first.id)
        self.doc(self.a, 6, RECEIVED)
        self.doc(self.a, 9, RETURNED)
        self.doc(self.a, 12, SENT)
        self.doc(self.b, 3, RECEIVED)
        self.doc(self.b, 3, RECEIVED)
        self.doc(self.b, 6, RETURNED)
        self.doc(self.c, 6, RECEIVED, late=True)
        db.session.commit()

    def doc(self, indicator, months, status, **values) -> Document:
        receiver = self.world.receiver
        if status == RECEIVED:
            values.update(received_by_id=receiver.id, received_at=utcnow())
        if status in (RETURNED, REPLACED):
            values.update(returned_by_id=receiver.id, returned_at=utcnow(), return_reason="แก้")
        document = Document(
            indicator_id=indicator.id,
            round_months=months,
            title="เอกสาร",
            original_name="เอกสาร.pdf",
            stored_name=f"{uuid4().hex}.pdf",
            size=1,
            sha256="0" * 64,
            content_type="application/pdf",
            uploaded_by_id=indicator.reporters[0].id,
            status=status,
            **values,
        )
        db.session.add(document)
        return document


@pytest.fixture
def seed(world, make_user, make_indicator):
    return Seed(world, make_user, make_indicator)


def matrix_for(user, seed, **filters):
    stmt = progress.filtered(receivable(user), filters.get("group", ""), filters.get("receiver_id"))
    rounds = list(db.session.scalars(db.select(Round).where(Round.fiscal_year == seed.year)))
    rounds.sort(key=lambda r: r.months)
    return progress.build(stmt, {seed.year: rounds}, seed.today, filters.get("status"))[0]


def cells(matrix) -> dict[str, dict[int, tuple]]:
    """{code: {round: (sent, returned, received, overdue, state)}}"""
    return {
        row.indicator.code: {
            c.round.months: (c.sent, c.returned, c.received, c.overdue, c.state) for c in row.cells
        }
        for row in matrix.rows
    }


def test_matrix_counts_each_state_and_overdue_only_when_the_reporter_still_owes(seed):
    got = cells(matrix_for(seed.world.officer, seed))
    assert list(got) == ["1.1", "1.1.1", "1.2", "2.1", "9.9"]
    assert got["1.1"] == {
        3: (0, 0, 0, True, "not_sent"),
        # the replaced document is history: neither returned nor sent
        6: (1, 0, 1, False, "sent"),
        # due today: the whole due day is on time
        9: (0, 1, 0, False, "returned"),
        12: (1, 0, 0, False, "sent"),
    }
    assert got["1.1.1"] == {
        3: (0, 0, 0, True, "not_sent"),
        6: (0, 0, 0, True, "not_sent"),
        9: (0, 0, 0, False, "not_sent"),
        12: (0, 0, 0, False, "not_sent"),
    }
    assert got["1.2"][3] == (0, 0, 2, False, "received")
    # returned and nothing else after the due date: still owed, so overdue
    assert got["1.2"][6] == (0, 1, 0, True, "returned")
    assert got["2.1"][6] == (0, 0, 1, False, "received")


def test_progress_share_is_indicators_with_a_received_document(seed):
    admin = matrix_for(seed.world.officer, seed)
    assert [(p.round.months, p.done, p.total, p.percent) for p in admin.progress] == [
        (3, 1, 5, 20),
        (6, 2, 5, 40),
        (9, 0, 5, 0),
        (12, 0, 5, 0),
    ]
    mine = matrix_for(seed.world.receiver, seed)
    assert [row.indicator.code for row in mine.rows] == ["1.1", "1.1.1", "1.2"]
    assert [(p.done, p.total, p.percent) for p in mine.progress] == [
        (1, 3, 33),
        (1, 3, 33),
        (0, 3, 0),
        (0, 3, 0),
    ]


def test_filters_by_group_receiver_and_status(seed):
    officer = seed.world.officer
    by_group = matrix_for(officer, seed, group="กลุ่มส่งเสริมการจัดการศึกษา")
    assert list(cells(by_group)) == ["1.2"]
    by_receiver = matrix_for(officer, seed, receiver_id=seed.other_receiver.id)
    assert list(cells(by_receiver)) == ["2.1"]
    assert list(cells(matrix_for(officer, seed, status="returned"))) == ["1.1", "1.2"]
    # 1.1's round 6 has a received document but also one waiting: its state is sent
    assert list(cells(matrix_for(officer, seed, status="received"))) == ["1.2", "2.1"]
    assert list(cells(matrix_for(officer, seed, status="sent"))) == ["1.1"]
    overdue = matrix_for(officer, seed, status="overdue")
    assert list(cells(overdue)) == ["1.1", "1.1.1", "1.2", "2.1", "9.9"]
    # the progress follows the rows kept
    assert [p.total for p in by_group.progress] == [1, 1, 1, 1]
    assert [p.done for p in by_group.progress] == [1, 0, 0, 0]


def share_cells(html: str) -> list[tuple[str, str, str, str]]:
    return re.findall(
        r'data-round="(\d+)" data-done="(\d+)" data-total="(\d+)" data-percent="(\d+)"', html
    )


def test_receiver_page_shows_matrix_bars_chart_and_keeps_round_links(seed, login_as):
    html = login_as(seed.world.receiver).get("receive.index").get_data(as_text=True)
    assert "/receive/round/6?year=" in html  # the receiver's round links stay
    assert share_cells(html) == [
        ("3", "1", "3", "33"),
        ("6", "1", "3", "33"),
        ("9", "0", "3", "0"),
        ("12", "0", "3", "0"),
    ]
    assert "<progress" in html and "จัดเก็บแล้ว 1 จาก 3 ตัวชี้วัด (33%)" in html
    # each cell has its state in words and an accessible label, not only a colour
    assert 'data-state="returned" data-overdue="yes" data-counts="0/1/0"' in html
    assert "เกินกำหนด" in html and "aria-label=" in html
    assert f"/receive/round/6/indicator/{seed.a.id}" in html
    assert "ตัวชี้วัดซี" not in html  # another receiver's indicator
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert 'data-round="3" data-percent="33"' in svg and ">33%</text>" in svg
    assert "<script>" not in html and "style=" not in html


def test_filters_on_the_page(seed, login_as):
    admin = login_as(seed.world.officer)
    html = admin.get("receive.index", group="กลุ่มส่งเสริมการจัดการศึกษา").get_data(as_text=True)
    assert "ตัวชี้วัดบี" in html and "ตัวชี้วัดเอ" not in html
    html = admin.get("receive.index", receiver=seed.other_receiver.id).get_data(as_text=True)
    assert "ตัวชี้วัดซี" in html and "ตัวชี้วัดบี" not in html
    html = admin.get("receive.index", status="returned").get_data(as_text=True)
    assert "ตัวชี้วัดเอ" in html and "ตัวชี้วัดบี" in html and "ตัวชี้วัดซี" not in html
    html = admin.get("receive.index", status="nonsense").get_data(as_text=True)
    assert "ตัวชี้วัดซี" in html  # an unknown status filters nothing


def matrix_rows(html: str) -> list[str]:
    return re.findall(r'<tr data-indicator="(\d+)"', html)


def test_a_long_matrix_is_paged_and_its_progress_counts_every_page(seed, login_as, app):
    app.config["PER_PAGE"] = 2
    admin = login_as(seed.world.officer)
    first = admin.get("receive.index").get_data(as_text=True)
    assert matrix_rows(first) == [str(seed.a.id), str(seed.world.indicator.id)]
    assert "หน้า 1 จาก 3" in first and "ตัวชี้วัดบี" not in first
    # Round 6: 1.1 and 2.1 of all five indicators have a received document, on any page.
    assert ("6", "2", "5", "40") in share_cells(first)
    last = admin.get("receive.index", page=3).get_data(as_text=True)
    assert "หน้า 3 จาก 3" in last and "9.9" in last and "ตัวชี้วัดเอ" not in last
    assert ("6", "2", "5", "40") in share_cells(last)
    # The pager keeps the filters: the returned ones are 1.1 and 1.2, one per page.
    app.config["PER_PAGE"] = 1
    html = admin.get("receive.index", status="returned").get_data(as_text=True)
    assert matrix_rows(html) == [str(seed.a.id)]
    link = re.search(r'href="([^"]+)" rel="next"', html)[1].replace("&amp;", "&")
    assert "status=returned" in link and "page=2" in link
    assert matrix_rows(admin.get(link).get_data(as_text=True)) == [str(seed.b.id)]


def test_a_rounds_indicator_list_is_paged_with_each_pages_counts(seed, login_as, app):
    app.config["PER_PAGE"] = 2
    admin = login_as(seed.world.officer)
    first = admin.get("receive.round_page", months=6).get_data(as_text=True)
    assert "ตัวชี้วัดเอ (1)" in first and "รอจัดเก็บ 1" in first  # 1.1: one stored, one waits
    assert "ตัวชี้วัดบี" not in first and "หน้า 1 จาก 3" in first
    second = admin.get("receive.round_page", months=6, page=2).get_data(as_text=True)
    assert "ตัวชี้วัดบี (0)" in second and "ตัวชี้วัดซี (1)" in second
    assert "ตัวชี้วัดเอ" not in second


def test_reporter_sees_the_same_matrix_for_their_own_indicators(seed, login_as):
    html = login_as(seed.world.reporter).get("send.index").get_data(as_text=True)
    matrix = html[html.index('class="matrix"') : html.index("</table>")]
    assert "ตัวชี้วัดเอ" in matrix and "ตัวชี้วัดซี" in matrix and "1.1.1" in matrix
    assert "ตัวชี้วัดบี" not in matrix and "ตัวชี้วัดของคนอื่น" not in matrix
    assert "/receive/round/" not in matrix  # no receiver's links for the reporter
    # 1.1, 1.1.1, 2.1: round 6 has two with a received document
    assert ("6", "2", "3", "67") in share_cells(html)
    assert "<svg" in html


def test_printable_round_summary(seed, login_as, app):
    round_row = db.session.get(Round, (seed.year, 6))
    round_row.handed_over_at, round_row.handed_over_by_id = utcnow(), seed.world.officer.id
    db.session.commit()
    admin = login_as(seed.world.officer)
    index = admin.get("receive.index").get_data(as_text=True)
    assert "ส่งระบบ สพฐ. แล้ว" in index
    assert f"/receive/round/6/summary?year={seed.year}" in index
    html = admin.get("receive.summary", months=6, year=seed.year).get_data(as_text=True)
    assert "ส่งระบบ สพฐ. แล้ว" in html and "จัดเก็บแล้ว 2 จาก 5 ตัวชี้วัด (40%)" in html
    rows = re.findall(r'<tr data-indicator="(\d+)" data-state="(\w+)" data-overdue="(\w+)">', html)
    assert (str(seed.b.id), "returned", "yes") in rows and len(rows) == 5
    css = app.test_client().get("/static/reports.css").get_data(as_text=True)
    assert "@media print" in css and "size: A4" in css
    assert admin.get("receive.summary", months=3, year=seed.year - 5).status_code == 404


def test_closed_past_year_is_shown_all_overdue(seed, login_as, make_indicator):
    past = seed.year - 2
    row = create_year(past)
    make_indicator("3.1", "ตัวชี้วัดปีก่อน", receiver=seed.world.receiver, year=past)
    row.closed_at = utcnow()
    db.session.commit()
    html = login_as(seed.world.receiver).get("receive.index", year=past).get_data(as_text=True)
    assert "ตัวชี้วัดปีก่อน" in html and html.count('data-overdue="yes"') == 3
    assert "ตัวชี้วัดเอ" not in html


def add_documents(seed, n):
    """n more documents over a growing number of indicators and reporters."""
    world = seed.world
    for _ in range(n):
        k = seed.added = getattr(seed, "added", -1) + 1
        if k % 50 == 0:
            code = f"50.{k}"
            indicator = Indicator(
                fiscal_year=seed.year,
                code=code,
                code_key=normalize_code(code),
                name=f"ตัวชี้วัดเพิ่ม {k}",
                receiver_id=world.receiver.id,
                reporters=[world.reporter],
            )
            db.session.add(indicator)
            db.session.flush()
            seed.last = indicator
        indicator = seed.last
        seed.doc(indicator, (3, 6, 9, 12)[k % 4], (SENT, RECEIVED, RETURNED)[k % 3])
    db.session.commit()


@pytest.mark.parametrize(
    ("role", "endpoint", "values"),
    [
        ("receiver", "receive.index", {}),
        ("officer", "receive.index", {"status": "returned"}),
        ("receiver", "receive.summary", {"months": 6}),
        ("reporter", "send.index", {}),
    ],
)
def test_query_count_is_the_same_at_10_and_1000_documents(seed, login_as, role, endpoint, values):
    browser = login_as(getattr(seed.world, role))
    add_documents(seed, 1)  # 10 documents in all

    def measure():
        db.session.commit()
        with count_queries(db.engine) as statements:
            response = browser.get(endpoint, **values)
        assert response.status_code == 200
        return len(list(statements)), len(response.get_data())

    small, small_size = measure()
    add_documents(seed, 990)
    assert db.session.scalar(db.select(db.func.count(Document.id))) == 1000
    large, large_size = measure()
    assert large == small
    assert large_size > small_size


def test_fiscal_year_of_seed_is_current(seed):
    assert seed.year == fiscal_year()
