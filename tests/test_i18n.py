"""English: a complete catalogue, every page free of our Thai, the switch, dates, <html lang>.

Thai stays the office's language (and every account's default); English is a choice each
person makes with the switch, kept on the account or, before login, in this browser. What
staff typed (names, positions, indicator names, document titles) stays as typed: the tests
give their data Thai on purpose, remove it from the page, and then find no Thai left.
"""

import json
import re
import shlex
from collections import Counter
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

import app as app_module
from extensions import babel, db
from models import RECEIVED, AuditEntry, Document, Indicator, User
from tests.conftest import Browser
from tests.test_queries import PAGES, SMALL, GrowingWorld

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "translations" / "en" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
THAI = re.compile(r"[\u0e00-\u0e7f]")
THAI_RUN = re.compile(r"[\u0e00-\u0e7f][\u0e00-\u0e7f\s\d.,:()/-]*")
PLACEHOLDER = re.compile(r"%\([^)]*\)[a-zA-Z]")
# The language switch names each language in itself; that one Thai word is meant for
# readers of Thai on an English page, and is marked lang="th".
THAI_NAME_OF_THAI = "ภาษาไทย"

# Pages that are not HTML (a file, JSON): the visible-text check does not apply.
NOT_HTML = {"receive.download", "menu.menu_json"}
HTML_PAGES = sorted(set(PAGES) - NOT_HTML)
# Text a person sees without reading the markup: element text and these attributes.
SHOWN_ATTRIBUTES = (
    "title",
    "aria-label",
    "placeholder",
    "value",
    "data-confirm",
    "data-label",
    "alt",
)
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
# Free text in the audit trail's parameters: what people typed, never our words.
TYPED_PARAMS = {
    "title",
    "old_title",
    "new_title",
    "file",
    "name",
    "old_name",
    "username",
    "position",
    "old_position",
    "reason",
}


# --- the catalogue ---------------------------------------------------------------------------


