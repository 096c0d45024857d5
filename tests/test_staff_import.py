"""Importing staff from the portal's personnel export: the admin's page (preview, then confirm)
and `flask import-staff`, in every encoding the office's systems write, and every way it can go
wrong: a Thai message and a 4xx, and nothing stored changes until the admin confirms.
"""

import io
import multiprocessing
import os
import re
import struct
import time
import zipfile

import openpyxl
import pytest

import staffimport
from blueprints.auth import staff_import
from blueprints.auth.portal import UNUSABLE_PASSWORD
from extensions import db
from models import REPORTER, AuditEntry, Document, User
from tests.conftest import PASSWORD, Browser
from tests.test_bad_input import assert_refused, stored_state

HEADER = "username,ชื่อ-นามสกุล,กลุ่มงาน"
# Thai with tone marks, a thanthakhat and SARA AM: kept exactly as written.
THAI_NAME = "ณัฐพงศ์ กิ่งแก้วน้ำคำ"
CHANGED = "ข้อมูลบัญชีผู้ใช้เปลี่ยนไปหลังจากตรวจสอบ"
NOTHING_TO_DO = "ไม่มีสิ่งที่ต้องเปลี่ยนแปลง"
UPLOAD_AGAIN = "ไม่พบไฟล์ที่ตรวจสอบไว้ หรือเกินหนึ่งวันแล้ว กรุณาอัปโหลดไฟล์อีกครั้ง"


# --- helpers -------------------------------------------------------------------------------


def csv_bytes(*lines: str, header: str = HEADER, encoding: str = "utf-8") -> bytes:
    return "\r\n".join([header, *lines]).encode(encoding)


def xlsx_bytes(*rows, header=("Username", "Full name", "Position")) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def with_sheet_xml(data: bytes, change) -> bytes:
    """The workbook with its first worksheet's XML passed through change(bytes) -> bytes."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                content = change(content)
            archive.writestr(info, content)
    return out.getvalue()


def preview(b: Browser, data: bytes, name: str = "บุคลากร.csv"):
    """Upload the export on the import page: the preview, or the refusal."""
    form = {"csrf_token": b.csrf_token(), "file": (io.BytesIO(data), name)}
    return b.open(b.url("auth.import_staff"), method="POST", data=form)


def digest_of(page) -> str:
    html = page.get_data(as_text=True)
    return re.search(r'name="digest" type="hidden" value="([0-9a-f]{64})"', html).group(1)


def in_english(b: Browser) -> None:
    """Press English at the top right (kept on the account)."""
    response = b.post("auth.set_language", {"language": "en", "next": b.url("auth.index")})
    assert response.status_code == 302
    assert 'lang="en"' in b.get("auth.index").get_data(as_text=True)


def confirm(b: Browser, page, deactivate: bool = False):
    """Press ยืนยันนำเข้า on a preview page (ticking the deactivation box if asked)."""
    form = {"digest": digest_of(page)}
    if deactivate:
        form["deactivate_missing"] = "y"
    return b.post("auth.confirm_import", form)


def imported(b: Browser, data: bytes, name: str = "บุคลากร.csv", deactivate: bool = False):
    page = preview(b, data, name)
    assert page.status_code == 200, page.get_data(as_text=True)
    response = confirm(b, page, deactivate)
    assert response.status_code == 302, response.get_data(as_text=True)
    return b.get("auth.accounts")


def user(username: str) -> User | None:
    return db.session.scalar(db.select(User).filter_by(username=username))


def pending_files(app) -> list[str]:
    folder = app.config["IMPORT_DIR"]
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def rejected_lines(page) -> list[str]:
    """The preview's rejected lines as "<line> <reason>"."""
    cells = re.findall(
        r'<tr class="rejected-line"><td[^>]*>(\d+)</td><td[^>]*>(.*?)</td></tr>',
        page.get_data(as_text=True),
    )
    return [f"{line} {reason}" for line, reason in cells]


def run_cli(app, *args):
    db.session.commit()  # end the test's snapshot, so it reads what the command wrote
    result = app.test_cli_runner().invoke(args=["import-staff", *args])
    db.session.commit()
    return result


@pytest.fixture
def officer(world, login_as):
    return login_as(world.officer)


@pytest.fixture
def export_file(tmp_path):
    def write(data: bytes, name: str = "personnel.csv") -> str:
        path = tmp_path / name
        path.write_bytes(data)
        return str(path)

    return write


def everyone(world, **renamed) -> list[str]:
    """The world's staff as the export lists them, some renamed (username -> new name)."""
    people = [world.officer, world.receiver, world.reporter, world.other_reporter, world.staff]
    return [f"{p.username},{renamed.get(p.username, p.full_name)},{p.position}" for p in people]


# --- the page: preview, then confirm -------------------------------------------------------


