"""The manual, screens 1-11, as one scenario over HTTP through the mounted module."""

import hashlib
import io
import re
from urllib.parse import unquote

from extensions import db
from models import Document, Indicator, User
from tests.conftest import Browser
from tests.samples import sample_bytes

THAI_NAME = "รายงานผลการดำเนินงาน รอบ 6 เดือน.pdf"


def test_manual_end_to_end(app, make_user):
    make_user("สมศรี ใจดี", username="kpi", admin=True)
    receiver = make_user("ประเสริฐ มั่นคง", username="receiver", position="กลุ่มบริหารงานบุคคล")
    reporter = make_user("เอกชัย ศรีสุข", username="reporter", position="หน่วยตรวจสอบภายใน")

    # 1-2. The officer logs in and sees the three menu items, in the manual's order.
    kpi = Browser(app)
    assert kpi.login("kpi").status_code == 302
    home = kpi.get("auth.index").get_data(as_text=True)
    order = [
        home.index(label) for label in ("กำหนดผู้รายงานตัวชี้วัด", "บันทึกตัวชี้วัด", "รับเอกสารรายงานตัวชี้วัด")
    ]
    assert order == sorted(order) and "คำรับรองปฏิบัติราชการ" in home

    # 3. กำหนดผู้รายงานตัวชี้วัด: the reporter's status is "-" until the officer sets it.
    staff_page = kpi.get("roles.staff").get_data(as_text=True)
    for label in ("ชื่อ - นามสกุล", "ตำแหน่ง", "สถานะ", "จัดการ", "ผู้รายงานตัวชี้วัด", "จนท.ทั่วไป"):
        assert label in staff_page
    row = re.search(r"เอกชัย ศรีสุข.*?</tr>", staff_page, re.S).group(0)
    assert 'class="status">-</td>' in row
    response = kpi.post("roles.set_status", {"status": "reporter"}, user_id=reporter.id)
    assert response.status_code == 302
    assert db.session.get(User, reporter.id).reporter_status == "reporter"

    # 4. บันทึกตัวชี้วัด: one receiver (radio), reporters (check boxes).
    form = kpi.get("indicators.create").get_data(as_text=True)
    for label in ("ชื่อตัวชี้วัด", "จนท.รับข้อมูลตัวชี้วัด", "จนท.รายงานตัวชี้วัด"):
        assert label in form
    response = kpi.post(
        "indicators.create",
        {
            "fiscal_year": "2570",
            "category": "KRS",
            "code": "1.1.1",
            "name": "ร้อยละผู้เรียนระดับมัธยมศึกษาตอนต้นต่อประชากรกลุ่มอายุ 12-14 ปี",
            "receiver": str(receiver.id),
            "reporters": [str(reporter.id)],
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    indicator = Indicator.query.one()
    assert indicator.receiver_id == receiver.id and [u.id for u in indicator.reporters] == [
        reporter.id
    ]

    # 5-8. The reporter sees ส่งเอกสารคำรับรอง, attaches a Thai-named PDF for รอบ 6 เดือน.
    rep = Browser(app)
    rep.login("reporter")
    assert "ส่งเอกสารคำรับรอง" in rep.get("auth.index").get_data(as_text=True)
    mine = rep.get("send.index", year=2570).get_data(as_text=True)
    assert "แนบไฟล์เพิ่ม" in mine and "1.1.1" in mine
    attach = rep.get("send.attach", indicator_id=indicator.id).get_data(as_text=True)
    for label in ("รอบ 6 เดือน", "รอบ 9 เดือน", "รอบ 12 เดือน", "ชื่อรายการ", "ไฟล์แนบ", "บันทึกการส่ง"):
        assert label in attach
    pdf = sample_bytes("pdf")
    response = rep.open(
        rep.url("send.attach", indicator_id=indicator.id),
        method="POST",
        data={
            "csrf_token": rep.csrf_token(),
            "round_months": "6",
            "title": "โครงการประชุมเชิงปฏิบัติการ",
            "file": (io.BytesIO(pdf), THAI_NAME),
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    document = Document.query.one()
    assert document.original_name == THAI_NAME
    sent = rep.get("send.index", year=2570).get_data(as_text=True)
    for label in ("ที่", "เรื่อง", "ตัวชี้วัด", "เอกสารแนบ", "โครงการประชุมเชิงปฏิบัติการ", "ส่งแล้ว"):
        assert label in sent
    assert "รับแล้ว" not in sent

    # 9-10. The receiver picks รอบ 6 เดือน, opens the indicator (0 stored, 1 waiting).
    rec = Browser(app)
    rec.login("receiver")
    menu = rec.get("auth.index").get_data(as_text=True)
    assert "รับเอกสารรายงานตัวชี้วัด" in menu and "บันทึกตัวชี้วัด" not in menu
    round_page = rec.get("receive.round_page", months=6, year=2570).get_data(as_text=True)
    assert f"ชื่อตัวชี้วัด : 1.1.1 {indicator.name} (0)" in round_page
    page = rec.get("receive.indicator_page", months=6, indicator_id=indicator.id)
    html = page.get_data(as_text=True)
    assert "ไฟล์แนบ :" in html and "จัดเก็บ" in html and THAI_NAME in html

    # The download is byte-identical and named in Thai (RFC 5987).
    download = rec.get("receive.download", document_id=document.id)
    assert download.status_code == 200
    assert hashlib.sha256(download.get_data()).hexdigest() == hashlib.sha256(pdf).hexdigest()
    disposition = download.headers["Content-Disposition"]
    assert disposition.startswith("attachment")
    assert unquote(re.search(r"filename\*=UTF-8''(\S+)", disposition).group(1)) == THAI_NAME
    assert download.headers["X-Content-Type-Options"] == "nosniff"

    # 11. จัดเก็บ: the document reads รับแล้ว, with who and when, for both sides.
    assert rec.post("receive.store", document_id=document.id).status_code == 302
    html = rec.get("receive.indicator_page", months=6, indicator_id=indicator.id).get_data(
        as_text=True
    )
    assert f"ชื่อตัวชี้วัด : 1.1.1 {indicator.name} (1)" in html
    assert "รับแล้ว" in html and "ประเสริฐ มั่นคง" in html
    sent = rep.get("send.index", year=2570).get_data(as_text=True)
    assert "รับแล้ว" in sent and "ประเสริฐ มั่นคง" in sent
