"""Upload many at once: several files in one attach form, each stored or refused on its own.

Server side through the plain form (what a browser without JavaScript posts) and the JSON
answers the page's script asks for, then the same form in Chromium with and without JavaScript.
"""

import io
import os
import re
import threading
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from app import mount
from extensions import db, storage
from models import REPORTER, Document
from tests.conftest import PASSWORD
from tests.samples import sample_bytes

PDF = sample_bytes("pdf")
PNG = sample_bytes("png")
CSV = sample_bytes("csv")
EXE = b"MZ\x90\x00" + b"\x00" * 60
FAKE_PDF = b"this is not a pdf at all"
JSON = {"Accept": "application/json"}
SCREENSHOTS = Path(__file__).parent / "screenshots"


def documents() -> list[Document]:
    rows = list(db.session.scalars(select(Document).order_by(Document.id)))
    db.session.commit()
    return rows


def stored_bytes(document: Document) -> bytes:
    with storage().open(document.stored_name) as f:
        return f.read()


def upload_folder(app) -> set[str]:
    root = app.config["UPLOAD_DIR"]
    return {name for name in os.listdir(root) if not name.startswith(".")}


def post_files(b, indicator, files, titles=(), months="6", headers=None):
    """The attach form with several files (name, bytes) and titles, as one multipart post."""
    data = {
        "csrf_token": b.csrf_token(),
        "round_months": months,
        "title": list(titles),
        "file": [(io.BytesIO(content), name) for name, content in files],
    }
    return b.open(
        b.url("send.attach", indicator_id=indicator.id),
        method="POST",
        data=data,
        headers=headers or {},
    )


@pytest.fixture
def reporter(world, login_as):
    return login_as(world.reporter)


# --- the plain form, several files -----------------------------------------------------------


def test_several_files_are_stored_byte_identical_and_a_refused_one_costs_nothing(
    app, world, reporter
):
    files = [("รายงานผล.pdf", PDF), ("โปรแกรม.exe", EXE), ("ภาพกิจกรรม.png", PNG)]
    response = post_files(reporter, world.indicator, files, titles=["โครงการประหยัดพลังงาน"])
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    assert "ผลการส่งไฟล์" in html
    assert "ส่งแล้ว 2 ไฟล์ ไม่รับ 1 ไฟล์" in html
    assert "โปรแกรม.exe" in html and "ไม่รับไฟล์ชนิดนี้" in html
    sent = documents()
    assert [(d.original_name, d.title) for d in sent] == [
        ("รายงานผล.pdf", "โครงการประหยัดพลังงาน"),
        ("ภาพกิจกรรม.png", "ภาพกิจกรรม"),  # no title given: the file's name
    ]
    assert [stored_bytes(d) for d in sent] == [PDF, PNG]
    assert all(d.round_months == 6 and d.uploaded_by_id == world.reporter.id for d in sent)
    assert upload_folder(app) == {d.stored_name for d in sent}  # nothing kept of the .exe


def test_each_file_gets_the_title_in_its_position(world, reporter):
    files = [("ก.pdf", PDF), ("ข.pdf", PDF), ("ค.csv", CSV)]
    titles = ["ชื่อแรก", "  ", "ชื่อที่สาม"]
    assert post_files(reporter, world.indicator, files, titles).status_code == 200
    assert [d.title for d in documents()] == ["ชื่อแรก", "ข", "ชื่อที่สาม"]


def test_a_title_too_long_refuses_only_its_own_file(world, reporter):
    files = [("ก.pdf", PDF), ("ข.pdf", PDF)]
    response = post_files(reporter, world.indicator, files, ["ก" * 300, "ถูกต้อง"])
    assert response.status_code == 200
    assert "ชื่อรายการยาวเกิน 255 ตัวอักษร" in response.get_data(as_text=True)
    assert [d.title for d in documents()] == ["ถูกต้อง"]