def test_preview_lists_the_changes_and_stores_nothing(app, world, officer):
    data = csv_bytes(
        f"somchai,{THAI_NAME},กลุ่มนโยบายและแผน",
        f"staff,{world.staff.full_name},หน่วยตรวจสอบภายใน",
        f"reporter,{world.reporter.full_name},{world.reporter.position}",
        "bad user,ผู้ใช้ผิดรูปแบบ,",
    )
    before = stored_state(app)

    page = preview(officer, data)

    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    assert "เพิ่มบัญชีใหม่ 1 บัญชี" in html and THAI_NAME in html
    assert "แก้ไขชื่อหรือตำแหน่ง 1 บัญชี" in html
    assert "<del>กลุ่มอำนวยการ</del> → <ins>หน่วยตรวจสอบภายใน</ins>" in html
    assert "ไม่เปลี่ยนแปลง 1 บัญชี" in html
    assert "บรรทัดที่ไม่รับ 1 บรรทัด" in html
    assert rejected_lines(page) == [
        "5 ชื่อผู้ใช้ bad user ไม่ถูกต้อง ใช้ได้เฉพาะ A-Z a-z 0-9 . _ @ - ไม่เกิน 64 ตัวอักษร"
    ]
    assert "ยังไม่มีการเปลี่ยนแปลงใด ๆ จนกว่าจะกดยืนยัน" in html
    assert stored_state(app) == before
    assert len(pending_files(app)) == 1