def makefile_extract_arguments(output: Path) -> list[str]:
    """`pybabel extract ...` as the Makefile's `messages` target runs it, writing `output`."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("messages:"))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    command = next(line for line in recipe if "pybabel extract" in line)
    arguments = shlex.split(command.split("pybabel", 1)[1])
    for flag in ("-o", "--output", "--output-file"):
        if flag in arguments:
            arguments[arguments.index(flag) + 1] = str(output)
            return arguments
    raise AssertionError(f"no output file in the Makefile's extract command: {command}")


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """The message ids in the source today, extracted in-process exactly as `make messages`."""
    pot = tmp_path_factory.mktemp("messages") / "messages.pot"
    arguments = makefile_extract_arguments(pot)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)  # the Makefile runs in the checkout; babel.cfg's paths are relative
        CommandLineInterface().run(["pybabel", "-q", *arguments])
    with open(pot, "rb") as f:
        catalogue = read_po(f)
    ids = [message for message in catalogue if message.id]
    assert len(ids) > 100, "extraction found almost nothing: is babel.cfg read?"
    return ids


def english_catalogue():
    with open(PO, "rb") as f:
        return read_po(f, locale="en")


def english_of(msgid: str, **params) -> str:
    """What the English catalogue says for a Thai message, filled in as the app fills it."""
    entry = english_catalogue().get(msgid)
    assert entry is not None and entry.string, f"no English for {msgid!r}"
    return entry.string % params if params else entry.string


def strings(value) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, list | tuple) else (value,)


def test_every_message_in_the_source_has_its_english(extracted):
    english = english_catalogue()
    problems = []
    for message in extracted:
        msgid = strings(message.id)[0]
        if message.context:  # the same Thai in another context is a separate entry
            msgid = f"{message.context}|{msgid}"
        entry = english.get(message.id, context=message.context)
        if entry is None:
            problems.append(f"missing from messages.po: {msgid!r}")
            continue
        translations = strings(entry.string)
        if entry.fuzzy:
            problems.append(f"fuzzy (not used): {msgid!r}")
        elif not all(t.strip() for t in translations):
            problems.append(f"untranslated: {msgid!r}")
        elif any(THAI.search(t) for t in translations):
            problems.append(f"Thai in the English: {msgid!r} -> {translations!r}")
        else:
            wanted = Counter(PLACEHOLDER.findall(strings(message.id)[0]))
            for t in translations:
                if Counter(PLACEHOLDER.findall(t)) != wanted:
                    problems.append(f"placeholders differ: {msgid!r} -> {t!r}")
    assert not problems, f"{len(problems)} messages without usable English:\n" + "\n".join(problems)


def text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else value


def test_the_compiled_catalogue_holds_what_the_po_says():
    """The app reads the .mo; a .po translated after the last `make` is not what staff see."""
    assert MO.exists(), "translations/en is not compiled: run `make`"
    with open(MO, "rb") as f:
        # babel's read_mo hands back a message's context as bytes.
        compiled = {(text(m.context), m.id): m.string for m in read_mo(f) if m.id}
    translated = {
        (m.context, m.id): m.string
        for m in english_catalogue()
        if m.id and m.string and not m.fuzzy
    }
    stale = sorted(
        str(key)
        for key in translated.keys() | compiled.keys()
        if compiled.get(key) != translated.get(key)
    )
    assert not stale, "messages.mo is older than messages.po (run `make`): " + ", ".join(stale[:10])


@pytest.fixture
def without_catalogue(app, make_app, monkeypatch, tmp_path):
    """An app installed without `make`: no compiled English catalogue anywhere."""
    # Flask-Babel keeps loaded catalogues per locale in one cache for every app of the
    # process: this app's empty English must neither see nor leave one behind.
    cache = babel.domain_instance.cache
    cache.clear()
    exists = app_module.os.path.exists
    with monkeypatch.context() as patch:
        patch.setattr(
            app_module.os.path, "exists", lambda p: not str(p).endswith("messages.mo") and exists(p)
        )
        app = make_app(BABEL_TRANSLATION_DIRECTORIES=str(tmp_path / "no-translations"))
    yield app
    cache.clear()


def test_without_the_compiled_catalogue_english_is_not_offered(without_catalogue):
    page = Browser(without_catalogue).get("auth.login").get_data(as_text=True)
    assert 'name="language"' not in page
    assert ">English<" not in page
    assert '<html lang="th">' in page


def test_without_the_compiled_catalogue_an_english_account_reads_thai(without_catalogue, world):
    world.reporter.language = "en"  # chosen while English was still installed
    db.session.commit()
    browser = Browser(without_catalogue)
    assert browser.login(world.reporter.username).status_code == 302
    html = browser.get("send.index").get_data(as_text=True)
    assert '<html lang="th">' in html
    assert not re.search(rf"\d (?:{'|'.join(ENGLISH_MONTHS)}) \d{{4}}", html)  # no CE dates


# --- what a page shows -----------------------------------------------------------------------


class ShownText(HTMLParser):
    """A page as a reader meets it: element text and shown attributes, minus lang="th" parts."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.shown: list[str] = []
        self.marked_thai: list[str] = []
        self.html_lang = None
        self.stack: list[tuple[str, bool]] = []

    @property
    def in_thai(self) -> bool:
        return bool(self.stack) and self.stack[-1][1]

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            self.html_lang = attrs.get("lang")
            return
        thai = self.in_thai or (attrs.get("lang") or "").lower().startswith("th")
        values = [attrs[name] for name in SHOWN_ATTRIBUTES if attrs.get(name)]
        (self.marked_thai if thai else self.shown).extend(values)
        if tag not in VOID:
            self.stack.append((tag, thai))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID and self.stack and self.stack[-1][0] == tag:
            self.stack.pop()

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        if self.stack and self.stack[-1][0] in ("script", "style"):
            return
        if data.strip():
            (self.marked_thai if self.in_thai else self.shown).append(data)


def read_page(html: str) -> ShownText:
    page = ShownText()
    page.feed(html)
    page.close()
    return page


