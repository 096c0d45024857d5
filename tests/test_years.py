"""Fiscal years and rounds: open, copy, due dates, lateness, closing, and read-only closed years."""

import io
from datetime import UTC, date, datetime, timedelta

import pytest

from blueprints.send.services import is_late
from blueprints.years.services import create_year, default_due_date, get_year, round_of
from extensions import db
from models import Document, FiscalYear, Indicator, Round
from tests.samples import sample_bytes
from thai import bangkok_date, fiscal_year, now_utc

TODAY = bangkok_date(now_utc())
YEAR = fiscal_year()


def set_due(year: int, months: int, due: date):
    round_of(year, months).due_date = due
    db.session.commit()


def test_default_due_dates_are_15_days_after_each_period():
    assert default_due_date(2570, 3) == date(2027, 1, 15)
    assert default_due_date(2570, 6) == date(2027, 4, 15)
    assert default_due_date(2570, 9) == date(2027, 7, 15)
    assert default_due_date(2570, 12) == date(2027, 10, 15)


@pytest.mark.parametrize(
    ("moment", "late"),
    [
        # Due 15 Apr 2027: the whole Bangkok day counts; 17:00 UTC is already the 16th there.
        (datetime(2027, 4, 15, 16, 59, tzinfo=UTC), False),
        (datetime(2027, 4, 15, 17, 0, tzinfo=UTC), True),
        (datetime(2027, 4, 14, 23, 0, tzinfo=UTC), False),
    ],
)
def test_late_is_counted_in_bangkok_days(moment, late):
    assert is_late(moment, date(2027, 4, 15)) is late


def test_admin_opens_the_next_year_with_default_rounds(login_as, world):
    b = login_as(world.officer)
    assert b.post("years.open_next", {"year": str(YEAR + 1)}).status_code == 302
    opened = get_year(YEAR + 1)
    assert opened.is_open
    assert [(r.months, r.due_date) for r in opened.rounds] == [
        (m, default_due_date(YEAR + 1, m)) for m in (6, 9, 12)
    ]
    assert b.post("years.add_round", {"months": "3"}, year=YEAR + 1).status_code == 302
    assert round_of(YEAR + 1, 3).due_date == default_due_date(YEAR + 1, 3)
    assert b.post("years.add_round", {"months": "3"}, year=YEAR + 1).status_code == 409
    page = b.get("years.index").get_data(as_text=True)
    assert f"ปีงบประมาณ {YEAR + 1}" in page and "รอบ 3 เดือน" in page


def test_copy_indicators_with_receivers_and_reporters(login_as, world, make_user, make_indicator):
    gone = make_user("พ้นหน้าที่ แล้ว")
    make_indicator("2.1", "ตัวชี้วัดของผู้รับที่ลาออก", receiver=gone, reporters=[world.reporter])
    gone.active = False
    db.session.commit()
    b = login_as(world.officer)
    b.post("years.open_next", {"year": str(YEAR + 1)})
    response = b.post("years.copy", {"source": str(YEAR)}, year=YEAR + 1)
    assert response.status_code == 302
    copied = db.session.scalars(db.select(Indicator).where(Indicator.fiscal_year == YEAR + 1)).all()
    assert sorted(i.code for i in copied) == ["1.1.1", "9.9"]
    main = next(i for i in copied if i.code == "1.1.1")
    assert main.receiver_id == world.receiver.id
    assert [u.id for u in main.reporters] == [world.reporter.id]
    # Copying again adds nothing: the codes are there already.
    b.post("years.copy", {"source": str(YEAR)}, year=YEAR + 1)
    count = db.session.scalar(
        db.select(db.func.count(Indicator.id)).where(Indicator.fiscal_year == YEAR + 1)
    )
    assert count == 2


def test_an_open_year_still_takes_round_12_after_1_october(login_as, world, make_indicator):
    last_year = YEAR - 1
    create_year(last_year)
    db.session.commit()
    old = make_indicator("5.1", "ตัวชี้วัดปีที่แล้ว", year=last_year, reporters=[world.reporter])
    set_due(last_year, 12, TODAY - timedelta(days=1))  # its round 12 was due yesterday
    reporter = login_as(world.reporter)
    # The reporter's list shows both open years without choosing one.
    page = reporter.get("send.index").get_data(as_text=True)
    assert "ตัวชี้วัดปีที่แล้ว" in page and world.indicator.name in page
    assert "เกินกำหนด 1 วัน" in page
    assert reporter.upload(old, months="12").status_code == 302
    document = db.session.scalars(db.select(Document)).one()
    assert document.round_months == 12 and document.late
    assert "ส่งล่าช้า" in reporter.get("send.index").get_data(as_text=True)


def test_due_in_n_days_and_on_time_flag(login_as, world):
    set_due(YEAR, 6, TODAY + timedelta(days=3))
    set_due(YEAR, 9, TODAY)
    reporter = login_as(world.reporter)
    page = reporter.get("send.index").get_data(as_text=True)
    assert "อีก 3 วัน" in page and "ครบกำหนดวันนี้" in page
    assert "ยังไม่ส่ง" in page
    assert reporter.upload(world.indicator, months="9").status_code == 302
    assert not db.session.scalars(db.select(Document)).one().late  # due today is on time