def test_all_refused_is_a_400_naming_each_reason(app, world, reporter):
    files = [("โปรแกรม.exe", EXE), ("ปลอม.pdf", FAKE_PDF), ("ว่าง.pdf", b"")]
    response = post_files(reporter, world.indicator, files)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "ส่งแล้ว 0 ไฟล์ ไม่รับ 3 ไฟล์" in html
    assert "ไม่รับไฟล์ชนิดนี้" in html
    assert "ไฟล์นี้ไม่ใช่ไฟล์ PDF" in html
    assert "ไฟล์ว่างเปล่า" in html
    assert documents() == []
    assert upload_folder(app) == set()


def test_several_files_without_a_round_store_nothing(app, world, reporter):
    files = [("ก.pdf", PDF), ("ข.pdf", PDF)]
    response = post_files(reporter, world.indicator, files, months="")
    assert response.status_code == 400
    assert "กรุณาเลือกรอบการรายงาน" in response.get_data(as_text=True)
    assert documents() == [] and upload_folder(app) == set()


def test_one_file_keeps_the_form_as_before(world, reporter):
    """One file: the title is still required, and success still redirects with a message."""
    response = post_files(reporter, world.indicator, [("ก.pdf", PDF)])
    assert response.status_code == 400
    assert "กรุณากรอกข้อมูลนี้" in response.get_data(as_text=True)
    response = post_files(reporter, world.indicator, [("ก.pdf", PDF)], ["รายงาน"])
    assert response.status_code == 302
    assert [d.title for d in documents()] == ["รายงาน"]


def test_the_attach_page_offers_several_files(world, reporter):
    html = reporter.get("send.attach", indicator_id=world.indicator.id).get_data(as_text=True)
    assert re.search(r'<input [^>]*\bmultiple\b[^>]*name="file"', html)
    assert "upload.js" in html
    assert 'data-msg-summary="ส่งแล้ว {sent} ไฟล์ ไม่รับ {refused} ไฟล์"' in html


# --- the script's JSON answers ---------------------------------------------------------------


def test_json_answer_for_an_accepted_file(world, reporter):
    response = post_files(reporter, world.indicator, [("ผลงาน.pdf", PDF)], [""], headers=JSON)
    assert response.status_code == 200
    body = response.get_json()
    assert body["refused"] == []
    assert body["accepted"] == [
        {
            "name": "ผลงาน.pdf",
            "title": "ผลงาน",
            "size": len(PDF),
            "late": False,
            "message": "ส่งเอกสารเรียบร้อยแล้ว",
        }
    ]
    assert stored_bytes(documents()[0]) == PDF


def test_json_answer_for_a_refused_file(app, world, reporter):
    response = post_files(reporter, world.indicator, [("ปลอม.pdf", FAKE_PDF)], headers=JSON)
    assert response.status_code == 400
    body = response.get_json()
    assert body["accepted"] == []
    assert [r["name"] for r in body["refused"]] == ["ปลอม.pdf"]
    assert "ไฟล์นี้ไม่ใช่ไฟล์ PDF" in body["refused"][0]["reason"]
    assert documents() == [] and upload_folder(app) == set()


def test_json_answer_without_a_round(world, reporter):
    response = post_files(reporter, world.indicator, [("ก.pdf", PDF)], months="", headers=JSON)
    assert response.status_code == 400
    assert response.get_json()["refused"] == [{"name": "ก.pdf", "reason": "กรุณาเลือกรอบการรายงาน"}]


def test_json_answer_without_a_file(world, reporter):
    response = post_files(reporter, world.indicator, [], headers=JSON)
    assert response.status_code == 400
    assert response.get_json()["refused"] == [{"name": "", "reason": "กรุณาเลือกไฟล์แนบ"}]