def typed_data() -> list[str]:
    """Everything people typed that the database holds, longest first (so a name inside a
    longer title is not cut out of it first)."""
    values = set()
    for user in db.session.query(User):
        values |= {user.full_name, user.position}
    values |= {name for (name,) in db.session.query(Indicator.name)}
    for title, original, reason in db.session.query(
        Document.title, Document.original_name, Document.return_reason
    ):
        values |= {title, original, reason}
    for (params,) in db.session.query(AuditEntry.params):
        for key, value in json.loads(params or "{}").items():
            if key in TYPED_PARAMS and isinstance(value, str):
                values.add(value)
    return sorted((v for v in values if v and THAI.search(v)), key=len, reverse=True)


def thai_of_ours(html: str, data: list[str] | None = None) -> list[str]:
    """The Thai left on a page once typed data and the lang="th" switch are taken out."""
    page = read_page(html)
    data = typed_data() if data is None else data
    left = []
    for text in page.shown:
        for value in data:
            text = text.replace(value, " ")
        left += [run.strip() for run in THAI_RUN.findall(text)]
    marked = {text.strip() for text in page.marked_thai if THAI.search(text)}
    assert marked <= {THAI_NAME_OF_THAI}, f"lang='th' hides more than the switch: {marked}"
    return left


def assert_english(response, status=200):
    html = response.get_data(as_text=True)
    assert response.status_code == status, html[:2000]
    assert read_page(html).html_lang == "en"
    left = thai_of_ours(html)
    assert not left, f"Thai of ours on an English page: {left}"
    return html


def choose(browser: Browser, language: str, next_url: str | None = None):
    """Press the switch: the same form every page carries."""
    return browser.post(
        "auth.set_language", {"language": language, "next": next_url or browser.url("auth.index")}
    )


@pytest.fixture
def english(app, world):
    """english(who) -> a browser in English: a world person logged in who chose it, or
    (who=None) an anonymous visitor who chose it on the login page."""

    def make(who: str | None) -> Browser:
        browser = Browser(app)
        if who is None:
            assert choose(browser, "en", browser.url("auth.login")).status_code == 302
        else:
            assert browser.login(getattr(world, who).username).status_code == 302
            assert choose(browser, "en").status_code == 302
        return browser

    return make


@pytest.mark.parametrize("endpoint", HTML_PAGES)
def test_english_page_shows_no_thai_of_ours(app, world, make_document, english, endpoint):
    role, url_args = PAGES[endpoint]
    grown = GrowingWorld(world, make_document)
    grown.grow(**{**SMALL, "years": 2})  # a closed year among them
    browser = english(role)
    response = browser.get(endpoint, **url_args(grown))
    assert response.mimetype == "text/html"
    if endpoint == "menu.menu_html":
        # A fragment for the portal's menu: no <html>, its own lang on the list.
        html = response.get_data(as_text=True)
        assert response.status_code == 200 and 'lang="en"' in html
        assert not thai_of_ours(html)
        return
    html = assert_english(response)
    if role is not None:  # the signed-in person's name, as typed: Thai stays Thai
        assert getattr(world, role).full_name in html


@pytest.mark.parametrize("endpoint", sorted(NOT_HTML))
def test_pages_left_out_are_not_html(app, world, make_document, login_as, endpoint):
    role, url_args = PAGES[endpoint]
    response = login_as(getattr(world, role)).get(
        endpoint, **url_args(GrowingWorld(world, make_document))
    )
    assert response.status_code == 200 and response.mimetype != "text/html"


def test_menu_json_labels_are_english_for_an_english_user(english):
    body = english("reporter").get("menu.menu_json").get_json()
    labels = [entry["label"] for entry in body["entries"]]
    assert labels and not [label for label in labels if THAI.search(label)]


def test_error_pages_in_english(app, world, english):
    officer_only = english("reporter")
    assert_english(officer_only.get("auth.accounts"), 403)
    assert_english(officer_only.get("/myoffice/reports/no-such-page"), 404)
    # A form whose CSRF token expired: the kind 400 page, in English.
    assert_english(officer_only.post("auth.logout", csrf=False), 400)

    visitor = english(None)
    assert_english(visitor.get("/myoffice/reports/no-such-page"), 404)
    assert_english(visitor.post("auth.login", {"username": "x", "password": "y"}, csrf=False), 400)