def test_confirm_adds_new_staff_and_updates_names_and_positions(app, world, officer):
    data = csv_bytes(
        f"Somchai,{THAI_NAME},กลุ่มนโยบายและแผน",
        f"staff,วิไลวรรณ ทองดีมาก,{world.staff.position}",
        f"reporter,{world.reporter.full_name},กลุ่มส่งเสริมการจัดการศึกษา",
    )

    accounts = imported(officer, data)

    html = accounts.get_data(as_text=True)
    assert "นำเข้ารายชื่อบุคลากรแล้ว: เพิ่ม 1 บัญชี แก้ไข 2 บัญชี ปิดการใช้งาน 0 บัญชี" in html
    somchai = user("somchai")
    assert somchai.full_name == THAI_NAME and somchai.position == "กลุ่มนโยบายและแผน"
    assert somchai.active and somchai.password_hash == UNUSABLE_PASSWORD
    assert somchai.reporter_status is None and not somchai.is_admin
    assert user("staff").full_name == "วิไลวรรณ ทองดีมาก"
    assert user("reporter").position == "กลุ่มส่งเสริมการจัดการศึกษา"
    actions = db.session.scalars(db.select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions[-4:] == [
        "staff_import_created",
        "staff_import_updated",
        "staff_import_updated",
        "staff_imported",
    ]
    assert pending_files(app) == []  # the kept upload goes once applied
    audit_page = officer.get("audit.index").get_data(as_text=True)
    assert f"เพิ่มบัญชี {THAI_NAME} (somchai) จากการนำเข้ารายชื่อบุคลากร" in audit_page


def test_new_staff_cannot_log_in_until_the_admin_sets_a_password(app, world, officer):
    preview_page = preview(officer, csv_bytes(f"somchai,{THAI_NAME},"))
    assert "ผู้ดูแลตั้งรหัสผ่านให้ได้ที่หน้าจัดการบัญชีผู้ใช้" in preview_page.get_data(as_text=True)
    assert confirm(officer, preview_page).status_code == 302
    assert Browser(app).login("somchai", "!portal").status_code == 400

    somchai = user("somchai")
    response = officer.post("auth.reset_password", {"new": PASSWORD}, user_id=somchai.id)
    assert response.status_code == 302
    assert Browser(app).login("somchai").status_code == 302


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp874", "tis-620"])
def test_each_encoding_keeps_thai_names_exactly(app, world, officer, encoding):
    data = csv_bytes(f"somchai,{THAI_NAME},กลุ่มกฎหมายและคดี", encoding=encoding)
    assert data.startswith(b"\xef\xbb\xbf") == (encoding == "utf-8-sig")

    imported(officer, data)

    somchai = user("somchai")
    assert somchai.full_name == THAI_NAME and somchai.position == "กลุ่มกฎหมายและคดี"


def test_a_byte_order_mark_does_not_hide_the_username_column(app, world, officer):
    """Excel's "CSV UTF-8" starts with a BOM, glued to the first header name."""
    data = b"\xef\xbb\xbf" + "username;ชื่อ - นามสกุล\nmanee;มานี มีนา\n".encode()
    imported(officer, data)
    assert user("manee").full_name == "มานี มีนา"


def test_xlsx_first_worksheet_with_numbers_as_usernames(app, world, officer):
    data = xlsx_bytes(
        (1001, THAI_NAME, "กลุ่มอำนวยการ"), (None, None, None), ("X.Y", "เอ็กซ์ วาย", None)
    )
    page = preview(officer, data, "personnel.xlsx")
    assert "เพิ่มบัญชีใหม่ 2 บัญชี" in page.get_data(as_text=True)
    confirm(officer, page)
    assert user("1001").full_name == THAI_NAME
    assert user("x.y").full_name == "เอ็กซ์ วาย" and user("x.y").position == ""


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_headers_in_thai_or_english_and_any_delimiter(app, world, officer, delimiter):
    """A title line above the header, first name and surname apart, both position columns."""
    lines = [
        ["รายชื่อบุคลากร ปีงบประมาณ 2568"],
        [" รหัสผู้ใช้ ", "ชื่อ", "นามสกุล", "ตำแหน่ง", "กลุ่มงาน"],
        ["manee", "มานี", "มีนา", "นักวิชาการศึกษา", "กลุ่มนิเทศ"],
    ]
    data = "\n".join(delimiter.join(cells) for cells in lines).encode()
    imported(officer, data)
    manee = user("manee")
    assert manee.full_name == "มานี มีนา"
    assert manee.position == "กลุ่มนิเทศ"  # the work group, as User.position holds


def test_without_a_position_column_positions_are_kept(app, world, officer):
    data = csv_bytes("staff,วิไลวรรณ ทองดี ใหม่", "manee,มานี มีนา", header="login,name")
    page = preview(officer, data)
    assert "ตำแหน่งของบัญชีที่มีอยู่จะคงเดิม" in page.get_data(as_text=True)
    confirm(officer, page)
    assert user("staff").full_name == "วิไลวรรณ ทองดี ใหม่"
    assert user("staff").position == "กลุ่มอำนวยการ"
    assert user("manee").position == ""


# --- rejected lines ------------------------------------------------------------------------


def test_a_repeated_username_rejects_the_later_line(app, world, officer):
    data = csv_bytes("somchai,สมชาย ใจดี,", "", "SOMCHAI,สมชาย ซ้ำ,", "manee,มานี มีนา,")
    page = preview(officer, data)
    assert rejected_lines(page) == ["4 ชื่อผู้ใช้ somchai ซ้ำกับบรรทัดที่ 2"]
    confirm(officer, page)
    assert user("somchai").full_name == "สมชาย ใจดี"
    assert user("manee") is not None


def test_invalid_usernames_and_too_long_names_are_rejected_with_their_reason(app, world, officer):
    data = csv_bytes(
        "สมชาย,สมชาย ใจดี,",
        f"{'a' * 65},ยาวเกิน,",
        "ok.user,ก" + "ข" * 200 + ",",
        ",ไม่มีชื่อผู้ใช้,",
        "noname,,",
        "fine,ปกติ ดี,",
    )
    page = preview(officer, data)
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    assert rejected_lines(page) == [
        "2 ชื่อผู้ใช้ สมชาย ไม่ถูกต้อง ใช้ได้เฉพาะ A-Z a-z 0-9 . _ @ - ไม่เกิน 64 ตัวอักษร",
        f"3 ชื่อผู้ใช้ {'a' * 40} ไม่ถูกต้อง ใช้ได้เฉพาะ A-Z a-z 0-9 . _ @ - ไม่เกิน 64 ตัวอักษร",
        "4 ชื่อ-นามสกุลยาวเกิน 200 ตัวอักษร",
        "5 ไม่มีชื่อผู้ใช้",
        "6 ไม่มีชื่อ-นามสกุล",
    ]
    confirm(officer, page)
    assert user("fine") is not None
    assert user("ok.user") is None and user("noname") is None


def test_someone_whose_line_was_rejected_is_not_missing(app, world, officer):
    lines = everyone(world, staff="ว" * 201)
    page = preview(officer, csv_bytes(*lines))
    html = page.get_data(as_text=True)
    assert "ไม่มีในไฟล์ 0 บัญชี" in html and "ชื่อ-นามสกุลยาวเกิน 200 ตัวอักษร" in html
    assert 'name="deactivate_missing"' not in html


# --- the whole file refused ----------------------------------------------------------------

REFUSED = [
    pytest.param(b"%PDF-1.4\n", "บุคลากร.pdf", 400, "กรุณาส่งไฟล์ .csv หรือ .xlsx", id="pdf"),
    pytest.param(b"\xd0\xcf\x11\xe0", "บุคลากร.xls", 400, "แบบเก่า (.xls)", id="old-excel"),
    pytest.param(
        HEADER.encode() + b"\nab,\x81\x82\x83\xff\xfe,\n",
        "a.csv",
        400,
        "รองรับเฉพาะ UTF-8 และ TIS-620",
        id="undecodable",
    ),
    pytest.param(b"\0\0\0\0binary", "a.csv", 400, "อ่านไฟล์ CSV นี้ไม่ได้", id="binary"),
    pytest.param(b"", "a.csv", 400, "ไม่พบรายชื่อบุคลากรในไฟล์", id="empty"),
    pytest.param(HEADER.encode() + b"\n\n", "a.csv", 400, "ไม่พบรายชื่อบุคลากรในไฟล์", id="header-only"),
    pytest.param(
        "username,กลุ่มงาน\nsomchai,กลุ่มอำนวยการ\n".encode(),
        "a.csv",
        400,
        "ไม่พบคอลัมน์ ชื่อ-นามสกุล (full name) ในแถวหัวตาราง",
        id="no-name-column",
    ),
    pytest.param(
        "ชื่อ-นามสกุล,กลุ่มงาน\nสมชาย ใจดี,กลุ่มอำนวยการ\n".encode(),
        "a.csv",
        400,
        "ไม่พบคอลัมน์ ชื่อผู้ใช้ (username) ในแถวหัวตาราง",
        id="no-username-column",
    ),
    pytest.param(
        "ลำดับ,กลุ่มงาน\n1,กลุ่มอำนวยการ\n".encode(),
        "a.csv",
        400,
        "ไม่พบคอลัมน์ ชื่อผู้ใช้ (username), ชื่อ-นามสกุล (full name)",
        id="no-columns",
    ),
    pytest.param(b"username,name\n", "a.xlsx", 400, "เปิดไฟล์ Excel นี้ไม่ได้", id="csv-as-xlsx"),
    pytest.param(b"PK\x03\x04garbage", "a.xlsx", 400, "เปิดไฟล์ Excel นี้ไม่ได้", id="broken-xlsx"),
    pytest.param(
        b"username,name\n" + b"a" * staffimport.MAX_FILE_BYTES,
        "a.csv",
        413,
        "ไฟล์ใหญ่เกิน 5 MB",
        id="too-large",
    ),
]


@pytest.mark.parametrize(("data", "name", "status", "message"), REFUSED)
def test_a_file_that_cannot_be_used_is_refused_in_thai(
    app, world, officer, data, name, status, message
):
    before = stored_state(app)
    response = preview(officer, data, name)
    assert_refused(response, status, message)
    assert stored_state(app) == before
    assert pending_files(app) == []


def test_no_file_chosen(app, world, officer):
    response = officer.post("auth.import_staff", {})
    assert_refused(response, 400, "กรุณาเลือกไฟล์รายชื่อบุคลากร")


def test_too_many_lines(app, world, officer, monkeypatch):
    monkeypatch.setattr(staffimport, "MAX_ROWS", 3)
    data = csv_bytes(*(f"user{n},ผู้ใช้ {n}," for n in range(4)))
    assert_refused(preview(officer, data), 400, "ไฟล์มีรายชื่อเกิน 3 บรรทัด")
    assert preview(officer, csv_bytes(*(f"user{n},ผู้ใช้ {n}," for n in range(3)))).status_code == 200


def zip_bomb() -> bytes:
    """A real workbook plus a member of zeros that unpacks past the limit (a few KB packed)."""
    out = io.BytesIO(xlsx_bytes(("somchai", "สมชาย ใจดี", "")))
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("xl/media/padding.bin", "w", force_zip64=True) as member:
            chunk = b"\0" * (1 << 20)
            for _ in range((staffimport.MAX_XLSX_UNCOMPRESSED >> 20) + 1):
                member.write(chunk)
    return out.getvalue()


def test_an_xlsx_zip_bomb_is_refused_before_it_is_opened(app, world, officer):
    data = zip_bomb()
    assert len(data) < 1024 * 1024
    before = stored_state(app)
    response = preview(officer, data, "bomb.xlsx")
    assert_refused(response, 400, "เมื่อแตกออกมีขนาดใหญ่ผิดปกติ")
    assert stored_state(app) == before


def lying_sizes(data: bytes, member: str, size: int) -> bytes:
    """The member's uncompressed size, in both its headers, claimed to be `size`."""
    out = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        offset = archive.getinfo(member).header_offset
    struct.pack_into("<I", out, offset + 22, size)
    entry = out.find(b"PK\x01\x02")
    while entry != -1:
        name_length = struct.unpack_from("<H", out, entry + 28)[0]
        if out[entry + 46 : entry + 46 + name_length] == member.encode():
            struct.pack_into("<I", out, entry + 24, size)
        entry = out.find(b"PK\x01\x02", entry + 46)
    return bytes(out)


def test_an_xlsx_that_lies_about_its_sizes_is_refused(app, world, officer):
    """The bomb check trusts the declared sizes because zipfile stops at them: proven here."""
    data = lying_sizes(xlsx_bytes(("somchai", "ส" * 5000, "")), "xl/worksheets/sheet1.xml", 10)
    assert_refused(preview(officer, data, "lies.xlsx"), 400, "เปิดไฟล์ Excel นี้ไม่ได้")


def test_xml_entity_expansion_is_refused(app, world, officer):
    """openpyxl parses with defusedxml (installed from requirements.txt): no billion laughs."""
    doctype = b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'

    def add_doctype(content: bytes) -> bytes:
        if content.startswith(b"<?xml"):
            declaration, _end, rest = content.partition(b"?>")
            return declaration + b"?>" + doctype + rest
        return doctype + content

    data = with_sheet_xml(xlsx_bytes(("somchai", "สมชาย ใจดี", "")), add_doctype)
    assert_refused(preview(officer, data, "laughs.xlsx"), 400, "เปิดไฟล์ Excel นี้ไม่ได้")


def ending_at(row: int, dimension: str):
    """The sheet claims `dimension` and, as a sheet formatted down to there does, has an
    empty styled cell in `row`."""

    def change(content: bytes) -> bytes:
        declared = f'<dimension ref="{dimension}"'.encode()
        changed = re.sub(rb'<dimension ref="[^"]*"', declared, content)
        last = f'<row r="{row}"><c r="A{row}" s="0"/></row></sheetData>'.encode()
        assert changed != content
        return changed.replace(b"</sheetData>", last)

    return change


def test_an_xlsx_declaring_the_largest_sheet_is_read_at_its_real_size():
    """5 KB may declare A1:XFD1048576 and name a row far down; openpyxl then yields every row
    up to it, each as wide as declared: 16,384 cells a row, minutes of a worker unless the
    parser ignores the declared size. The parse runs in a child process so that a regression
    fails here after 20 s, and leaving the pool kills the child (a thread could not be
    stopped) so the rest of the run goes on at full speed. It asserts the rows read, not a
    time: honest on a slow CI."""
    data = with_sheet_xml(
        xlsx_bytes(("somchai", THAI_NAME, "กลุ่มอำนวยการ"), ("manee", "มานี มีนา", None)),
        ending_at(100_000, "A1:XFD1048576"),  # the last row read (staffimport.MAX_XLSX_ROW)
    )
    assert len(data) < 8 * 1024
    with multiprocessing.get_context("fork").Pool(1) as pool:
        parsed = pool.apply_async(staffimport.parse, (data, "wide.xlsx")).get(timeout=20)
    assert parsed.rows == (
        staffimport.Row(2, "somchai", THAI_NAME, "กลุ่มอำนวยการ"),
        staffimport.Row(3, "manee", "มานี มีนา", ""),
    )
    assert parsed.rejected == ()


def test_an_xlsx_with_a_row_far_below_its_lines_is_refused(app, world, officer):
    """openpyxl yields every blank row up to a row number the file names; a few bytes may
    name any number, so past MAX_XLSX_ROW the file is refused (and a line beyond the
    sheet's declared size is no longer silently dropped)."""
    far = 100_001  # staffimport.MAX_XLSX_ROW + 1
    row = f'<row r="{far}"><c r="A{far}" t="inlineStr"><is><t>ท้ายตาราง</t></is></c></row>'
    data = with_sheet_xml(
        xlsx_bytes(("somchai", THAI_NAME, "")),
        lambda content: content.replace(b"</sheetData>", row.encode() + b"</sheetData>"),
    )
    before = stored_state(app)
    assert_refused(preview(officer, data, "far.xlsx"), 400, "มีข้อมูลเลยแถวที่ 100,000")
    assert stored_state(app) == before


# --- who may, and a preview that no longer holds -------------------------------------------


@pytest.mark.parametrize("who", ["staff", "reporter", "receiver"])
def test_only_the_admin_may_import(app, world, login_as, who, officer):
    page = preview(officer, csv_bytes(f"somchai,{THAI_NAME},"))
    b = login_as(getattr(world, who))
    before = stored_state(app)
    assert preview(b, csv_bytes(f"manee,{THAI_NAME},")).status_code == 403
    assert b.get("auth.import_staff").status_code == 403
    assert b.post("auth.confirm_import", {"digest": digest_of(page)}).status_code == 403
    assert stored_state(app) == before


def test_a_stale_preview_is_shown_again_instead_of_applied(app, world, officer):
    page = preview(officer, csv_bytes(f"staff,{THAI_NAME},", "manee,มานี มีนา,"))
    world.staff.full_name = "ชื่อที่ผู้อื่นแก้ระหว่างนั้น"  # another admin, or the portal's sync
    db.session.commit()
    before = stored_state(app)

    stale = confirm(officer, page)

    html = stale.get_data(as_text=True)
    assert_refused(stale, 409, CHANGED)
    assert "<del>ชื่อที่ผู้อื่นแก้ระหว่างนั้น</del>" in html
    assert stored_state(app) == before
    assert digest_of(stale) != digest_of(page)
    assert confirm(officer, stale).status_code == 302  # the fresh preview can be confirmed
    assert user("staff").full_name == THAI_NAME and user("manee") is not None


def test_an_account_created_meanwhile_makes_the_preview_stale(app, world, officer, make_user):
    page = preview(officer, csv_bytes("manee,มานี มีนา,"))
    make_user("มานี จากพอร์ทัล", username="manee")
    assert_refused(confirm(officer, page), 409, CHANGED)
    assert user("manee").full_name == "มานี จากพอร์ทัล"


def test_a_forged_digest_applies_nothing(app, world, officer):
    page = preview(officer, csv_bytes("manee,มานี มีนา,"))
    assert page.status_code == 200
    before = stored_state(app)
    assert_refused(officer.post("auth.confirm_import", {"digest": "f" * 64}), 409, CHANGED)
    assert stored_state(app) == before


def test_confirm_without_a_preview_of_ones_own_is_refused(app, world, officer, login_as):
    page = preview(officer, csv_bytes("manee,มานี มีนา,"))
    other_admin = login_as(world.officer)  # another browser: its session holds no preview
    before = stored_state(app)
    response = other_admin.post("auth.confirm_import", {"digest": digest_of(page)})
    assert_refused(response, 409, "ไม่พบไฟล์ที่ตรวจสอบไว้")
    assert stored_state(app) == before


def test_a_preview_kept_for_another_admin_is_not_applied(app, world, officer, make_user):
    """The session names the admin who previewed; a session that says otherwise is refused."""
    other = make_user("ผู้ดูแลอีกคน", username="admin2", admin=True)
    page = preview(officer, csv_bytes("manee,มานี มีนา,"))
    name, path = app.config["SESSION_COOKIE_NAME"], app.config["URL_PREFIX"]
    serializer = app.session_interface.get_signing_serializer(app)
    session = serializer.loads(officer.cookie(name).value)
    session["staff_import"]["user"] = other.id
    officer.client.set_cookie(name, serializer.dumps(session), path=path)
    before = stored_state(app)

    response = confirm(officer, page)

    assert_refused(response, 409, "ไม่พบไฟล์ที่ตรวจสอบไว้")
    assert stored_state(app) == before and user("manee") is None


def test_old_uploads_are_swept_and_a_new_preview_replaces_the_last(app, world, officer):
    preview(officer, csv_bytes("manee,มานี มีนา,"))
    (first,) = pending_files(app)
    old = os.path.join(app.config["IMPORT_DIR"], "0" * 32)
    with open(old, "wb") as f:
        f.write(b"left over")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(old, (two_days_ago, two_days_ago))

    page = preview(officer, csv_bytes("somchai,สมชาย ใจดี,"))

    assert len(pending_files(app)) == 1 and not os.path.exists(old)
    assert first not in pending_files(app)
    confirm(officer, page)
    assert user("somchai") is not None and user("manee") is None


def test_a_preview_older_than_a_day_is_not_applied(app, world, officer):
    page = preview(officer, csv_bytes("manee,มานี มีนา,"))
    (kept,) = pending_files(app)
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(os.path.join(app.config["IMPORT_DIR"], kept), (two_days_ago, two_days_ago))
    before = stored_state(app)

    assert_refused(confirm(officer, page), 409, UPLOAD_AGAIN)

    assert stored_state(app) == before and user("manee") is None
    assert pending_files(app) == []


def test_switching_to_english_between_preview_and_confirm_still_applies(app, world, officer):
    """A rejected line's reason is in the reader's language; the preview is still the same."""
    page = preview(officer, csv_bytes("manee,มานี มีนา,", "bad user,ผู้ใช้ผิดรูปแบบ,"))
    assert len(rejected_lines(page)) == 1
    in_english(officer)

    response = confirm(officer, page)

    assert response.status_code == 302, response.get_data(as_text=True)
    assert user("manee").full_name == "มานี มีนา"


def test_an_import_folder_the_service_cannot_write_is_a_thai_503(
    app, world, make_app, tmp_path, caplog
):
    """REPORTS_IMPORT_DIR outside the unit's ReadWritePaths. Tests run as root in CI, where
    permission bits stop nobody: a folder under a regular file cannot be created by anyone."""
    regular_file = tmp_path / "not-a-folder"
    regular_file.write_bytes(b"")
    unwritable = make_app(IMPORT_DIR=str(regular_file / "imports"))
    b = Browser(unwritable)
    assert b.login("officer").status_code == 302
    before = stored_state(app)

    response = preview(b, csv_bytes("manee,มานี มีนา,"))

    assert_refused(response, 503, "เก็บไฟล์ไว้ตรวจสอบไม่ได้ กรุณาแจ้งผู้ดูแลระบบ")
    assert stored_state(app) == before and user("manee") is None
    assert any(r.exc_info and issubclass(r.exc_info[0], OSError) for r in caplog.records)


def test_two_confirms_of_one_preview_apply_it_once(app, world, officer, monkeypatch):
    """The same session in a second browser (a copied cookie, a second tab) confirms while the
    first confirm is between reading the kept file and writing: on PostgreSQL or MariaDB both
    pass the digest check. Only the one that removes the kept file applies it."""
    lines = [
        line
        for line in everyone(world, staff="วิไลวรรณ ทองดีมาก")
        if not line.startswith("receiver,")
    ]
    page = preview(officer, csv_bytes(*lines))
    replay = Browser(app)
    name, path = app.config["SESSION_COOKIE_NAME"], app.config["URL_PREFIX"]
    replay.client.set_cookie(name, officer.cookie(name).value, path=path)
    plan_file, meanwhile = staff_import.plan_file, []

    def second_confirm_arrives(*args, **kwargs):
        plan = plan_file(*args, **kwargs)
        if not meanwhile:  # the first confirm has read the file and planned, nothing more
            meanwhile.append(None)
            # Browser.open commits this request's session first: its reads end, as they
            # would not block the other request on a server database.
            meanwhile[0] = confirm(replay, page, deactivate=True)
        return plan

    monkeypatch.setattr(staff_import, "plan_file", second_confirm_arrives)
    first = confirm(officer, page, deactivate=True)

    assert meanwhile[0].status_code == 302, meanwhile[0].get_data(as_text=True)
    assert_refused(first, 409, UPLOAD_AGAIN)
    actions = db.session.scalars(
        db.select(AuditEntry.action).where(AuditEntry.action.like("staff_import%"))
    ).all()
    assert sorted(actions) == ["staff_import_deactivated", "staff_import_updated", "staff_imported"]
    assert user("staff").full_name == "วิไลวรรณ ทองดีมาก" and not user("receiver").active
    assert pending_files(app) == []


# --- re-import, deactivation, and nothing lost ---------------------------------------------


def test_reimporting_the_same_file_changes_nothing(app, world, officer):
    data = csv_bytes(*everyone(world, staff="วิไลวรรณ ทองดี"), f"somchai,{THAI_NAME},")
    imported(officer, data)
    after_first = stored_state(app)

    page = preview(officer, data)

    html = page.get_data(as_text=True)
    assert NOTHING_TO_DO in html and "ไม่เปลี่ยนแปลง 6 บัญชี" in html
    assert 'action="/myoffice/reports/accounts/import/confirm"' not in html
    assert pending_files(app) == []
    assert stored_state(app) == after_first


def test_missing_staff_are_listed_and_kept_unless_the_admin_ticks_the_box(app, world, officer):
    lines = [line for line in everyone(world) if not line.startswith(("staff,", "officer,"))]
    page = preview(officer, csv_bytes(*lines))
    html = page.get_data(as_text=True)
    assert "ไม่มีในไฟล์ 1 บัญชี" in html
    assert re.search(r'<tr class="missing-account">\s*<td[^>]*>staff</td>', html)
    # The admin (here also the one importing) is named, and never deactivated.
    assert "ผู้ดูแลระบบและบัญชีของท่านเองจะไม่ถูกปิดการใช้งานจากการนำเข้า" in html
    assert f'<li class="kept-account">{world.officer.full_name} (officer)</li>' in html
    assert 'name="deactivate_missing"' in html

    assert confirm(officer, page, deactivate=False).status_code == 302
    assert user("staff").active and user("officer").active


def test_deactivating_missing_staff_in_one_step_ends_their_sessions(
    app, world, officer, login_as, make_user
):
    other_admin = make_user("ผู้ดูแลอีกคน", username="admin2", admin=True)
    staff_browser = login_as(world.staff)
    version = world.staff.session_version
    lines = [line for line in everyone(world) if not line.startswith(("staff,", "officer,"))]

    accounts = imported(officer, csv_bytes(*lines), deactivate=True)

    assert "ปิดการใช้งาน 1 บัญชี" in accounts.get_data(as_text=True)
    staff = user("staff")
    assert not staff.active and staff.session_version == version + 1
    assert staff_browser.get("auth.index").status_code == 302  # sent to the login page
    assert user("officer").active and db.session.get(User, other_admin.id).active
    entry = db.session.scalar(db.select(AuditEntry).filter_by(action="staff_import_deactivated"))
    assert entry.object_id == staff.id
    assert user("staff") is not None  # deactivated, never deleted


def test_deactivating_a_receiver_warns_that_their_indicators_need_one(app, world, officer):
    lines = [line for line in everyone(world) if not line.startswith("receiver,")]
    accounts = imported(officer, csv_bytes(*lines), deactivate=True)
    html = accounts.get_data(as_text=True)
    assert f"{world.receiver.full_name} เป็นผู้รับข้อมูลของตัวชี้วัด {world.indicator.code}" in html


@pytest.mark.parametrize("way", ["import", "accounts page"])
def test_an_english_admin_reads_the_receivers_fiscal_year_in_the_common_era(
    app, world, officer, way
):
    in_english(officer)
    if way == "import":
        lines = [line for line in everyone(world) if not line.startswith("receiver,")]
        accounts = imported(officer, csv_bytes(*lines), deactivate=True)
    else:
        response = officer.post("auth.set_active", {"active": "0"}, user_id=world.receiver.id)
        assert response.status_code == 302
        accounts = officer.get("auth.accounts")
    html = accounts.get_data(as_text=True)
    code, year = world.indicator.code, world.indicator.fiscal_year  # FY 2570 ends in 2027
    assert f"{world.receiver.full_name} is the receiving officer of indicator" in html
    assert f"{code} ({year - 543})" in html and f"{code} ({year})" not in html


def test_inactive_accounts_in_the_export_are_not_reactivated(app, world, officer):
    assert (
        officer.post("auth.set_active", {"active": "0"}, user_id=world.staff.id).status_code == 302
    )
    page = preview(officer, csv_bytes(*everyone(world, staff="ชื่อใหม่ของคนที่ลาออก")))
    html = page.get_data(as_text=True)
    assert "ปิดการใช้งานอยู่ (ไม่เปิดให้) 1 บัญชี" in html
    assert f'<li class="inactive-account">{world.staff.full_name} (staff)</li>' in html
    assert NOTHING_TO_DO in html
    assert not user("staff").active and user("staff").full_name == world.staff.full_name


def test_nothing_already_stored_is_lost(app, world, officer, login_as, make_document):
    make_document(world.indicator, world.reporter)
    reporters = {u.id for u in world.indicator.reporters}
    data = csv_bytes(*(line.rsplit(",", 1)[0] + ",กลุ่มใหม่" for line in everyone(world)))

    imported(officer, data, deactivate=True)

    assert {u.position for u in db.session.scalars(db.select(User))} == {"กลุ่มใหม่"}
    assert user("reporter").reporter_status == REPORTER and user("officer").is_admin
    assert db.session.scalar(db.select(db.func.count(Document.id))) == 1
    db.session.refresh(world.indicator)
    assert {u.id for u in world.indicator.reporters} == reporters
    assert all(u.active for u in db.session.scalars(db.select(User)))
    assert login_as(world.reporter).get("send.index").status_code == 200  # password kept


# --- the command line ----------------------------------------------------------------------


def test_cli_dry_run_changes_nothing(app, world, export_file):
    path = export_file(csv_bytes(f"somchai,{THAI_NAME},", "staff,ชื่อใหม่,", "bad user,x,"))
    before = stored_state(app)

    result = run_cli(app, path, "--dry-run", "--deactivate-missing")

    assert result.exit_code == 0, result.output
    assert "เพิ่มบัญชีใหม่ 1 บัญชี" in result.output
    assert f"เพิ่ม: somchai {THAI_NAME} (-)" in result.output
    assert "แก้ไข: staff วิไลวรรณ ทองดี (กลุ่มอำนวยการ) -> ชื่อใหม่ (-)" in result.output
    assert "จะปิดการใช้งาน: receiver" in result.output
    assert "บรรทัด 4 ไม่รับ: ชื่อผู้ใช้ bad user ไม่ถูกต้อง" in result.output
    assert "ทดลองเท่านั้น (--dry-run)" in result.output
    assert stored_state(app) == before


def test_cli_imports_an_xlsx_and_a_second_run_is_idempotent(app, world, export_file):
    path = export_file(xlsx_bytes(("somchai", THAI_NAME, "กลุ่มอำนวยการ")), "personnel.xlsx")

    first = run_cli(app, path)

    assert first.exit_code == 0, first.output
    assert "บันทึกแล้ว: เพิ่ม 1 บัญชี แก้ไข 0 บัญชี ปิดการใช้งาน 0 บัญชี" in first.output
    assert user("somchai").full_name == THAI_NAME
    assert user("staff").active  # missing, but --deactivate-missing was not given
    after_first = stored_state(app)
    second = run_cli(app, path)
    assert second.exit_code == 0 and NOTHING_TO_DO in second.output
    assert stored_state(app) == after_first


def test_cli_deactivates_missing_staff_but_never_an_admin(app, world, export_file):
    path = export_file(csv_bytes("reporter,เอกชัย ศรีสุข,กลุ่มอำนวยการ", encoding="cp874"))
    result = run_cli(app, path, "--deactivate-missing")
    assert result.exit_code == 0, result.output
    assert "ผู้ดูแล ไม่ปิดการใช้งาน: officer" in result.output
    active = set(db.session.scalars(db.select(User.username).where(User.active.is_(True))))
    assert active == {"officer", "reporter"}


def test_cli_refuses_a_file_it_cannot_use_with_a_non_zero_exit(app, world, export_file):
    before = stored_state(app)
    missing = run_cli(app, export_file("ชื่อ-นามสกุล\nสมชาย ใจดี\n".encode()))
    assert missing.exit_code != 0
    assert "ไม่พบคอลัมน์ ชื่อผู้ใช้ (username)" in missing.output
    unreadable = run_cli(app, export_file(b"PK\x03\x04broken", "x.xlsx"))
    assert unreadable.exit_code != 0 and "เปิดไฟล์ Excel นี้ไม่ได้" in unreadable.output
    absent = run_cli(app, "/nonexistent/personnel.csv")
    assert absent.exit_code != 0 and "เปิดไฟล์ /nonexistent/personnel.csv ไม่ได้" in absent.output
    assert stored_state(app) == before
