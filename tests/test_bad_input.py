"""Bad input over HTTP: a clear Thai message and a 4xx, never a 500, and nothing stored changes.

Every refusal below checks three things: the status code, a short distinctive piece of the Thai
message on the page (and that no error shown on the page is in English), and that the database
rows and the files in the upload folder (its .incoming/ too) are exactly what they were.
"""

import hashlib
import io
import os
import re

import pytest

from app import IdConverter
from blueprints.years.services import create_year
from extensions import db
from models import REPORTER, Document, Indicator
from tests.conftest import Browser
from tests.samples import SAMPLE_EXTENSIONS, compound_file, sample_bytes
from thai import fiscal_year

ACCEPTED = [*SAMPLE_EXTENSIONS, "jpeg"]
# The content type each extension's sample is stored with.
CONTENT_TYPES = {
    "pdf": "application/pdf",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt": "application/vnd.ms-powerpoint",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "odp": "application/vnd.oasis.opendocument.presentation",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "zip": "application/zip",
    "txt": "text/plain; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
}
# Renamed but still the same kind of file: plain text either way, and JPEG's two spellings.
COMPATIBLE = {("txt", "csv"), ("csv", "txt"), ("jpg", "jpeg")}

FORBIDDEN = "คุณไม่มีสิทธิ์ใช้งานหน้านี้"
NOT_FOUND = "ไม่พบหน้าหรือข้อมูลที่ต้องการ"
TOO_LARGE = "ไฟล์มีขนาดใหญ่เกินกำหนด"
REQUIRED = "กรุณากรอกข้อมูลนี้"
ROUND_REQUIRED = "กรุณาเลือกรอบการรายงาน"
# A value the form never offered: the field's own message, or WTForms' said in Thai.
NOT_OFFERED_ROUND = (ROUND_REQUIRED, "กรุณาเลือกจากรายการที่มีให้")
TOO_LONG = "ยาวเกิน"  # ชื่อรายการยาวเกิน 255 ตัวอักษร / ข้อความยาวเกินกำหนด
NOT_EDITABLE = "จึงแก้ไขหรือลบไม่ได้"
ALREADY_HANDLED = "มีผู้ดำเนินการไปแล้ว"

MB = 1024 * 1024
OMIT = object()  # a form field the request leaves out entirely

THAI = re.compile("[\u0e00-\u0e7f]")
SHOWN_ERRORS = re.compile(
    r'<p class="flash flash-error"[^>]*>(.*?)</p>'
    r'|<span class="field-error" id="[^"]*-error">(.*?)</span>',
    re.S,
)


# --- helpers -------------------------------------------------------------------------------


def stored_state(app):
    """Every row of every table, and every file under the upload folder with its digest."""
    rows = {
        table.name: db.session.execute(table.select().order_by(*table.primary_key.columns)).all()
        for table in db.metadata.sorted_tables
    }
    db.session.commit()  # end the read, so the next request does not wait on this session
    root = app.config["UPLOAD_DIR"]
    files = {}
    for folder, _dirs, names in os.walk(root):
        files[os.path.relpath(folder, root)] = None  # an added or removed folder counts too
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return rows, files


def shown_errors(html: str) -> list[str]:
    return [flash or field for flash, field in SHOWN_ERRORS.findall(html)]


def assert_refused(response, status: int, message: str | tuple[str, ...]):
    """The status, the Thai message on the page (any one of several, given a tuple), and no
    error shown in any other language."""
    html = response.get_data(as_text=True)
    shown = shown_errors(html) + re.findall(r"<h1>(.*?)</h1>", html)
    assert response.status_code == status, shown
    messages = message if isinstance(message, tuple) else (message,)
    assert all(THAI.search(text) for text in messages)
    assert any(text in html for text in messages), shown
    english = [text for text in shown if not THAI.search(text)]
    assert not english, f"errors shown without Thai: {english}"