def test_login_page_in_english_for_a_visitor_who_chose_it(english, world):
    visitor = english(None)
    html = assert_english(visitor.get("auth.login"))
    assert "English</button>" not in html and f">{THAI_NAME_OF_THAI}</button>" in html
    # A wrong password, an empty form: the messages too.
    wrong = visitor.post("auth.login", {"username": world.staff.username, "password": "wrong"})
    assert_english(wrong, wrong.status_code)
    assert 'class="flash flash-error"' in wrong.get_data(as_text=True)
    empty = visitor.post("auth.login", {"username": "", "password": ""})
    assert_english(empty, 400)
    assert 'class="field-error"' in empty.get_data(as_text=True)


def flashes(html: str) -> list[str]:
    return [
        re.sub(r"\s+", " ", text).strip()
        for text in re.findall(r'<p class="flash flash-\w+"[^>]*>(.*?)</p>', html, re.S)
    ]


def test_messages_after_an_action_are_english(world, english, make_document):
    title = "รายงานผลการประชุมไตรมาสที่สอง"
    document = make_document(world.indicator, world.reporter, title=title)
    receiver = english("receiver")
    stored = receiver.post("receive.store", follow_redirects=True, document_id=document.id)
    html = assert_english(stored)
    assert english_of("จัดเก็บเอกสาร %(title)s เรียบร้อยแล้ว", title=title) in flashes(html)

    # A rule refuses: returning a document without a reason.
    other = make_document(world.indicator, world.reporter, title="เอกสารที่ไม่มีเหตุผล")
    refused = receiver.post("receive.return_document", {"reason": ""}, document_id=other.id)
    html = assert_english(refused, refused.status_code)
    assert refused.status_code >= 400
    assert flashes(html)  # assert_english found no Thai of ours in them

    # A reporter's upload, on time.
    reporter = english("reporter")
    sent = reporter.upload(world.indicator, title="ผลการดำเนินงานรอบหกเดือน")
    assert sent.status_code == 302
    html = assert_english(reporter.get(sent.headers["Location"]))
    assert flashes(html) == [english_of("ส่งเอกสารเรียบร้อยแล้ว")]


# --- the switch ------------------------------------------------------------------------------


def is_english(response) -> bool:
    return read_page(response.get_data(as_text=True)).html_lang == "en"


def test_visitor_chooses_english_on_the_login_page(browser):
    assert not is_english(browser.get("auth.login"))
    response = choose(browser, "en", browser.url("auth.login"))
    assert response.status_code == 302
    assert response.headers["Location"] == browser.url("auth.login")
    assert is_english(browser.get("auth.login"))
    assert choose(browser, "th", browser.url("auth.login")).status_code == 302
    assert not is_english(browser.get("auth.login"))


def test_the_language_picked_on_the_login_page_carries_through_the_login(browser, world):
    """Login clears the session (session fixation) but keeps the language just picked;
    the account's own setting is not changed by it."""
    choose(browser, "en", browser.url("auth.login"))
    assert is_english(browser.get("auth.login"))
    assert browser.login(world.staff.username).status_code == 302
    assert is_english(browser.get("auth.index"))
    assert db.session.get(User, world.staff.id).language is None


def test_an_accounts_english_survives_logout_and_login_and_stays_with_the_account(
    app, world, login_as
):
    browser = login_as(world.reporter)
    choose(browser, "en")
    assert db.session.get(User, world.reporter.id).language == "en"
    assert is_english(browser.get("send.index"))

    assert browser.post("auth.logout").status_code == 302
    browser.login(world.reporter.username)
    assert is_english(browser.get("send.index"))

    # Another browser, another day: the account remembers.
    assert is_english(login_as(world.reporter).get("auth.index"))
    # Thai again is stored as "no choice" (None), the office's language.
    choose(browser, "th")
    assert db.session.get(User, world.reporter.id).language is None
    assert not is_english(login_as(world.reporter).get("auth.index"))