def test_files_sent_one_request_each_say_sent_once_on_the_list(world, reporter):
    for name in ("ก.pdf", "ข.pdf", "ค.pdf"):
        assert post_files(reporter, world.indicator, [(name, PDF)], headers=JSON).status_code == 200
    html = reporter.get("send.index").get_data(as_text=True)
    assert html.count("ส่งเอกสารเรียบร้อยแล้ว") == 1
    assert len(documents()) == 3


def test_json_answer_to_someone_not_assigned_is_403(world, login_as):
    b = login_as(world.other_reporter)
    response = post_files(b, world.indicator, [("ก.pdf", PDF), ("ข.pdf", PDF)], headers=JSON)
    assert response.status_code == 403
    assert documents() == []


# --- in the browser --------------------------------------------------------------------------


@pytest.fixture
def live_server(app):
    servers = []

    def start() -> str:
        server = make_server("127.0.0.1", 0, mount(app), threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_port}{app.config['URL_PREFIX']}/"

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def three_files(tmp_path) -> list[Path]:
    # Big enough that the upload reports progress along the way, small enough to be quick.
    files = {
        "รายงานผลการดำเนินงาน.pdf": PDF + b"\n" * 2_000_000,
        "โปรแกรมติดตั้ง.exe": EXE,
        "ภาพกิจกรรม.png": PNG,
    }
    paths = []
    for name, content in files.items():
        path = tmp_path / name
        path.write_bytes(content)
        paths.append(path)
    return paths


def open_attach_page(context, base_url, indicator_id):
    page = context.new_page()
    page.goto(base_url + "login")
    page.get_by_label("ชื่อผู้ใช้", exact=True).fill("multi")
    page.get_by_label("รหัสผ่าน", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="เข้าระบบ", exact=True).click()
    page.wait_for_load_state("load")
    page.goto(f"{base_url}send/indicator/{indicator_id}/attach")
    return page


@pytest.mark.browser
def test_three_files_dropped_at_once_one_refused(
    app, make_user, make_indicator, chromium, live_server, three_files
):
    from playwright.sync_api import expect

    reporter = make_user("มานี ส่งไว", username="multi", status=REPORTER)
    indicator_id = make_indicator(reporters=[reporter]).id
    db.session.commit()
    base_url = live_server()
    context = chromium.new_context(locale="th-TH", viewport={"width": 360, "height": 740})
    context.set_default_timeout(15_000)
    try:
        page = open_attach_page(context, base_url, indicator_id)
        page.get_by_label("รอบ 6 เดือน", exact=True).check()
        # Each bar's largest value, seen as the upload runs (not only its end state).
        page.evaluate(
            """() => { window.seenProgress = {};
              new MutationObserver(() => document.querySelectorAll('#upload-list progress')
                .forEach((bar, i) => { window.seenProgress[i] = [bar.value, bar.max]; }))
              .observe(document.body, {subtree: true, childList: true, attributes: true}); }"""
        )
        # Dropped on the drop zone, as a DataTransfer holding all three.
        payload = [
            {"name": p.name, "data": list(p.read_bytes()) if p.stat().st_size < 10_000 else None}
            for p in three_files
        ]
        big = three_files[0]
        page.evaluate(
            """([files, bigName, bigSize]) => {
              const transfer = new DataTransfer();
              for (const f of files) {
                const bytes = f.data ? new Uint8Array(f.data) : new Uint8Array(bigSize);
                if (!f.data) bytes.set(new TextEncoder().encode('%PDF-1.4\\n'));
                transfer.items.add(new File([bytes], f.name));
              }
              const zone = document.getElementById('drop-zone');
              const how = {dataTransfer: transfer, bubbles: true};
              zone.dispatchEvent(new DragEvent('dragover', how));
              zone.dispatchEvent(new DragEvent('drop', how));
            }""",
            [payload, big.name, big.stat().st_size],
        )
        rows = page.locator("#upload-list > li")
        expect(rows).to_have_count(3)
        expect(page.locator("#upload-list progress")).to_have_count(3)
        for row, path in zip(rows.all(), three_files, strict=True):
            name = path.name.rsplit(".", 1)[0]
            expect(row.get_by_role("textbox")).to_have_value(name)
        rows.nth(0).get_by_role("textbox").fill("ผลการดำเนินงานรอบ 6 เดือน")
        page.get_by_role("button", name="บันทึกการส่ง").click()

        expect(page.get_by_role("status").filter(has_text="ไม่รับ 1 ไฟล์")).to_contain_text(
            "ส่งแล้ว 2 ไฟล์ ไม่รับ 1 ไฟล์"
        )
        expect(rows.nth(0).locator(".upload-result")).to_contain_text("ส่งเอกสารเรียบร้อยแล้ว")
        expect(rows.nth(1).locator(".upload-result")).to_contain_text("ไม่รับไฟล์ชนิดนี้")
        expect(rows.nth(2).locator(".upload-result")).to_contain_text("ส่งเอกสารเรียบร้อยแล้ว")
        for i in (0, 2):
            value, maximum = page.evaluate(f"window.seenProgress[{i}]")
            assert maximum > 0 and value == maximum
        assert page.evaluate(
            "[...document.querySelectorAll('#upload-list progress')].map(b => b.value >= b.max)"
        ) == [True, True, True]  # the refused one's request finished too
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "upload-many.png"), full_page=True)
        widths = page.evaluate("document.documentElement.scrollWidth")
        assert widths <= 360
        done = page.get_by_role("link", name="ไปหน้าเอกสารที่ส่งแล้ว")
        expect(done).to_be_visible()
        sent = documents()
        assert sorted((d.original_name, d.title) for d in sent) == [
            ("ภาพกิจกรรม.png", "ภาพกิจกรรม"),
            ("รายงานผลการดำเนินงาน.pdf", "ผลการดำเนินงานรอบ 6 เดือน"),
        ]
        png = next(d for d in sent if d.original_name.endswith(".png"))
        assert stored_bytes(png) == PNG
        done.click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("ส่งเอกสารคำรับรอง")
        expect(page.get_by_role("status").first).to_contain_text("ส่งเอกสารเรียบร้อยแล้ว")
    finally:
        context.close()