def upload(
    b: Browser,
    indicator_id: int,
    data: bytes | None = None,
    name="รายงานผล.pdf",
    months="6",
    title="โครงการประชุมเชิงปฏิบัติการ",
    csrf=True,
):
    """Post the attach form; a field given as OMIT is left out, data=None sends no file part."""
    form = {"round_months": months, "title": title}
    if csrf:  # True: fetch a token; a string: that token
        form["csrf_token"] = csrf if isinstance(csrf, str) else b.csrf_token()
    if data is not None:
        # Escaped as curl does: in a quoted-string a bare backslash escapes the next character.
        form["file"] = (io.BytesIO(data), name.replace("\\", "\\\\").replace('"', '\\"'))
    form = {key: value for key, value in form.items() if value is not OMIT}
    return b.open(b.url("send.attach", indicator_id=indicator_id), method="POST", data=form)


@pytest.fixture
def state(app):
    """state() -> what is stored right now; compare before and after a refused request."""
    return lambda: stored_state(app)


@pytest.fixture
def reporter(world, login_as, make_document):
    """The assigned reporter's browser, with one document already sent (so 'unchanged' means
    something)."""
    make_document(world.indicator, world.reporter, title="เอกสารเดิม")
    return login_as(world.reporter)


def only_new_document(before_ids: set[int]) -> Document:
    documents = db.session.scalars(db.select(Document).where(Document.id.not_in(before_ids)))
    (document,) = documents.all()
    return document


def document_ids() -> set[int]:
    return set(db.session.scalars(db.select(Document.id)))


# --- file types ----------------------------------------------------------------------------


@pytest.mark.parametrize("ext", SAMPLE_EXTENSIONS)
def test_each_sample_under_its_own_extension_is_stored_as_sent(app, world, reporter, ext):
    data = sample_bytes(ext)
    before = document_ids()
    response = upload(reporter, world.indicator.id, data, name=f"หลักฐาน.{ext}")
    assert response.status_code == 302, response.get_data(as_text=True)
    document = only_new_document(before)
    assert document.original_name == f"หลักฐาน.{ext}"
    assert document.content_type == CONTENT_TYPES[ext]
    assert document.size == len(data)
    assert document.sha256 == hashlib.sha256(data).hexdigest()
    path = os.path.join(app.config["UPLOAD_DIR"], document.stored_name)
    with open(path, "rb") as f:
        assert f.read() == data
    assert os.listdir(os.path.join(app.config["UPLOAD_DIR"], ".incoming")) == []


@pytest.mark.parametrize("source, claimed", sorted(COMPATIBLE))
def test_compatible_renames_are_accepted(world, reporter, source, claimed):
    data = sample_bytes(source)
    before = document_ids()
    response = upload(reporter, world.indicator.id, data, name=f"หลักฐาน.{claimed}")
    assert response.status_code == 302, response.get_data(as_text=True)
    document = only_new_document(before)
    assert document.content_type == CONTENT_TYPES[claimed]
    assert document.size == len(data) and document.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("source", SAMPLE_EXTENSIONS)
def test_a_file_renamed_to_another_type_is_refused(world, reporter, state, source):
    """The sample under every other accepted extension, one upload each; all are reported."""
    if source in ("txt", "csv"):  # plain text is no known binary type: nothing to suggest
        message = "หรือไฟล์อาจเสียหาย"
    else:  # the page names the extension the file really has
        message = f"กรุณาแก้นามสกุลไฟล์เป็น .{source}"
    token = reporter.csrf_token()
    before = state()
    wrong = {}
    for claimed in ACCEPTED:
        if claimed == source or (source, claimed) in COMPATIBLE:
            continue
        name = f"ไฟล์.{claimed}"
        response = upload(reporter, world.indicator.id, sample_bytes(source), name, csrf=token)
        try:
            assert_refused(response, 400, message)
            assert "ไฟล์นี้ไม่ใช่" in response.get_data(as_text=True)
            assert state() == before
        except AssertionError as error:
            wrong[claimed] = str(error).splitlines()[0][:200]
    assert not wrong