def test_logging_out_forgets_english_in_this_browser(world, login_as):
    """Logout clears the whole session, the language with it: the login page and its
    "logged out" message come in Thai; the account still holds English for the next login."""
    browser = login_as(world.reporter)
    choose(browser, "en")
    after = browser.post("auth.logout", follow_redirects=True)
    html = after.get_data(as_text=True)
    assert read_page(html).html_lang == "th"
    assert flashes(html) == ["ออกจากระบบเรียบร้อยแล้ว"]
    browser.login(world.reporter.username)
    assert is_english(browser.get("auth.index"))


def test_another_person_in_the_same_browser_keeps_thai(world, login_as):
    browser = login_as(world.reporter)
    choose(browser, "en")
    assert is_english(browser.get("auth.index"))
    browser.post("auth.logout")
    assert browser.login(world.staff.username).status_code == 302
    assert not is_english(browser.get("auth.index"))
    assert db.session.get(User, world.staff.id).language is None


def test_accept_language_does_not_switch(app, world, login_as):
    header = {"Accept-Language": "en-US,en;q=0.9"}
    visitor = Browser(app)
    page = visitor.open(visitor.url("auth.login"), headers=header).get_data(as_text=True)
    assert read_page(page).html_lang == "th"
    assert "<title>เข้าระบบ · My Office</title>" in page
    user = login_as(world.receiver)
    home = user.open(user.url("auth.index"), headers=header).get_data(as_text=True)
    assert read_page(home).html_lang == "th" and ">English</button>" in home


