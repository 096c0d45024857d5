"""Fictional demo data (no real staff): `flask --app app seed-demo` and `make run` use it."""

import io
from datetime import timedelta

from blueprints.auth.services import create_user
from blueprints.send.services import is_late
from blueprints.years.services import create_year, get_year, round_of
from extensions import db, storage
from models import GENERAL, RECEIVED, REPORTER, RETURNED, Document, Indicator
from thai import fiscal_year, normalize_code, now_utc

DEMO_PASSWORD = "demo1234"  # noqa: S105  (fictional demo accounts, printed by make run)  # nosec B105

# username, full name, work group, admin?, reporter status, what the login is for
STAFF = [
    ("kpi", "สมศรี ใจดี", "กลุ่มนโยบายและแผน", True, None, "เจ้าหน้าที่คำรับรองฯ (ผู้ดูแล)"),
    ("receiver", "ประเสริฐ มั่นคง", "กลุ่มบริหารงานบุคคล", False, None, "จนท.รับข้อมูลตัวชี้วัด"),
    ("reporter", "เอกชัย ศรีสุข", "กลุ่มส่งเสริมการจัดการศึกษา", False, REPORTER, "ผู้รายงานตัวชี้วัด"),
    (
        "reporter2",
        "แก้วตา ใจงาม",
        "กลุ่มนิเทศ ติดตามและประเมินผลการจัดการศึกษา",
        False,
        REPORTER,
        "ผู้รายงานตัวชี้วัด",
    ),
    ("reporter3", "อนุชา บุญมา", "กลุ่มอำนวยการ", False, REPORTER, "ผู้รายงานตัวชี้วัด"),
    ("staff", "วิไลวรรณ ทองดี", "หน่วยตรวจสอบภายใน", False, None, "จนท.ทั่วไป"),
    ("staff2", "ไพโรจน์ ขยันยิ่ง", "กลุ่มบริหารงานการเงินและสินทรัพย์", False, GENERAL, "จนท.ทั่วไป"),
    ("staff3", "โสภา แสงทอง", "กลุ่มกฎหมายและคดี", False, None, "จนท.ทั่วไป"),
]

# code, name, receiver, reporters
INDICATORS = [
    ("1.1.1", "ร้อยละของนักเรียนที่มีผลสัมฤทธิ์ทางการเรียนผ่านเกณฑ์", "receiver", ["reporter", "reporter2"]),
    ("1.2", "ระดับความสำเร็จของการส่งเสริมการอ่านออกเขียนได้", "receiver", ["reporter2"]),
    ("1.10", "ร้อยละของโรงเรียนที่จัดการเรียนรู้เชิงรุก", "kpi", ["reporter"]),
    ("2", "ความพึงพอใจของผู้รับบริการ", "kpi", ["reporter3"]),
    ("7.1B", "มีระบบจัดเก็บ รักษาความปลอดภัยของข้อมูล", "receiver", ["reporter", "reporter3"]),
]


def demo_pdf(text: str) -> bytes:
    """A real one-page PDF, so downloads of demo documents open in any reader."""
    content = f"BT /F1 14 Tf 72 760 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def seed_demo() -> None:
    users = {}
    for username, name, position, admin, status, _role in STAFF:
        user = create_user(username, name, position, DEMO_PASSWORD, is_admin=admin)
        user.reporter_status = status
        users[username] = user
    db.session.commit()

    year = fiscal_year()
    indicators = {}
    for fy in (year - 1, year):
        if get_year(fy) is None:
            create_year(fy)
        for code, name, receiver, reporters in INDICATORS:
            indicator = Indicator(
                fiscal_year=fy,
                category="KRS",
                code=code,
                code_key=normalize_code(code),
                name=name,
                receiver=users[receiver],
                reporters=[users[r] for r in reporters],
            )
            db.session.add(indicator)
            indicators[(fy, code)] = indicator
    db.session.commit()

    now = now_utc()
    documents = [
        # year, code, round, title, uploader, days ago, received by ("!" returned it)
        (year - 1, "1.1.1", 6, "รายงานผลสัมฤทธิ์ภาคเรียนที่ 1", "reporter", 300, "receiver"),
        (year - 1, "2", 12, "สรุปผลการสำรวจความพึงพอใจ", "reporter3", 60, "kpi"),
        (year, "1.1.1", 6, "โครงการประชุมเชิงปฏิบัติการ", "reporter", 3, "receiver"),
        (year, "1.1.1", 6, "แบบรายงานผลสัมฤทธิ์", "reporter2", 2, None),
        (year, "1.2", 6, "โครงการส่งเสริมการอ่าน", "reporter2", 1, None),
        (year, "7.1B", 6, "โครงการประหยัดพลังงานภาครัฐ", "reporter3", 1, None),
        (year, "1.10", 6, "สรุปผลการจัดการเรียนรู้เชิงรุก", "reporter", 4, "!kpi"),
        (year - 1, "1.2", 12, "รายงานผลการอ่านออกเขียนได้", "reporter2", 20, None),
    ]
    store = storage()
    for fy, code, months, title, uploader, days_ago, receiver in documents:
        due = round_of(fy, months).due_date
        stored = store.save(io.BytesIO(demo_pdf(f"Demo document {fy} {code}")), f"{title}.pdf")
        document = Document(
            indicator=indicators[(fy, code)],
            round_months=months,
            title=title,
            original_name=stored.original_name,
            stored_name=stored.stored_name,
            size=stored.size,
            sha256=stored.sha256,
            content_type=stored.content_type,
            uploaded_by=users[uploader],
            uploaded_at=now - timedelta(days=days_ago),
            # Sent after its round's due date, e.g. last year's round 12 in November.
            late=is_late(now - timedelta(days=days_ago), due),
        )
        handled_at = now - timedelta(days=days_ago) + timedelta(hours=5)
        if receiver and receiver.startswith("!"):
            document.status = RETURNED
            document.returned_by = users[receiver[1:]]
            document.returned_at = handled_at
            document.return_reason = "ยังไม่มีลายมือชื่อผู้อำนวยการกลุ่ม กรุณาแนบฉบับที่ลงนามแล้ว"
        elif receiver:
            document.status = RECEIVED
            document.received_by = users[receiver]
            document.received_at = handled_at
        db.session.add(document)
    db.session.commit()