# --- the attach form's fields --------------------------------------------------------------


PDF = sample_bytes("pdf")


@pytest.mark.parametrize(
    "fields, message",
    [
        pytest.param({"months": OMIT}, ROUND_REQUIRED, id="no-round"),
        pytest.param({"months": ""}, ROUND_REQUIRED, id="empty-round"),
        pytest.param({"months": "7"}, NOT_OFFERED_ROUND, id="round-7"),
        pytest.param({"months": "3"}, NOT_OFFERED_ROUND, id="round-3-not-offered"),
        pytest.param({"months": "abc"}, NOT_OFFERED_ROUND, id="round-abc"),
        pytest.param({"months": "99999999999999999999"}, NOT_OFFERED_ROUND, id="round-huge"),
        pytest.param({"title": OMIT}, REQUIRED, id="no-title"),
        pytest.param({"title": ""}, REQUIRED, id="empty-title"),
        pytest.param({"title": " \t "}, REQUIRED, id="blank-title"),
        pytest.param({"title": "ก" * 300}, TOO_LONG, id="title-300"),
        pytest.param({"data": None}, "กรุณาเลือกไฟล์แนบ", id="no-file-part"),
        pytest.param({"data": b"", "name": ""}, "กรุณาเลือกไฟล์แนบ", id="no-file-chosen"),
        pytest.param({"data": b""}, "ไฟล์ว่างเปล่า", id="empty-file"),
        pytest.param({"name": "โปรแกรม.exe"}, "ไม่รับไฟล์ชนิดนี้", id="exe"),
        pytest.param({"name": "รายงาน"}, "ไม่รับไฟล์ชนิดนี้", id="no-extension"),
        pytest.param({"name": "../../"}, "ไม่รับไฟล์ชนิดนี้", id="only-a-path"),
        pytest.param(
            {"data": compound_file(["EncryptedPackage"]), "name": "รหัส.docx"},
            "ไฟล์นี้ตั้งรหัสผ่านไว้",
            id="password-protected-docx",
        ),
        pytest.param(
            {"data": b"\x00\x01\x02binary", "name": "x.csv"}, "ไม่ใช่ไฟล์ CSV", id="binary-csv"
        ),
    ],
)
def test_attach_form_with_a_bad_field_is_refused(world, reporter, state, fields, message):
    fields = {"data": PDF, **fields}
    before = state()
    response = upload(reporter, world.indicator.id, **fields)
    assert_refused(response, 400, message)
    assert state() == before


def test_a_title_of_exactly_255_characters_is_accepted(world, reporter):
    title = "ก" * 255
    before = document_ids()
    assert upload(reporter, world.indicator.id, PDF, title=title).status_code == 302
    assert only_new_document(before).title == title


def test_attach_without_csrf_token_is_refused(world, reporter, state):
    before = state()
    response = upload(reporter, world.indicator.id, PDF, csrf=False)
    assert_refused(response, 400, "แบบฟอร์มหมดอายุหรือไม่ถูกต้อง")
    assert state() == before


@pytest.mark.parametrize(
    "name, kept",
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("..\\..\\x.pdf", "x.pdf"),
        ("/etc/cron.d/รายงาน.pdf", "รายงาน.pdf"),
        ("C:\\Users\\สมชาย\\Desktop\\ผลงาน.pdf", "ผลงาน.pdf"),
        ("รายงาน\tผล\x07การ\u202eดำเนินงาน\u200b.pdf", "รายงานผลการดำเนินงาน.pdf"),
        ("\x1b[31mรายงาน\x7f.pdf", "[31mรายงาน.pdf"),
    ],
)
def test_file_name_loses_its_path_and_control_characters(app, world, reporter, name, kept):
    root = app.config["UPLOAD_DIR"]
    parent = os.path.dirname(root)
    files_before, beside_before = set(os.listdir(root)), set(os.listdir(parent))
    before = document_ids()
    response = upload(reporter, world.indicator.id, PDF, name=name)
    assert response.status_code == 302, response.get_data(as_text=True)
    document = only_new_document(before)
    assert document.original_name == kept
    assert set(os.listdir(root)) - files_before == {document.stored_name}
    path = os.path.realpath(os.path.join(root, document.stored_name))
    assert os.path.dirname(path) == os.path.realpath(root)
    assert re.fullmatch(r"[0-9a-f]{32}\.pdf", document.stored_name)
    assert set(os.listdir(parent)) == beside_before  # nothing beside the upload folder