@pytest.mark.parametrize("value", ["de", "EN", "", "en-US", "th\n"])
def test_an_unknown_language_is_refused_in_thai_and_changes_nothing(app, world, login_as, value):
    visitor = Browser(app)
    refused = choose(visitor, value, visitor.url("auth.login"))
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert "ไม่รองรับภาษาที่เลือก" in html
    assert read_page(html).html_lang == "th"
    assert not is_english(visitor.get("auth.login"))

    # An English account stays English, on the account and in this browser.
    user = login_as(world.reporter)
    choose(user, "en")
    assert choose(user, value).status_code == 400
    assert db.session.get(User, world.reporter.id).language == "en"
    assert is_english(user.get("auth.index"))


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/myoffice/reports/",
        "//evil.example/myoffice/reports/",
        "/\\evil.example/",
        "/myoffice/other-module/",
        "javascript:alert(1)",
        "",
    ],
)
def test_next_off_this_module_is_ignored(app, world, login_as, target):
    user = login_as(world.staff)
    response = user.post("auth.set_language", {"language": "en", "next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == user.url("auth.index")
    assert is_english(user.get("auth.index"))


def test_next_inside_the_module_returns_to_the_same_page(world, login_as):
    user = login_as(world.officer)
    here = user.url("audit.index", page=1)
    response = user.post("auth.set_language", {"language": "en", "next": here})
    assert response.headers["Location"] == here


def test_the_switch_on_a_page_returns_to_that_page(world, login_as):
    """The form every page carries names the page itself as `next`."""
    user = login_as(world.officer)
    page = user.get("indicators.index", year=world.indicator.fiscal_year).get_data(as_text=True)
    next_value = re.search(r'name="next" value="([^"]*)"', page).group(1).replace("&amp;", "&")
    assert next_value == user.url("indicators.index", year=world.indicator.fiscal_year)
    assert choose(user, "en", next_value).headers["Location"] == next_value


# --- dates -----------------------------------------------------------------------------------

# 20:30 UTC on 4 March 2019 is 03:30 on 5 March in Bangkok: the day and the hour are Bangkok's.
SENT_AT = datetime(2019, 3, 4, 20, 30, tzinfo=UTC)
RECEIVED_AT = datetime(2019, 3, 5, 7, 5, tzinfo=UTC)  # 14:05 in Bangkok


@pytest.fixture
def dated_document(world, make_document):
    document = make_document(world.indicator, world.reporter, title="เอกสารที่มีวันที่")
    receiver_id = world.receiver.id
    document.uploaded_at = SENT_AT
    document.received_by_id, document.received_at = receiver_id, RECEIVED_AT
    document.status = RECEIVED
    db.session.commit()
    return document


def test_dates_are_buddhist_era_in_thai_and_common_era_in_english(world, login_as, dated_document):
    args = {"months": 6, "indicator_id": world.indicator.id}
    receiver = login_as(world.receiver)
    thai = receiver.get("receive.indicator_page", **args).get_data(as_text=True)
    assert "5 มี.ค. 2562" in thai
    assert "5 มี.ค. 2562 14:05 น." in thai  # received: the time, with น.
    assert "2019" not in thai

    choose(receiver, "en")
    english = receiver.get("receive.indicator_page", **args).get_data(as_text=True)
    assert "5 Mar 2019" in english
    assert "5 Mar 2019 14:05" in english
    assert "2562" not in english and "น." not in english
    # Fiscal years too: FY 2570 ends in September 2027, and English names it 2027, as the
    # government's own English documents do; the links still carry the Buddhist-era year.
    year = world.indicator.fiscal_year
    assert english_of("ปีงบประมาณ %(year)s", year=year - 543) in english
    assert f"year={year}" in english or str(year) not in english
    assert english_of("ปีงบประมาณ %(year)s", year=year) not in english
    assert f"ปีงบประมาณ {year}" in thai


def test_history_shows_the_sending_time_in_the_readers_calendar(world, login_as, dated_document):
    reporter = login_as(world.reporter)
    thai = reporter.get("receive.history", document_id=dated_document.id).get_data(as_text=True)
    assert "5 มี.ค. 2562 03:30 น." in thai
    choose(reporter, "en")
    english = reporter.get("receive.history", document_id=dated_document.id)
    html = assert_english(english)
    assert "5 Mar 2019 03:30" in html and "03:30 น." not in html


THAI_MONTHS = "ม.ค. ก.พ. มี.ค. เม.ย. พ.ค. มิ.ย. ก.ค. ส.ค. ก.ย. ต.ค. พ.ย. ธ.ค.".split()
ENGLISH_MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


def test_due_dates_on_the_reporters_page(world, login_as):
    from blueprints.years.services import rounds_of

    due = rounds_of(world.indicator.fiscal_year)[0].due_date
    reporter = login_as(world.reporter)
    thai = reporter.get("send.index").get_data(as_text=True)
    assert f"ครบกำหนด {due.day} {THAI_MONTHS[due.month - 1]} {due.year + 543}" in thai
    choose(reporter, "en")
    english = assert_english(reporter.get("send.index"))
    assert f"{due.day} {ENGLISH_MONTHS[due.month - 1]} {due.year}" in english
    assert THAI_MONTHS[due.month - 1] not in english


# --- <html lang> -----------------------------------------------------------------------------


def test_html_lang_follows_the_language(world, login_as):
    """The switch names the other language in itself, marked with that language."""
    user = login_as(world.officer)
    thai = user.get("auth.index").get_data(as_text=True)
    assert '<html lang="th">' in thai
    assert re.search(r'<button [^>]*value="en"[^>]*lang="en">English</button>', thai)
    choose(user, "en")
    english = user.get("auth.index").get_data(as_text=True)
    assert '<html lang="en">' in english
    assert re.search(r'<button [^>]*value="th"[^>]*lang="th">ภาษาไทย</button>', english)


def test_fiscal_years_are_named_in_the_common_era_in_english(world, login_as):
    """The year switch and headings say 2027 in English for FY 2570; links keep 2570, and the
    indicator form asks for the Buddhist-era year and says so."""
    year = world.indicator.fiscal_year
    officer = login_as(world.officer)
    choose(officer, "en")
    html = officer.get("indicators.index", year=year).get_data(as_text=True)
    link = re.search(r'<nav class="years"[^>]*>.*?</nav>', html, re.S)[0]
    assert f"year={year}" in link and f">{year - 543}</a>" in link and f">{year}</a>" not in link
    assert f"Fiscal year {year - 543}" in html
    form = officer.get("indicators.create").get_data(as_text=True)
    assert "Fiscal year (B.E.)" in form