def test_a_year_cannot_close_before_its_last_due_date(login_as, world):
    b = login_as(world.officer)
    for months in (6, 9):
        set_due(YEAR, months, TODAY - timedelta(days=100))
    set_due(YEAR, 12, TODAY + timedelta(days=1))
    early = b.post("years.close", year=YEAR)
    assert early.status_code == 409 and "ยังปิดปีงบประมาณ" in early.get_data(as_text=True)
    assert get_year(YEAR).is_open
    set_due(YEAR, 12, TODAY)
    assert b.post("years.close", year=YEAR).status_code == 302
    assert not get_year(YEAR).is_open


@pytest.fixture
def closed_world(world, make_document, login_as):
    """A closed year with one sent, one received and one returned document."""
    sent = make_document(world.indicator, world.reporter, title="ส่งไว้")
    received = make_document(world.indicator, world.reporter, title="รับแล้ว")
    returned = make_document(world.indicator, world.reporter, title="ถูกส่งกลับ")
    receiver = login_as(world.receiver)
    receiver.post("receive.store", document_id=received.id)
    receiver.post("receive.return_document", {"reason": "แก้"}, document_id=returned.id)
    for r in db.session.scalars(db.select(Round).where(Round.fiscal_year == YEAR)):
        r.due_date = TODAY - timedelta(days=1)
    db.session.commit()
    officer = login_as(world.officer)
    refused = officer.post("years.close", year=YEAR)
    assert refused.status_code == 409 and "รอจัดเก็บ 1 รายการ" in refused.get_data(as_text=True)
    # A year closed with a document still waiting (as before this rule existed) is the
    # hardest case for the write routes, so build it directly.
    get_year(YEAR).closed_at = now_utc()
    db.session.commit()
    world.sent, world.received, world.returned = sent, received, returned
    return world


def snapshot():
    rows = []
    for model in (Document, Indicator, Round, FiscalYear):
        for obj in db.session.scalars(db.select(model)):
            rows.append(tuple(sorted((k, str(v)) for k, v in vars(obj).items() if k[0] != "_")))
    return sorted(rows)


def test_a_closed_year_refuses_every_write_route(closed_world, login_as):
    w = closed_world
    officer, receiver, reporter = login_as(w.officer), login_as(w.receiver), login_as(w.reporter)
    i = w.indicator
    form = {
        "fiscal_year": str(YEAR),
        "category": "KRS",
        "code": "8.8",
        "name": "ใหม่",
        "receiver": str(w.receiver.id),
        "reporters": [str(w.reporter.id)],
    }
    attempts = [
        (officer, "indicators.create", form, {}),
        (officer, "indicators.edit", dict(form, code=i.code), {"indicator_id": i.id}),
        (officer, "indicators.delete", {}, {"indicator_id": i.id}),
        (reporter, "send.edit", {"title": "ใหม่"}, {"document_id": w.sent.id}),
        (reporter, "send.delete", {}, {"document_id": w.sent.id}),
        (receiver, "receive.store", {}, {"document_id": w.sent.id}),
        (receiver, "receive.return_document", {"reason": "x"}, {"document_id": w.sent.id}),
        (officer, "receive.undo", {"reason": "x"}, {"document_id": w.received.id}),
        (officer, "years.close", {}, {"year": YEAR}),
        (officer, "years.add_round", {"months": "3"}, {"year": YEAR}),
        (officer, "years.set_due", {"due_date": "2030-01-01"}, {"year": YEAR, "months": 6}),
        (officer, "years.copy", {"source": str(YEAR - 1)}, {"year": YEAR}),
    ]
    before = snapshot()
    for who, endpoint, data, args in attempts:
        response = who.post(endpoint, data, **args)
        assert response.status_code == 409, endpoint
        assert "ปิดแล้ว" in response.get_data(as_text=True), endpoint
    assert reporter.upload(i, months="6").status_code == 409
    revision = reporter.open(
        reporter.url("send.revise", document_id=w.returned.id),
        method="POST",
        data={
            "csrf_token": reporter.csrf_token(),
            "title": "แก้แล้ว",
            "file": (io.BytesIO(sample_bytes("pdf")), "แก้.pdf"),
        },
    )
    assert revision.status_code == 409
    assert snapshot() == before


def test_a_closed_year_stays_browsable(closed_world, login_as):
    w = closed_world
    receiver = login_as(w.receiver)
    page = receiver.get("receive.indicator_page", months=6, indicator_id=w.indicator.id)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "ปิดแล้ว" in html and "ส่งไว้" in html
    assert 'action="/myoffice/reports/receive/document' not in html  # no buttons left
    assert receiver.get("receive.download", document_id=w.sent.id).status_code == 200
    reporter = login_as(w.reporter)
    assert w.indicator.name not in reporter.get("send.index").get_data(as_text=True)
    archived = reporter.get("send.index", year=YEAR).get_data(as_text=True)
    assert w.indicator.name in archived and "ปีงบประมาณนี้ปิดแล้ว" in archived


def test_due_date_must_be_a_real_date(login_as, world):
    b = login_as(world.officer)
    bad = b.post("years.set_due", {"due_date": "15/04/2570"}, year=YEAR, months=6)
    assert bad.status_code == 400 and "วันครบกำหนด" in bad.get_data(as_text=True)
    ok = b.post("years.set_due", {"due_date": "2027-04-30"}, year=YEAR, months=6)
    assert ok.status_code == 302 and round_of(YEAR, 6).due_date == date(2027, 4, 30)