# --- size ----------------------------------------------------------------------------------


@pytest.fixture
def small(make_app, world, make_document):
    """An app on the same database and upload folder that accepts files of at most 1 MB, and
    the assigned reporter logged in to it."""
    make_document(world.indicator, world.reporter, title="เอกสารเดิม")
    small = make_app(MAX_UPLOAD_MB=1)
    b = Browser(small)
    assert b.login(world.reporter.username).status_code == 302
    return b


def padded_pdf(size: int) -> bytes:
    return PDF + b"\n" * (size - len(PDF))


def test_a_file_one_byte_over_the_limit_gets_the_thai_413(world, small, state):
    before = state()
    response = upload(small, world.indicator.id, padded_pdf(MB + 1))
    assert_refused(response, 413, TOO_LARGE)
    assert "ขนาดไฟล์ต้องไม่เกิน 1 MB" in response.get_data(as_text=True)
    assert state() == before


def test_a_request_far_over_the_limit_gets_the_thai_413(world, small, state):
    before = state()
    response = upload(small, world.indicator.id, padded_pdf(3 * MB))
    assert_refused(response, 413, TOO_LARGE)
    assert state() == before


def test_a_file_of_exactly_the_limit_is_accepted(world, small):
    before = document_ids()
    assert upload(small, world.indicator.id, padded_pdf(MB)).status_code == 302
    assert only_new_document(before).size == MB


def test_attach_page_carries_the_browser_side_limit(world, small):
    html = small.get("send.attach", indicator_id=world.indicator.id).get_data(as_text=True)
    assert re.search(r'<form [^>]*data-max-bytes="1048576"', html)
    assert "ไฟล์ละไม่เกิน 1 MB" in html
    assert re.search(r'id="file-too-large"[^>]* hidden>ไฟล์มีขนาดใหญ่เกิน 1 MB', html)


# --- whose indicator, whose document -------------------------------------------------------


def test_reporter_not_assigned_to_the_indicator_gets_403(world, login_as, state):
    b = login_as(world.other_reporter)
    before = state()
    assert_refused(b.get("send.attach", indicator_id=world.indicator.id), 403, FORBIDDEN)
    assert_refused(upload(b, world.indicator.id, PDF), 403, FORBIDDEN)
    assert state() == before


def test_staff_who_are_not_reporters_get_403_on_attach(world, login_as, state):
    b = login_as(world.staff)
    before = state()
    assert_refused(b.get("send.attach", indicator_id=world.indicator.id), 403, FORBIDDEN)
    assert_refused(upload(b, world.indicator.id, PDF), 403, FORBIDDEN)
    assert state() == before


def test_a_co_reporter_may_not_edit_or_delete_another_reporters_document(
    world, login_as, make_document, state
):
    world.indicator.reporters.append(world.other_reporter)
    db.session.commit()
    document = make_document(world.indicator, world.reporter)
    b = login_as(world.other_reporter)
    before = state()
    assert_refused(b.get("send.edit", document_id=document.id), 403, FORBIDDEN)
    edit = b.post("send.edit", {"title": "แก้ของคนอื่น"}, document_id=document.id)
    assert_refused(edit, 403, FORBIDDEN)
    assert_refused(b.post("send.delete", document_id=document.id), 403, FORBIDDEN)
    assert state() == before


