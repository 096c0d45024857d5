"""The manual's scenario in a real browser: Debian's Chromium driven by Playwright.

The app is served over real HTTP (werkzeug in a thread) on the test database, so the data the
fixtures create is what the browser sees. Controls are found by role and label only, which
also proves each one has an accessible name.
"""

import re
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select
from werkzeug.serving import make_server

from app import mount
from extensions import db
from models import REPORTER, Document
from tests.conftest import PASSWORD
from tests.samples import sample_bytes

pytestmark = pytest.mark.browser

VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True},
}
SCREENSHOTS = Path(__file__).parent / "screenshots"
THAI_NAME = "รายงานผลการดำเนินงาน รอบ 6 เดือน.pdf"
CODE = "2.1.1"
INDICATOR_NAME = "ร้อยละของหน่วยงานที่ดำเนินการตามมาตรการประหยัดพลังงานภาครัฐ"
TITLE = "โครงการประชุมเชิงปฏิบัติการ"
MENU = "เมนู"


@pytest.fixture
def live_server(app):
    """live_server(flask_app=app) -> the module's base URL, served over HTTP in a thread."""
    running = []

    def start(flask_app=None) -> str:
        flask_app = flask_app or app
        server = make_server("127.0.0.1", 0, mount(flask_app), threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        running.append((server, thread))
        return f"http://127.0.0.1:{server.server_port}{flask_app.config['URL_PREFIX']}/"

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def new_page(chromium, live_server):
    """new_page(viewport) -> a page in a fresh browser context (closed before the server)."""
    contexts = []

    def make(viewport: str = "desktop"):
        context = chromium.new_context(
            **VIEWPORTS[viewport],
            locale="th-TH",
            timezone_id="Asia/Bangkok",
            accept_downloads=True,
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def end_transaction():
    """Commit the test's own session so it holds no lock while the server writes (SQLite)."""
    db.session.commit()


def document_count() -> int:
    count = db.session.scalar(select(func.count()).select_from(Document))
    end_transaction()
    return count


@dataclass
class Cast:
    officer: str
    receiver: str
    receiver_name: str
    staff: str
    staff_name: str


def cast_of(world) -> Cast:
    cast = Cast(
        world.officer.username,
        world.receiver.username,
        world.receiver.full_name,
        world.staff.username,
        world.staff.full_name,
    )
    end_transaction()
    return cast


class Walk:
    """One browser's way through the pages: numbers each page and runs the checks on it."""

    def __init__(self, page, checks=()):
        self.page = page
        self.checks = list(checks)
        self.number = 0

    def at(self, name: str, heading: str):
        """Wait until the page with this <h1> has loaded, then check it."""
        expect(self.page.get_by_role("heading", level=1)).to_contain_text(heading)
        self.page.wait_for_load_state("load")
        self.number += 1
        for check in self.checks:
            check(self.page, f"{self.number:02d}-{name}")


def screenshots(viewport: str, prefix: str = ""):
    """Screenshot each page as <viewport>/<prefix>NN-step.png, after removing the scenario's old
    ones (only its own: each scenario in the folder has its prefix)."""
    folder = SCREENSHOTS / viewport
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(f"{prefix}[0-9][0-9]-*.png"):
        old.unlink()

    def check(page, step):
        page.screenshot(path=str(folder / f"{prefix}{step}.png"), full_page=True)

    return check


def no_sideways_scroll(width: int):
    def check(page, step):
        widths = page.evaluate("[document.documentElement.scrollWidth, document.body.scrollWidth]")
        assert widths[0] <= width and widths[1] <= width, (step, widths)

    return check


# Every visible form control needs a name a screen reader can announce.
UNNAMED_CONTROLS = """() => {
  const text = (el) => (el ? el.textContent : "").replace(/\\s+/g, " ").trim();
  const nameOf = (el) => {
    const ids = (el.getAttribute("aria-labelledby") || "").split(/\\s+/).filter(Boolean);
    const labelledBy = ids.map((id) => text(document.getElementById(id))).join(" ").trim();
    if (labelledBy) return labelledBy;
    const ariaLabel = (el.getAttribute("aria-label") || "").trim();
    if (ariaLabel) return ariaLabel;
    for (const label of el.labels || []) {  // label[for=id] and a wrapping <label>
      if (text(label)) return text(label);
    }
    if (el.tagName === "BUTTON") return text(el);
    if (el.tagName === "INPUT" && ["submit", "button", "reset"].includes(el.type)) {
      return (el.value || "").trim();
    }
    return "";
  };
  return [...document.querySelectorAll("input, select, textarea, button")]
    .filter((el) => el.type !== "hidden" && el.checkVisibility({visibilityProperty: true}))
    .filter((el) => !nameOf(el))
    .map((el) => el.outerHTML.slice(0, 160));
}"""


def accessibility_audit(offenders: list):
    def check(page, step):
        offenders.extend(f"{step}: {html}" for html in page.evaluate(UNNAMED_CONTROLS))

    return check


def log_in(walk: Walk, username: str):
    page = walk.page
    page.get_by_label("ชื่อผู้ใช้", exact=True).fill(username)
    page.get_by_label("รหัสผ่าน", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="เข้าระบบ", exact=True).click()
    walk.at(f"home-{username}", "ระบบรายงานตัวชี้วัดตามคำรับรองการปฏิบัติราชการ")


def log_out(walk: Walk):
    walk.page.get_by_role("button", name="ออกจากระบบ").click()
    walk.at("logged-out", "User Login")


def open_menu(walk: Walk, label: str, step: str, heading: str | None = None):
    menu = walk.page.get_by_role("navigation", name=MENU)
    menu.get_by_role("link", name=label, exact=True).click()
    walk.at(step, heading or label)


def sent_document(page):
    """The reporter's list entry for the document sent in these tests."""
    return (
        page.get_by_role("row").filter(has_text=CODE).get_by_role("listitem").filter(has_text=TITLE)
    )


def manual_flow(walk: Walk, base_url: str, cast: Cast, upload: Path):
    """Screens 1-11 of the manual, as the officer, the reporter and the receiver click them."""
    page = walk.page
    page.goto(base_url)  # anonymous: sent to the login page
    walk.at("login", "User Login")

    # The officer makes a staff member a reporter.
    log_in(walk, cast.officer)
    open_menu(walk, "กำหนดผู้รายงานตัวชี้วัด", "staff")
    row = page.get_by_role("row").filter(has_text=cast.staff_name)
    row.get_by_role("radio", name="ผู้รายงานตัวชี้วัด").check()
    row.get_by_role("button", name="บันทึก").click()
    expect(page.get_by_role("status")).to_contain_text(f"บันทึกสถานะของ {cast.staff_name}")
    expect(row.get_by_role("radio", name="ผู้รายงานตัวชี้วัด")).to_be_checked()
    walk.at("staff-saved", "กำหนดผู้รายงานตัวชี้วัด")

    # ... and records an indicator with a receiver and that reporter.
    open_menu(walk, "บันทึกตัวชี้วัด", "indicators")
    page.get_by_role("link", name="เพิ่มตัวชี้วัด").click()
    walk.at("indicator-form", "ระบบส่งรายชื่อตัวชี้วัด")
    page.get_by_label("รหัสตัวชี้วัด", exact=True).fill(CODE)
    page.get_by_label("ชื่อตัวชี้วัด", exact=True).fill(INDICATOR_NAME)
    receivers = page.get_by_role("group", name="จนท.รับข้อมูลตัวชี้วัด")
    receivers.get_by_label(cast.receiver_name, exact=True).check()
    reporters = page.get_by_role("group", name="จนท.รายงานตัวชี้วัด")
    reporters.get_by_label(cast.staff_name, exact=True).check()
    page.get_by_role("button", name="บันทึก", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(f"บันทึกตัวชี้วัด {CODE}")
    expect(page.get_by_role("row").filter(has_text=INDICATOR_NAME)).to_contain_text(
        cast.receiver_name
    )
    walk.at("indicator-saved", "บันทึกตัวชี้วัด")
    log_out(walk)

    # The reporter attaches a Thai-named PDF for รอบ 6 เดือน.
    log_in(walk, cast.staff)
    open_menu(walk, "ส่งเอกสารคำรับรอง", "send")
    page.get_by_role("row").filter(has_text=CODE).get_by_role("link", name="แนบไฟล์เพิ่ม").click()
    walk.at("attach", "ระบบส่งรายงานตัวชี้วัด")
    page.get_by_label("รอบ 6 เดือน", exact=True).check()
    page.get_by_label("ชื่อรายการ", exact=True).fill(TITLE)
    page.get_by_label("ไฟล์แนบ", exact=True).set_input_files(upload)
    page.get_by_role("button", name="บันทึกการส่ง").click()
    expect(page.get_by_role("status")).to_contain_text("ส่งเอกสารเรียบร้อยแล้ว")
    expect(sent_document(page).get_by_text("ส่งแล้ว", exact=True)).to_be_visible()
    walk.at("sent", "ส่งเอกสารคำรับรอง")
    log_out(walk)

    # The receiver opens the round and the indicator, downloads the file and stores it.
    log_in(walk, cast.receiver)
    open_menu(walk, "รับเอกสารรายงานตัวชี้วัด", "receive")
    page.get_by_role("link", name="รอบ 6 เดือน", exact=True).click()
    walk.at("round-6", "รอบ 6 เดือน")
    page.get_by_role("link", name=re.compile(rf"^ชื่อตัวชี้วัด : {re.escape(CODE)} ")).click()
    walk.at("receive-indicator", f"ชื่อตัวชี้วัด : {CODE} {INDICATOR_NAME} (0)")
    attachment = page.get_by_role("cell").filter(has_text="ไฟล์แนบ :").get_by_role("link")
    with page.expect_download() as download_info:
        attachment.click()
    download = download_info.value
    assert download.failure() is None
    assert download.suggested_filename == THAI_NAME
    assert Path(download.path()).read_bytes() == upload.read_bytes()
    page.get_by_role("button", name="จัดเก็บ").click()
    expect(page.get_by_role("status")).to_contain_text(f"จัดเก็บเอกสาร {TITLE}")
    document_row = page.get_by_role("row").filter(has_text=TITLE)
    expect(document_row.get_by_text("รับแล้ว", exact=True)).to_be_visible()
    walk.at("stored", f"ชื่อตัวชี้วัด : {CODE} {INDICATOR_NAME} (1)")
    log_out(walk)

    # The reporter sees รับแล้ว, and by whom.
    log_in(walk, cast.staff)
    open_menu(walk, "ส่งเอกสารคำรับรอง", "send-received")
    document = sent_document(page)
    expect(document.get_by_text("รับแล้ว", exact=True)).to_be_visible()
    expect(document).to_contain_text(cast.receiver_name)
    expect(document.get_by_text("ส่งแล้ว", exact=True)).to_have_count(0)


@pytest.fixture
def thai_pdf(tmp_path) -> Path:
    path = tmp_path / THAI_NAME
    path.write_bytes(sample_bytes("pdf"))
    return path


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_manual_in_the_browser(world, live_server, new_page, thai_pdf, viewport):
    cast = cast_of(world)
    base_url = live_server()
    checks = [screenshots(viewport)]
    if viewport == "phone":
        checks.insert(0, no_sideways_scroll(VIEWPORTS["phone"]["viewport"]["width"]))
    walk = Walk(new_page(viewport), checks)

    manual_flow(walk, base_url, cast, thai_pdf)

    document = db.session.scalars(select(Document)).one()
    assert (document.original_name, document.status) == (THAI_NAME, "received")
    end_transaction()


REASON = "ขาดลายมือชื่อผู้อำนวยการ"
REVISED_NAME = "รายงานผลการดำเนินงาน รอบ 6 เดือน (ฉบับแก้ไข).pdf"


@dataclass
class ReviewCast:
    reporter: str
    receiver: str
    receiver_name: str
    code: str
    indicator_name: str


def open_indicator_to_receive(walk: Walk, cast: ReviewCast, step: str, stored: int):
    """รับเอกสารรายงานตัวชี้วัด → รอบ 6 เดือน → the indicator, as the receiver."""
    page = walk.page
    open_menu(walk, "รับเอกสารรายงานตัวชี้วัด", f"{step}-receive")
    page.get_by_role("link", name="รอบ 6 เดือน", exact=True).click()
    walk.at(f"{step}-round-6", "รอบ 6 เดือน")
    page.get_by_role("link", name=re.compile(rf"^ชื่อตัวชี้วัด : {re.escape(cast.code)} ")).click()
    walk.at(f"{step}-indicator", f"ชื่อตัวชี้วัด : {cast.code} {cast.indicator_name} ({stored})")


def my_document(page, cast: ReviewCast):
    """The reporter's list entry (ส่งเอกสารคำรับรอง) for the document under review."""
    row = page.get_by_role("row").filter(has_text=cast.code)
    return row.get_by_role("listitem").filter(has_text=TITLE)


def review_flow(walk: Walk, base_url: str, cast: ReviewCast, revised: Path):
    """ส่งกลับแก้ไข → ส่งฉบับแก้ไข → ประวัติเอกสาร → จัดเก็บ, as the receiver and reporter click."""
    page = walk.page
    page.goto(base_url)
    walk.at("login", "User Login")

    # The receiver sends the document back, with a reason, from the disclosure on its row.
    log_in(walk, cast.receiver)
    open_indicator_to_receive(walk, cast, "first", stored=0)
    row = page.get_by_role("row").filter(has_text=TITLE)
    # A <details> (role group) whose form stays hidden until its <summary> is clicked.
    disclosure = row.get_by_role("group").filter(has_text="ส่งกลับแก้ไข")
    reason = disclosure.get_by_label("เหตุผล", exact=True)
    expect(reason).to_be_hidden()
    # (Playwright finds no text inside the <details> when searching from its group: the row.)
    row.get_by_text("ส่งกลับแก้ไข", exact=True).filter(visible=True).click()  # the summary
    expect(disclosure).to_have_attribute("open", "")
    reason.fill(REASON)
    walk.at("return-form", cast.code)
    disclosure.get_by_role("button", name=f"ส่งกลับแก้ไข {TITLE}", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(f"ส่งกลับแก้ไขเอกสาร {TITLE} แล้ว")
    expect(row.get_by_text("ส่งกลับแก้ไข", exact=True)).to_be_visible()  # the state, not a form
    expect(row).to_contain_text(f"เหตุผล: {REASON}")
    expect(row).to_contain_text(cast.receiver_name)
    expect(row.get_by_role("button")).to_have_count(0)  # neither จัดเก็บ nor a second return
    expect(disclosure).to_have_count(0)
    walk.at("returned", f"{cast.indicator_name} (0)")
    log_out(walk)

    # The reporter sees why, and sends a corrected file under the same (prefilled) title.
    log_in(walk, cast.reporter)
    open_menu(walk, "ส่งเอกสารคำรับรอง", "send-returned")
    document = my_document(page, cast)
    expect(document.get_by_text("ส่งกลับแก้ไข", exact=True)).to_be_visible()
    expect(document).to_contain_text(f"เหตุผล: {REASON}")
    document.get_by_role("link", name="ส่งฉบับแก้ไข", exact=True).click()
    walk.at("revise", "ส่งฉบับแก้ไข")
    expect(page.get_by_role("main")).to_contain_text(f"{TITLE} (รายงานผล.pdf)")
    expect(page.get_by_label("ชื่อรายการ", exact=True)).to_have_value(TITLE)
    page.get_by_label("ไฟล์แนบ", exact=True).set_input_files(revised)
    page.get_by_role("button", name="ส่งฉบับแก้ไข", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("ส่งเอกสารเรียบร้อยแล้ว")
    expect(document).to_have_count(1)  # the returned one now lives in the history only
    expect(document.get_by_text("ส่งแล้ว", exact=True)).to_be_visible()
    expect(document.get_by_text("ส่งกลับแก้ไข", exact=True)).to_have_count(0)
    walk.at("revision-sent", "ส่งเอกสารคำรับรอง")

    document.get_by_role("link", name="ประวัติเอกสาร", exact=True).click()
    walk.at("history", "ประวัติเอกสาร")
    versions = page.get_by_role("main").get_by_role("listitem")
    expect(versions).to_have_count(2)
    first, second = versions.nth(0), versions.nth(1)
    expect(first).to_contain_text("ฉบับที่ 1")
    expect(first.get_by_role("link", name="รายงานผล.pdf", exact=True)).to_be_visible()
    expect(first.get_by_text("มีฉบับแก้ไขแล้ว", exact=True)).to_be_visible()
    expect(first).to_contain_text(f"เหตุผล: {REASON}")
    expect(first).to_contain_text(cast.receiver_name)  # who returned it
    expect(second).to_contain_text("ฉบับที่ 2")
    expect(second.get_by_role("link", name=REVISED_NAME, exact=True)).to_be_visible()
    expect(second.get_by_text("ส่งแล้ว", exact=True)).to_be_visible()
    expect(second).to_have_attribute("aria-current", "true")  # the version opened
    log_out(walk)

    # The receiver stores the revision.
    log_in(walk, cast.receiver)
    open_indicator_to_receive(walk, cast, "revision", stored=0)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("(ฉบับแก้ไข)")
    expect(row.get_by_role("link", name=REVISED_NAME, exact=True)).to_be_visible()
    row.get_by_role("button", name=f"จัดเก็บ {TITLE}", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(f"จัดเก็บเอกสาร {TITLE}")
    expect(row.get_by_text("รับแล้ว", exact=True)).to_be_visible()
    walk.at("stored", f"{cast.indicator_name} (1)")
    log_out(walk)

    # ... and the reporter finally sees รับแล้ว, by whom.
    log_in(walk, cast.reporter)
    open_menu(walk, "ส่งเอกสารคำรับรอง", "send-received")
    expect(document.get_by_text("รับแล้ว", exact=True)).to_be_visible()
    expect(document).to_contain_text(cast.receiver_name)
    expect(document.get_by_text("ส่งแล้ว", exact=True)).to_have_count(0)


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_review_cycle_in_the_browser(
    world, make_document, live_server, new_page, tmp_path, viewport
):
    sent_id = make_document(world.indicator, world.reporter).id
    cast = ReviewCast(
        world.reporter.username,
        world.receiver.username,
        world.receiver.full_name,
        world.indicator.code,
        world.indicator.name,
    )
    end_transaction()
    revised = tmp_path / REVISED_NAME
    revised.write_bytes(sample_bytes("pdf") + b"% revised\n")
    base_url = live_server()
    offenders = []  # the return form, the revision form and the history are audited here too
    checks = [accessibility_audit(offenders), screenshots(viewport, prefix="review-")]
    if viewport == "phone":
        checks.insert(0, no_sideways_scroll(VIEWPORTS["phone"]["viewport"]["width"]))
    walk = Walk(new_page(viewport), checks)

    review_flow(walk, base_url, cast, revised)
    assert walk.number == 22
    assert offenders == [], "\n".join(offenders)

    documents = db.session.scalars(select(Document).order_by(Document.id)).all()
    assert len(documents) == 2
    first, second = documents
    assert (first.id, first.status, first.return_reason) == (sent_id, "replaced", REASON)
    assert (second.status, second.replaces_id) == ("received", first.id)
    assert (second.title, second.original_name) == (TITLE, REVISED_NAME)
    end_transaction()


def test_oversize_file_is_refused_before_upload(
    make_app, make_user, make_indicator, live_server, new_page, tmp_path
):
    reporter = make_user("เอกชัย ศรีสุข", username="reporter", status=REPORTER)
    make_indicator(CODE, INDICATOR_NAME, reporters=[reporter])
    end_transaction()
    base_url = live_server(make_app(MAX_UPLOAD_MB=1))
    page = new_page("desktop")
    walk = Walk(page)
    posts = []

    def record_post(request):
        if request.method == "POST":
            posts.append(request.url)

    page.on("request", record_post)

    page.goto(base_url)
    walk.at("login", "User Login")
    log_in(walk, "reporter")
    open_menu(walk, "ส่งเอกสารคำรับรอง", "send")
    page.get_by_role("link", name="แนบไฟล์เพิ่ม").click()
    walk.at("attach", "ระบบส่งรายงานตัวชี้วัด")
    posts.clear()  # the login's POST

    big = tmp_path / "รายงานฉบับเต็ม.pdf"
    big.write_bytes(sample_bytes("pdf").ljust(1024 * 1024 + 1, b"\n"))
    message = page.locator("#file-too-large")
    expect(message).to_be_hidden()
    file_input = page.get_by_label("ไฟล์แนบ", exact=True)
    page.get_by_label("รอบ 6 เดือน", exact=True).check()
    page.get_by_label("ชื่อรายการ", exact=True).fill(TITLE)
    file_input.set_input_files(big)
    expect(message).to_be_visible()
    expect(message).to_contain_text("ไฟล์มีขนาดใหญ่เกิน 1 MB")
    expect(file_input).to_have_attribute("aria-invalid", "true")
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "upload-limit.png"), full_page=True)

    page.get_by_role("button", name="บันทึกการส่ง").click()
    expect(file_input).to_be_focused()  # the submit handler ran and kept the reporter here
    page.wait_for_timeout(300)  # time for a (wrongly) started upload to show up
    assert posts == []
    assert page.url.endswith("/attach")
    assert document_count() == 0  # (the server would refuse it too: posts == [] is the proof)

    # A file within the limit clears the message and goes through: the refusal was the size.
    small = tmp_path / THAI_NAME
    small.write_bytes(sample_bytes("pdf"))
    file_input.set_input_files(small)
    expect(message).to_be_hidden()
    page.get_by_role("button", name="บันทึกการส่ง").click()
    expect(sent_document(page).get_by_text("ส่งแล้ว", exact=True)).to_be_visible()
    assert len(posts) == 1
    assert document_count() == 1


def test_every_control_has_an_accessible_name(world, live_server, new_page, thai_pdf):
    cast = cast_of(world)
    base_url = live_server()
    page = new_page("desktop")

    # The audit itself notices an unnamed control (and accepts the usual ways of naming one).
    page.set_content(
        '<label for="a">ชื่อ</label><input id="a"><label><input type="checkbox"> เลือก</label>'
        '<span id="n">รหัส</span><input aria-labelledby="n"><input aria-label="ค้นหา">'
        '<button>บันทึก</button><input type="hidden"><select hidden></select>'
        '<input id="unnamed"><button><img alt=""></button>'
    )
    found = page.evaluate(UNNAMED_CONTROLS)
    assert found == ['<input id="unnamed">', '<button><img alt=""></button>']

    offenders = []
    walk = Walk(page, [accessibility_audit(offenders)])
    manual_flow(walk, base_url, cast, thai_pdf)
    # The account pages every user and the officer reach from the same menu.
    open_menu(walk, "เปลี่ยนรหัสผ่าน", "password")
    log_out(walk)
    log_in(walk, cast.officer)
    open_menu(walk, "จัดการบัญชีผู้ใช้", "accounts")
    assert walk.number >= 20
    assert offenders == [], "\n".join(offenders)
