"""กำหนดผู้รายงานตัวชี้วัด: the staff table, its order, search, filter and the reporter rule."""

import re

from extensions import db
from models import GENERAL, REPORTER, User


def names_in_table(html: str) -> list[str]:
    return re.findall(r'data-label="ชื่อ - นามสกุล">([^<]+)</td>', html)


def row_of(html: str, name: str) -> str:
    return re.search(rf'data-label="ชื่อ - นามสกุล">{name}</td>.*?</tr>', html, re.S).group(0)


def test_staff_listed_in_thai_dictionary_order(login_as, make_user):
    admin = make_user("กมล ดีงาม", admin=True)
    for name in ("ไพโรจน์ ขยันยิ่ง", "แก้วตา ใจงาม", "เอกชัย ศรีสุข", "ขวัญ ใจ"):
        make_user(name)
    html = login_as(admin).get("roles.staff").get_data(as_text=True)
    assert names_in_table(html) == [
        "กมล ดีงาม",
        "แก้วตา ใจงาม",
        "ขวัญ ใจ",
        "ไพโรจน์ ขยันยิ่ง",
        "เอกชัย ศรีสุข",
    ]


def test_search_by_name_and_filter_by_work_group(login_as, make_user):
    admin = make_user("กมล ดีงาม", admin=True, position="กลุ่มนโยบายและแผน")
    make_user("แก้วตา ใจงาม", position="หน่วยตรวจสอบภายใน")
    make_user("แก้วใจ มั่นคง", position="กลุ่มอำนวยการ")
    b = login_as(admin)
    assert names_in_table(b.get("roles.staff", q="แก้ว").get_data(as_text=True)) == [
        "แก้วใจ มั่นคง",
        "แก้วตา ใจงาม",
    ]
    filtered = b.get("roles.staff", position="หน่วยตรวจสอบภายใน").get_data(as_text=True)
    assert names_in_table(filtered) == ["แก้วตา ใจงาม"]
    assert '<option value="กลุ่มอำนวยการ">' in filtered


def test_status_shows_dash_until_set_then_the_choice(login_as, make_user):
    admin = make_user(admin=True)
    staff = make_user("วิไลวรรณ ทองดี")
    b = login_as(admin)
    assert 'class="status">-</td>' in row_of(
        b.get("roles.staff").get_data(as_text=True), "วิไลวรรณ ทองดี"
    )
    b.post("roles.set_status", {"status": "general"}, user_id=staff.id)
    row = row_of(b.get("roles.staff").get_data(as_text=True), "วิไลวรรณ ทองดี")
    assert 'class="status">จนท.ทั่วไป</td>' in row
    assert db.session.get(User, staff.id).reporter_status == GENERAL


def test_reporter_with_indicators_cannot_become_general(login_as, make_user, make_indicator):
    admin = make_user(admin=True)
    reporter = make_user("เอกชัย ศรีสุข", status=REPORTER)
    make_indicator("1.2", "ความพึงพอใจของผู้รับบริการ", reporters=[reporter])
    response = login_as(admin).post("roles.set_status", {"status": "general"}, user_id=reporter.id)
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "1.2 ความพึงพอใจของผู้รับบริการ" in html and "เอกชัย ศรีสุข" in html
    assert db.session.get(User, reporter.id).reporter_status == REPORTER


def test_long_staff_list_is_paged(make_app, make_user):
    from tests.conftest import Browser

    app = make_app(PER_PAGE=5)
    with app.app_context():
        admin = make_user("กมล ดีงาม", admin=True)
        for n in range(11):
            make_user(f"บุคลากร {n:02d}")
        b = Browser(app)
        b.login(admin.username)
        first = b.get("roles.staff").get_data(as_text=True)
        third = b.get("roles.staff", page=3).get_data(as_text=True)
    assert len(names_in_table(first)) == 5 and "หน้า 1 จาก 3" in first
    assert len(names_in_table(third)) == 2 and 'rel="prev"' in third