def test_a_receiver_may_not_store_or_open_another_receivers_indicator(
    world, login_as, make_document, state
):
    other_indicator = db.session.scalar(db.select(Indicator).where(Indicator.code == "9.9"))
    document = make_document(other_indicator, world.other_reporter)
    b = login_as(world.receiver)
    before = state()
    page = b.get("receive.indicator_page", months=6, indicator_id=other_indicator.id)
    assert_refused(page, 403, FORBIDDEN)
    assert_refused(b.post("receive.store", document_id=document.id), 403, FORBIDDEN)
    assert_refused(b.get("receive.download", document_id=document.id), 403, FORBIDDEN)
    assert state() == before


# --- ids and other numbers in the URL ------------------------------------------------------

# Every route with an <id:...> in its URL; test_every_numbered_route_is_listed keeps these
# lists complete as routes are added.
ID_ROUTES = [
    ("GET", "/send/indicator/{}/attach"),
    ("POST", "/send/indicator/{}/attach"),
    ("GET", "/send/document/{}/edit"),
    ("POST", "/send/document/{}/edit"),
    ("POST", "/send/document/{}/delete"),
    ("GET", "/send/document/{}/revise"),
    ("POST", "/send/document/{}/revise"),
    ("GET", "/receive/round/6/indicator/{}"),
    ("POST", "/receive/document/{}/store"),
    ("POST", "/receive/document/{}/return"),
    ("POST", "/receive/document/{}/undo"),
    ("GET", "/receive/document/{}/history"),
    ("GET", "/receive/document/{}/file"),
    ("GET", "/receive/round/6/indicator/{}/export.zip"),
    ("GET", "/indicators/{}/edit"),
    ("POST", "/indicators/{}/edit"),
    ("POST", "/indicators/{}/delete"),
    ("POST", "/roles/{}"),
    ("POST", "/accounts/{}/password"),
    ("POST", "/accounts/{}/active"),
]
# Every other number in a URL (a round's months, a fiscal year), each in turn.
NUMBER_ROUTES = [
    ("GET", "/receive/round/{}"),
    ("GET", "/receive/round/{}/indicator/1"),
    ("GET", "/receive/round/{}/summary"),
    ("GET", "/receive/round/{}/indicator/1/export.zip"),
    ("GET", "/receive/{}/round/6/export.zip"),
    ("GET", "/receive/2570/round/{}/export.zip"),
    ("POST", "/receive/{}/round/6/handover"),
    ("POST", "/receive/2570/round/{}/handover"),
    ("GET", "/receive/{}/status.xlsx"),
    ("POST", "/years/{}/close"),
    ("POST", "/years/{}/copy"),
    ("POST", "/years/{}/rounds"),
    ("POST", "/years/{}/rounds/6"),
    ("POST", "/years/2570/rounds/{}"),
]
BAD_IDS = [
    "99999999999999999999",  # past every database's BIGINT
    "9223372036854775808",  # one past BIGINT
    "2147483648",  # one past INTEGER
    "2147483647",  # the largest INTEGER: a fine id, just not one that exists
    "0",
    "-1",
    "abc",
    "1.5",
    "1e3",
    "%20",
]
BAD_NUMBERS = [
    "99999999999999999999",
    "9223372036854775808",
    "2147483648",
    "32768",
    "0",
    "-1",
    "abc",
]
# Whatever a form on these routes may ask for, filled in, so only the URL is wrong.
FILLED = {
    "title": "x",
    "reason": "x",
    "status": "reporter",
    "source": "2570",
    "months": "3",
    "due_date": "2027-04-15",
}


