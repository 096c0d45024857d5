"""บันทึกตัวชี้วัด: create, edit, delete, unique codes, natural order, fiscal years."""

import re

from extensions import db
from models import REPORTER, Indicator
from thai import fiscal_year


def indicator_form(receiver, reporters, **fields):
    data = {
        "fiscal_year": str(fiscal_year()),
        "category": "KRS",
        "code": "1.1.1",
        "name": "ร้อยละผู้เรียนระดับมัธยมศึกษาตอนต้น",
        "receiver": str(receiver.id),
        "reporters": [str(r.id) for r in reporters],
    }
    data.update(fields)
    return data


def test_officer_records_an_indicator_with_receiver_and_reporters(login_as, make_user):
    admin = make_user(admin=True)
    receiver = make_user("ประเสริฐ มั่นคง")
    r1, r2 = make_user("เอกชัย ศรีสุข", status=REPORTER), make_user("แก้วตา ใจงาม", status=REPORTER)
    b = login_as(admin)
    response = b.post("indicators.create", indicator_form(receiver, [r1, r2], code=" 7.1B "))
    assert response.status_code == 302
    indicator = db.session.scalars(db.select(Indicator)).one()
    assert indicator.code == "7.1B" and indicator.category == "KRS"
    assert {u.id for u in indicator.reporters} == {r1.id, r2.id}
    listing = b.get("indicators.index").get_data(as_text=True)
    assert "ประเสริฐ มั่นคง" in listing and "แก้วตา ใจงาม, เอกชัย ศรีสุข" in listing


def test_only_reporters_are_offered_as_reporters(login_as, make_user):
    admin = make_user(admin=True)
    make_user("เอกชัย ศรีสุข", status=REPORTER)
    make_user("วิไลวรรณ ทองดี")
    html = login_as(admin).get("indicators.create").get_data(as_text=True)
    reporters = html[html.index("จนท.รายงานตัวชี้วัด") :]
    assert "เอกชัย ศรีสุข" in reporters and "วิไลวรรณ ทองดี" not in reporters
    receivers = html[html.index("จนท.รับข้อมูลตัวชี้วัด") : html.index("จนท.รายงานตัวชี้วัด")]
    assert "วิไลวรรณ ทองดี" in receivers  # any active staff may receive


def test_code_is_unique_per_year_ignoring_case_and_spaces(login_as, make_user, make_indicator):
    admin = make_user(admin=True)
    receiver, reporter = make_user(), make_user(status=REPORTER)
    make_indicator("7.1B", receiver=receiver, reporters=[reporter])
    b = login_as(admin)
    clash = b.post("indicators.create", indicator_form(receiver, [reporter], code=" 7.1b "))
    assert clash.status_code == 409 and "มีอยู่แล้ว" in clash.get_data(as_text=True)
    next_year = indicator_form(
        receiver, [reporter], code="7.1b", fiscal_year=str(fiscal_year() + 1)
    )
    assert b.post("indicators.create", next_year).status_code == 409  # not opened yet
    assert b.post("years.open_next", {"year": str(fiscal_year() + 1)}).status_code == 302
    assert b.post("indicators.create", next_year).status_code == 302
    assert db.session.scalar(db.select(db.func.count(Indicator.id))) == 2


def test_list_is_in_natural_code_order(login_as, make_user, make_indicator):
    admin = make_user(admin=True)
    for code in ("1.10", "2", "1.2", "1.1.1"):
        make_indicator(code, f"ตัวชี้วัด {code}")
    html = login_as(admin).get("indicators.index").get_data(as_text=True)
    codes = re.findall(r'data-label="ชื่อตัวชี้วัด">(\S+) ตัวชี้วัด', html)
    assert codes == ["1.1.1", "1.2", "1.10", "2"]


def test_edit_changes_receiver_and_reporters(login_as, make_user, make_indicator):
    admin = make_user(admin=True)
    indicator = make_indicator()
    new_receiver, new_reporter = make_user(), make_user(status=REPORTER)
    b = login_as(admin)
    assert b.get("indicators.edit", indicator_id=indicator.id).status_code == 200
    response = b.post(
        "indicators.edit",
        indicator_form(new_receiver, [new_reporter], code="1.1.2", name="ชื่อใหม่"),
        indicator_id=indicator.id,
    )
    assert response.status_code == 302
    indicator = db.session.get(Indicator, indicator.id)
    assert (indicator.code, indicator.name, indicator.receiver_id) == (
        "1.1.2",
        "ชื่อใหม่",
        new_receiver.id,
    )
    assert [u.id for u in indicator.reporters] == [new_reporter.id]


def test_indicator_with_documents_is_not_deleted(login_as, world, make_document):
    make_document(world.indicator, world.reporter)
    b = login_as(world.officer)
    response = b.post("indicators.delete", indicator_id=world.indicator.id)
    assert response.status_code == 409
    assert "มีเอกสารรายงานแล้ว" in response.get_data(as_text=True)
    assert db.session.get(Indicator, world.indicator.id) is not None


def test_indicator_without_documents_is_deleted(login_as, world):
    b = login_as(world.officer)
    indicator_id = world.indicator.id
    assert b.post("indicators.delete", indicator_id=indicator_id).status_code == 302
    assert db.session.get(Indicator, indicator_id) is None


def test_pages_default_to_the_current_fiscal_year(login_as, make_user, make_indicator):
    admin = make_user(admin=True)
    make_indicator("1.1", "ของปีนี้")
    make_indicator("1.1", "ของปีที่แล้ว", year=fiscal_year() - 1)
    b = login_as(admin)
    now = b.get("indicators.index").get_data(as_text=True)
    assert "ของปีนี้" in now and "ของปีที่แล้ว" not in now
    assert f"ปีงบประมาณ {fiscal_year()}" in now
    before = b.get("indicators.index", year=fiscal_year() - 1).get_data(as_text=True)
    assert "ของปีที่แล้ว" in before and "ของปีนี้" not in before