@pytest.mark.browser
def test_the_same_form_without_javascript(
    app, make_user, make_indicator, chromium, live_server, three_files
):
    from playwright.sync_api import expect

    reporter = make_user("มานี ส่งไว", username="multi", status=REPORTER)
    indicator_id = make_indicator(reporters=[reporter]).id
    db.session.commit()
    base_url = live_server()
    context = chromium.new_context(locale="th-TH", java_script_enabled=False)
    context.set_default_timeout(15_000)
    try:
        page = open_attach_page(context, base_url, indicator_id)
        page.get_by_label("รอบ 6 เดือน", exact=True).check()
        page.get_by_label("ชื่อรายการ", exact=True).fill("ผลการดำเนินงานรอบ 6 เดือน")
        page.get_by_label("ไฟล์แนบ", exact=True).set_input_files(three_files)
        page.get_by_role("button", name="บันทึกการส่ง").click()
        expect(page.get_by_role("heading", name="ผลการส่งไฟล์")).to_be_visible()
        results = page.locator(".upload-results li")
        expect(results).to_have_count(3)
        expect(results.nth(0)).to_contain_text("ส่งแล้ว")
        expect(results.nth(0)).to_contain_text("ผลการดำเนินงานรอบ 6 เดือน")
        expect(results.nth(1)).to_contain_text("ไม่รับไฟล์ชนิดนี้")
        expect(results.nth(2)).to_contain_text("ภาพกิจกรรม")
        expect(page.get_by_role("status").first).to_contain_text("ส่งแล้ว 2 ไฟล์ ไม่รับ 1 ไฟล์")
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "upload-many-no-js.png"), full_page=True)
        sent = documents()
        assert [stored_bytes(d) for d in sent] == [p.read_bytes() for p in three_files[::2]]
    finally:
        context.close()