def test_every_numbered_route_is_listed(app):
    """Each number in each URL varied in turn, the others valid: exactly the two lists."""
    valid = {"id": "1", "year": "2570", "months": "6"}
    found = set()
    for rule in app.url_map.iter_rules():
        parts = re.findall(r"<(\w+)(?:\([^)]*\))?:(\w+)>", rule.rule)
        for varied in [part for part in parts if part[0] in ("id", "int")]:
            template = rule.rule
            for converter, name in parts:
                value = (
                    "{}"
                    if (converter, name) == varied
                    else valid["id" if converter == "id" else name]
                )
                template = re.sub(rf"<{converter}(\([^)]*\))?:{name}>", value, template)
            found |= {(method, template) for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert found == set(ID_ROUTES) | set(NUMBER_ROUTES)
    assert app.url_map.converters["id"] is IdConverter


@pytest.fixture
def everyone(make_user, login_as, world, make_document):
    """One browser that passes every access level (admin, reporter, so receiver too), so only
    the id decides the answer; and some rows for 'nothing changed' to mean something."""
    make_document(world.indicator, world.reporter)
    return login_as(make_user("ผู้ดูแล ทุกสิทธิ์", admin=True, status=REPORTER))


def request_each(b: Browser, method: str, template: str, values: list[str]) -> dict:
    """{value: response} for the route with each value in the URL."""
    prefix, token = b.app.config["URL_PREFIX"], b.csrf_token()
    data = {"csrf_token": token, **FILLED} if method == "POST" else None
    return {
        value: b.open(prefix + template.format(value), method=method, data=data) for value in values
    }


@pytest.mark.parametrize("method, template", ID_ROUTES)
def test_an_id_that_is_not_a_row_is_404(everyone, state, method, template):
    before = state()
    responses = request_each(everyone, method, template, BAD_IDS)
    answers = {bad: response.status_code for bad, response in responses.items()}
    assert answers == {bad: 404 for bad in BAD_IDS}
    for response in responses.values():
        assert_refused(response, 404, NOT_FOUND)
    assert state() == before


@pytest.mark.parametrize("method, template", NUMBER_ROUTES)
def test_a_number_out_of_range_in_the_url_is_refused_not_500(everyone, state, method, template):
    before = state()
    for bad, response in request_each(everyone, method, template, BAD_NUMBERS).items():
        assert 400 <= response.status_code < 500, (bad, response.status_code)
        html = response.get_data(as_text=True)
        messages = shown_errors(html) + re.findall(r"<h1>(.*?)</h1>", html)
        assert messages and all(THAI.search(text) for text in messages), (bad, messages)
    assert state() == before


@pytest.mark.parametrize("year", ["abc", "-1", "99999999999999999999", "2570.5"])
@pytest.mark.parametrize(
    "endpoint", ["send.index", "receive.index", "indicators.index", "audit.index"]
)
def test_a_nonsense_year_or_page_in_the_query_falls_back_not_500(everyone, endpoint, year):
    assert everyone.get(endpoint, year=year).status_code == 200
    assert everyone.get(endpoint, page=year).status_code == 200


@pytest.mark.parametrize("value", ["abc", "-1", "0", "99999999999999999999", "2569-13-45"])
@pytest.mark.parametrize("name", ["user", "indicator", "action", "since", "until", "page"])
def test_a_nonsense_audit_filter_is_ignored_not_500(everyone, name, value):
    assert everyone.get("audit.index", **{name: value}).status_code == 200


# --- the indicator form --------------------------------------------------------------------


@pytest.fixture
def officer(world, login_as):
    return login_as(world.officer)


def indicator_form(world, **changes):
    form = {
        "fiscal_year": str(fiscal_year()),
        "category": "KRS",
        "code": "2.1",
        "name": "ร้อยละของผู้รับบริการที่พึงพอใจ",
        "receiver": str(world.receiver.id),
        "reporters": [str(world.reporter.id)],
    }
    form.update(changes)
    return {key: value for key, value in form.items() if value is not OMIT}


RECEIVER_REQUIRED = "กรุณาเลือก จนท.รับข้อมูลตัวชี้วัด หนึ่งคน"
NOT_A_RECEIVER = (RECEIVER_REQUIRED, "กรุณาเลือกจากรายการที่มีให้")
REPORTERS_REQUIRED = "กรุณาเลือก จนท.รายงานตัวชี้วัด อย่างน้อยหนึ่งคน"
ONLY_REPORTERS = ("เลือกได้เฉพาะบุคลากรที่เป็นผู้รายงานตัวชี้วัด", "มีตัวเลือกที่ไม่ถูกต้อง")
BAD_YEAR = ("ปีงบประมาณ (พ.ศ.) ไม่ถูกต้อง", "ปีงบประมาณไม่ถูกต้อง")


@pytest.mark.parametrize(
    "changes, message",
    [
        pytest.param({"code": OMIT}, REQUIRED, id="no-code"),
        pytest.param({"code": "   "}, REQUIRED, id="blank-code"),
        pytest.param({"code": "1." * 20}, TOO_LONG, id="code-40-chars"),
        pytest.param({"name": ""}, REQUIRED, id="empty-name"),
        pytest.param({"name": "\n \n"}, REQUIRED, id="blank-name"),
        pytest.param({"reporters": OMIT}, REPORTERS_REQUIRED, id="no-reporters"),
        pytest.param({"reporters": []}, REPORTERS_REQUIRED, id="empty-reporters"),
        pytest.param({"receiver": OMIT}, RECEIVER_REQUIRED, id="no-receiver"),
        pytest.param({"receiver": "2147483647"}, NOT_A_RECEIVER, id="receiver-missing"),
        pytest.param({"receiver": "99999999999999999999"}, NOT_A_RECEIVER, id="receiver-huge"),
        pytest.param({"receiver": "abc"}, NOT_A_RECEIVER, id="receiver-abc"),
        pytest.param({"reporters": ["2147483647"]}, ONLY_REPORTERS, id="reporter-missing"),
        pytest.param(
            {"reporters": ["abc"]}, (*ONLY_REPORTERS, REPORTERS_REQUIRED), id="reporter-abc"
        ),
        pytest.param({"fiscal_year": OMIT}, REQUIRED, id="no-year"),
        pytest.param({"fiscal_year": "abc"}, BAD_YEAR, id="year-abc"),
        pytest.param({"fiscal_year": "3000"}, BAD_YEAR, id="year-3000"),
        pytest.param({"fiscal_year": "2024"}, BAD_YEAR, id="year-christian-era"),
        pytest.param({"fiscal_year": "99999999999999999999"}, BAD_YEAR, id="year-huge"),
    ],
)
def test_indicator_form_with_a_bad_field_is_refused(world, officer, state, changes, message):
    before = state()
    response = officer.post("indicators.create", indicator_form(world, **changes))
    assert_refused(response, 400, message)
    assert state() == before


@pytest.mark.parametrize("who", ["staff", "receiver", "officer"])
def test_indicator_form_refuses_reporters_not_marked_reporter(world, officer, state, who):
    """General staff, someone never marked, and the admin: none of them is a reporter."""
    person = getattr(world, who)
    before = state()
    response = officer.post("indicators.create", indicator_form(world, reporters=[str(person.id)]))
    assert_refused(response, 400, ONLY_REPORTERS)
    assert state() == before


def test_edit_form_with_a_bad_field_is_refused(world, officer, state):
    before = state()
    for changes, message in (
        ({"code": ""}, REQUIRED),
        ({"reporters": OMIT}, REPORTERS_REQUIRED),
        ({"reporters": [str(world.staff.id)]}, ONLY_REPORTERS),
    ):
        response = officer.post(
            "indicators.edit", indicator_form(world, **changes), indicator_id=world.indicator.id
        )
        assert_refused(response, 400, message)
    assert state() == before


def test_same_code_in_the_same_year_differing_in_case_and_spaces_is_refused(
    world, officer, make_indicator, state
):
    year = fiscal_year()
    make_indicator("7.1B", year=year, receiver=world.receiver, reporters=[world.reporter])
    before = state()
    response = officer.post("indicators.create", indicator_form(world, code=" 7.1b "))
    assert_refused(response, 409, f"มีอยู่แล้วในปี {year}")
    assert state() == before

    # Renaming another indicator of that year onto the code is refused the same way.
    response = officer.post(
        "indicators.edit", indicator_form(world, code="7.1B "), indicator_id=world.indicator.id
    )
    assert_refused(response, 409, f"มีอยู่แล้วในปี {year}")
    assert state() == before

    # The same code in another fiscal year is a different indicator.
    create_year(year + 1)
    db.session.commit()
    response = officer.post(
        "indicators.create", indicator_form(world, code=" 7.1b ", fiscal_year=str(year + 1))
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    codes = db.session.execute(
        db.select(Indicator.fiscal_year, Indicator.code).where(Indicator.code_key == "7.1b")
    ).all()
    assert sorted(codes) == [(year, "7.1B"), (year + 1, "7.1b")]


def test_an_indicator_in_a_year_not_opened_is_refused(world, officer, state):
    year = fiscal_year() + 5
    before = state()
    response = officer.post("indicators.create", indicator_form(world, fiscal_year=str(year)))
    assert_refused(response, 409, f"ยังไม่ได้เปิดปีงบประมาณ {year}")
    assert state() == before


# --- roles ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status", [OMIT, "", "admin", "REPORTER", " reporter", "general ", "receiver", "-"]
)
def test_reporter_status_not_offered_is_refused(world, officer, state, status):
    before = state()
    data = {} if status is OMIT else {"status": status}
    response = officer.post("roles.set_status", data, user_id=world.staff.id)
    assert_refused(response, 400, "กรุณาเลือก ผู้รายงานตัวชี้วัด หรือ จนท.ทั่วไป")
    assert state() == before


# --- receipt -------------------------------------------------------------------------------


def test_storing_an_already_received_document_is_409_and_keeps_the_first_receipt(
    world, login_as, make_document, state
):
    document = make_document(world.indicator, world.reporter)
    receiver, officer = login_as(world.receiver), login_as(world.officer)
    assert receiver.post("receive.store", document_id=document.id).status_code == 302
    first = db.session.get(Document, document.id)
    received_by, received_at = first.received_by_id, first.received_at
    assert received_by == world.receiver.id and received_at is not None
    before = state()
    for b in (receiver, officer):
        response = b.post("receive.store", document_id=document.id)
        assert_refused(response, 409, ALREADY_HANDLED)
    assert state() == before
    again = db.session.get(Document, document.id)
    assert (again.received_by_id, again.received_at) == (received_by, received_at)


def test_reporter_cannot_edit_or_delete_a_received_document(
    app, world, login_as, make_document, state
):
    document = make_document(world.indicator, world.reporter)
    login_as(world.receiver).post("receive.store", document_id=document.id)
    b = login_as(world.reporter)
    before = state()
    edit = b.post("send.edit", {"title": "แก้หลังรับ"}, document_id=document.id)
    assert_refused(edit, 409, NOT_EDITABLE)
    assert_refused(b.post("send.delete", document_id=document.id), 409, NOT_EDITABLE)
    assert state() == before
    assert os.path.exists(os.path.join(app.config["UPLOAD_DIR"], document.stored_name))


@pytest.mark.parametrize(
    "title, message",
    [("", REQUIRED), ("   ", REQUIRED), ("ข" * 300, TOO_LONG)],
)
def test_correcting_a_title_to_nothing_or_too_long_is_refused(
    world, login_as, make_document, state, title, message
):
    document = make_document(world.indicator, world.reporter)
    b = login_as(world.reporter)
    before = state()
    response = b.post("send.edit", {"title": title}, document_id=document.id)
    assert_refused(response, 400, message)
    assert state() == before
