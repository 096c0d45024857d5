"""Hostile input (issue 7): every corpus value into every field of every form, and every upload.

The fields are enumerated, not listed by hand: every field of every BaseForm subclass the
blueprints define, and every raw field a route reads (`request.form.get("x")`, `getlist`,
`request.files`, the years routes' `form_int("x")`), found by scanning the blueprints' source.
TARGETS says how to build an otherwise valid POST for each; a field with no entry fails.

For each value: never a 5xx; a 4xx shows a Thai message (no English error, no stack trace); an
acceptance stores it so that the pages showing it render it as text (no new script, handler or
javascript: URL on the page); nothing stored before is lost; and no file appears anywhere but
the upload folder, under a generated name. Requests are encoded by hand, as a hostile client
would send them: a lone surrogate goes out as the invalid UTF-8 it would be.
"""

import hashlib
import importlib
import io
import json
import os
import pkgutil
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import quote, urlsplit

import pytest
from wtforms.fields.core import UnboundField

import blueprints
import blueprints.receive.services as receive_services
import throttle
from extensions import db
from forms import BaseForm
from models import REPORTER, Document, Indicator, User
from tests import figures, hostile
from tests.conftest import PASSWORD, Browser
from tests.samples import sample_bytes
from tests.test_bad_input import shown_errors
from tests.test_permissions import PREFIX, REASON, Cast, new_due_date, staff_export
from text import clean_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THAI = re.compile("[\u0e00-\u0e7f]")
STORED_NAME = re.compile(r"[0-9a-f]{32}\.[a-z0-9]{1,8}")
SPECIAL = set("<>&\"'")
# Outside this run's own folders others work at the same time: only the names the corpus aims.
SUSPECT = re.compile(r"evil|hostile|shell|passwd|environ|authorized_keys", re.I)
NEW_PASSWORD = "รหัสใหม่-2570"
CORPUS = {family: hostile.load(family) for family in hostile.families()}
# Absolute places a name in the corpus aims at; none may exist after the uploads.
AIMED_AT = [
    "/tmp/hostile-absolute.pdf",
    "/tmp/hostile-dotdot.pdf",
    "/tmp/hostile-url.pdf",
    "/tmp/hostile-absolute-รายงาน.pdf",
    "/etc/cron.d/evil.pdf",
    "/var/www/html/shell.pdf",
    os.path.join(ROOT, "static", "evil.pdf"),
    os.path.join(ROOT, "evil.pdf"),
]


# --- the corpus ------------------------------------------------------------------------------


def test_the_corpus_has_every_family_each_of_at_least_20_values():
    assert set(hostile.families()) == set(hostile.TEXT_FAMILIES + hostile.NAME_FAMILIES)
    for family, values in CORPUS.items():
        assert len(values) >= hostile.MIN_PER_FAMILY, family
        assert len(set(values)) == len(values), f"{family} repeats a value"
    total = sum(len(values) for values in CORPUS.values())
    assert total >= 300
    # The families hold what their names promise.
    assert sum(len(v) >= 10_000 for v in CORPUS["long_strings"]) >= 15
    assert sum(len(hostile.encode(v)) >= 300 for v in CORPUS["long_names_300_bytes"]) >= 15
    assert all("\x00" in v or "0" in v for v in CORPUS["nul"])
    assert any("\ud800" in v for v in CORPUS["emoji"])  # a lone surrogate, exactly
    assert all(any(unicodedata.category(c) == "Cc" for c in v) or "\x85" in v or "\x9b" in v
               for v in CORPUS["control_characters"])  # fmt: skip
    figures.report("hostile_values", total)
    figures.report("hostile_families", len(CORPUS))


# --- the fields, enumerated ------------------------------------------------------------------


def registered_forms() -> list[type]:
    for module in pkgutil.walk_packages(blueprints.__path__, "blueprints."):
        importlib.import_module(module.name)
    found, stack = [], [BaseForm]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in found:
                found.append(sub)
                stack.append(sub)
    return found


def form_fields() -> list[str]:
    fields = []
    for form in registered_forms():
        for name in dir(form):
            if isinstance(getattr(form, name, None), UnboundField):
                fields.append(f"{form.__name__}.{name}")
    return sorted(fields)


RAW = re.compile(r"request\.(?:form|files|values)\.(?:get|getlist)\(\s*(['\"])(\w+)\1")
WRAPPED = re.compile(r"\bform_int\(\s*(['\"])(\w+)\1")
# Any other way of reading the request body: each must be one of the known wrappers below.
OTHER = re.compile(r"request\.(?:form|files|values|data|json|get_json|stream)\b"
                   r"(?!\.(?:get|getlist)\(\s*['\"])")  # fmt: skip
WRAPPERS = {("blueprints/years/routes.py", "small_int(request.form.get(name))")}


def blueprint_sources():
    for folder, _dirs, names in os.walk(os.path.join(ROOT, "blueprints")):
        for name in sorted(names):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8") as f:
                    yield os.path.relpath(path, ROOT), f.read()


def raw_fields() -> list[str]:
    found = set()
    for path, source in blueprint_sources():
        for pattern in (RAW, WRAPPED):
            found.update(f"{path}:{m.group(2)}" for m in pattern.finditer(source))
    return sorted(found)


def test_no_route_reads_the_body_in_a_way_the_scan_misses():
    unknown = []
    for path, source in blueprint_sources():
        for line in source.splitlines():
            if OTHER.search(line) and not any(
                path == p and snippet in line for p, snippet in WRAPPERS
            ):
                unknown.append(f"{path}: {line.strip()}")
    assert not unknown, "a new way of reading the form: teach the scan and TARGETS about it"


# --- how to send each field ------------------------------------------------------------------


@dataclass
class Req:
    role: str
    url: str
    fields: list  # [(name, value)]; value is text
    files: list = field(default_factory=list)  # [(name, filename, bytes)]
    shows: list = field(default_factory=list)  # [(role, url)] pages that show what was stored
    csrf: bool = True
    after: object = None  # called after an acceptance
    control: int = 400  # the base request's status is below this (it is a valid request)


def as_server_reads(value: str) -> str:
    """What the server decodes from what send() encodes (a lone surrogate: U+FFFD)."""
    return hostile.encode(value).decode("utf-8", "replace")


def put(fields: list, name: str, value) -> list:
    """The base fields with `name` set to value (added if the base lacks it)."""
    if value is None:
        return fields
    out = [(k, v) for k, v in fields if k != name]
    return out + [(name, value)]


def pdf(name="ผลการดำเนินงาน.pdf"):
    return ("file", name, sample_bytes("pdf"))


class Harness:
    """One world, a browser per role (logged in once), and the objects each route needs."""

    def __init__(self, app, world, make_user, make_indicator, make_document):
        self.app, self.world = app, world
        self.make_document = make_document
        self.make_indicator = make_indicator
        # The reporter and the indicator the send and receive routes work on (new_stage()).
        self.reporter, self.indicator = world.reporter, world.indicator
        self.cast = Cast(world, make_document)
        self.victim = make_user("ผู้ถูกแก้ไข ทดสอบ", username="victim")
        self.people = {
            "staff": world.staff,
            "reporter": world.reporter,
            "receiver": world.receiver,
            "admin": world.officer,
        }
        self.passwords = {}
        self.browsers = {}
        self.tokens = {}
        self.n = 0
        self._editable = None
        self.make_user = make_user
        self.login_user = world.staff.username
        self.address = 10
        self.urls = {}

    def next(self) -> int:
        self.n += 1
        return self.n

    def url(self, endpoint, **values):
        key = (endpoint, tuple(sorted(values.items())))
        if key not in self.urls:  # a URL depends only on these: build each once
            self.urls[key] = Browser(self.app).url(endpoint, **values)
        return self.urls[key]

    def new_stage(self):
        """A new reporter with a new indicator (same receiver, same year) for the next family.

        The routes that add a document with every value (attach, revise, return, undo) would
        otherwise grow the reporter's list and the indicator's page with every family, and
        each check re-renders them: each family's values are checked on pages of their own,
        the same pages, as the same roles.
        """
        reporter = self.make_user(status=REPORTER)
        self.indicator = self.make_indicator(
            f"S.{self.next()}", receiver=self.world.receiver, reporters=[reporter]
        )
        self.reporter = self.people["reporter"] = reporter
        self.forget("reporter")
        self._editable = None

    # browsers ---------------------------------------------------------------------------
    def browser(self, role) -> Browser:
        if role not in self.browsers:
            b = Browser(self.app)
            b.address = f"192.0.2.{self.address}"
            if role != "anonymous":
                user = self.people[role]
                fields = [("username", user.username)]
                fields += [("password", self.passwords.get(role, PASSWORD))]
                fields += [("csrf_token", b.csrf_token())]
                r = send(b, b.url("auth.login"), fields)
                assert r.status_code == 302, r.get_data(as_text=True)[:500]
            self.browsers[role] = b
            self.tokens[role] = b.csrf_token()
        return self.browsers[role]

    def forget(self, role):
        self.browsers.pop(role, None)

    def refresh_token(self, role):
        self.tokens[role] = self.browsers[role].csrf_token()

    # objects ----------------------------------------------------------------------------
    def editable(self) -> int:
        if self._editable is None:
            self._editable = self.make_document(self.indicator, self.reporter).id
        return self._editable

    def fresh_sent(self) -> int:
        return self.make_document(self.indicator, self.reporter).id

    def fresh_returned(self) -> int:
        document = self.make_document(self.indicator, self.reporter)
        receive_services.return_document(self.world.receiver, document, REASON)
        db.session.commit()
        return document.id

    def fresh_received(self) -> int:
        document = self.make_document(self.indicator, self.reporter)
        receive_services.store_document(self.world.receiver, document)
        db.session.commit()
        return document.id

    def preview_digest(self) -> str:
        """A preview with something to confirm: a new person every time."""
        b = self.browser("admin")
        csv = f"username,ชื่อ-นามสกุล,กลุ่มงาน\nnew{self.next()},มานี มีนา,กลุ่มอำนวยการ\n"
        r = send(
            b,
            self.url("auth.import_staff"),
            [("csrf_token", self.tokens["admin"])],
            [("file", "บุคลากร.csv", csv.encode())],
        )
        match = re.search(r'name="digest" (?:type="hidden" )?value="([0-9a-f]+)"', r.get_data(True))
        assert match, r.get_data(as_text=True)[:2000]
        return match.group(1)


def send(b: Browser, url: str, fields: list, files=(), headers=None):
    """POST as a hostile client would encode it: urlencoded, or multipart with files."""
    if files:
        boundary = "hostile" + secrets.token_hex(12)
        out = io.BytesIO()
        for name, value in fields:
            out.write(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            )
            out.write(hostile.encode(value) + b"\r\n")
        for name, filename, data in files:
            # As browsers escape a file name in the header (WHATWG): ", CR and LF percent-encoded.
            quoted = hostile.encode(filename)
            for raw, escaped in ((b'"', b"%22"), (b"\r", b"%0D"), (b"\n", b"%0A")):
                quoted = quoted.replace(raw, escaped)
            out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '.encode())
            out.write(
                b'filename="' + quoted + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
            )
            out.write(data + b"\r\n")
        out.write(f"--{boundary}--\r\n".encode())
        body, content_type = out.getvalue(), f"multipart/form-data; boundary={boundary}"
    else:
        body = "&".join(f"{quote(k)}={quote(hostile.encode(v))}" for k, v in fields).encode()
        content_type = "application/x-www-form-urlencoded"
    return b.open(url, method="POST", data=body, content_type=content_type, headers=headers or {})


def login(h, name, value):
    if value is None:
        # Each family's control starts afresh: a new person from a new address, since the
        # previous family's wrong passwords rightly got the last ones throttled (429).
        h.login_user = h.make_user().username
        h.forget("anonymous")
        h.address += 1
    base = [("username", h.login_user), ("password", PASSWORD), ("remember", "y")]
    return Req("anonymous", h.url("auth.login"), put(base, name, value))


def change_password(h, name, value):
    if value is None:
        # Each family's control starts afresh: the previous family's wrong current
        # passwords rightly got the account and its address throttled (429), as at login.
        throttle.clear_account(h.people["staff"].username)
        h.forget("staff")
        h.address += 1
    current = h.passwords.get("staff", PASSWORD)
    base = [("current", current), ("new", NEW_PASSWORD), ("confirm", NEW_PASSWORD)]
    fields = put(base, name, value)
    if name == "new" and value is not None:
        fields = put(fields, "confirm", value)

    def after(h):
        # The password is now what was sent; log in again with it (as the server decoded it).
        h.passwords["staff"] = dict(fields)["new"]
        h.forget("staff")

    return Req("staff", h.url("auth.change_password"), fields, after=after)


def accounts(h, name, value):
    username = f"hostile{h.next()}"
    base = [
        ("username", username),
        ("full_name", "มานี มีนา"),
        ("position", "กลุ่มอำนวยการ"),
        ("password", NEW_PASSWORD),
    ]
    fields = put(base, name, value)
    shown = clean_text(as_server_reads(dict(fields)["username"]))[:64]
    shows = [("admin", h.url("auth.accounts", q=shown)), ("admin", h.url("roles.staff"))]
    return Req("admin", h.url("auth.accounts"), fields, shows=shows)


def reset_password(h, name, value):
    return Req(
        "admin",
        h.url("auth.reset_password", user_id=h.victim.id),
        put([("new", NEW_PASSWORD)], name, value),
    )


def import_staff(h, name, value):
    """The file field sent as text (no file part); the control sends the real export."""
    files = [] if value is not None else [("file", "บุคลากร.csv", staff_export()[0].getvalue())]
    return Req("admin", h.url("auth.import_staff"), put([], name, value), files)


def import_staff_upload(h, name, value):
    """The upload as a real file part whose content is the hostile value (a CSV row)."""
    row = f"username,ชื่อ-นามสกุล,กลุ่มงาน\nhostile{h.next()},{value},{value}\n"
    return Req("admin", h.url("auth.import_staff"), [],
               files=[("file", "บุคลากร.csv", hostile.encode(row))])  # fmt: skip


def confirm_import(h, name, value):
    base = [("digest", h.preview_digest())]
    return Req("admin", h.url("auth.confirm_import"), put(base, name, value),
               shows=[("admin", h.url("auth.accounts"))])  # fmt: skip


def indicator_fields(h, code, name_value="ชื่อตัวชี้วัดทดสอบ"):
    return [
        ("fiscal_year", str(h.cast.year)),
        ("category", "KRS"),
        ("code", code),
        ("name", name_value),
        ("receiver", str(h.world.receiver.id)),
        ("reporters", str(h.reporter.id)),
    ]


def indicator_shows(h):
    return [
        ("admin", h.url("indicators.index")),
        ("reporter", h.url("send.index")),
        ("receiver", h.url("receive.round_page", months=6)),
    ]


def indicators_create(h, name, value):
    fields = put(indicator_fields(h, f"H.{h.next()}"), name, value)
    return Req("admin", h.url("indicators.create"), fields, shows=indicator_shows(h))


def indicators_edit(h, name, value):
    fields = put(indicator_fields(h, h.indicator.code), name, value)
    url = h.url("indicators.edit", indicator_id=h.indicator.id)
    return Req("admin", url, fields, shows=indicator_shows(h))


def send_shows(h):
    return [
        ("reporter", h.url("send.index")),
        ("receiver", h.url("receive.indicator_page", months=6, indicator_id=h.indicator.id)),
    ]


def attach(h, name, value):
    base = [("round_months", "6"), ("title", "รายงานผลการดำเนินงาน")]
    files = [] if name == "file" and value is not None else [pdf()]
    url = h.url("send.attach", indicator_id=h.indicator.id)
    return Req("reporter", url, put(base, name, value), files, shows=send_shows(h))


def attach_several(h, name, value):
    """The multi-file upload: two files, titles by position; the hostile title is the first."""
    base = [("round_months", "6"), ("title", "รายการแรก"), ("title", "รายการที่สอง")]
    if name == "title" and value is not None:
        base = [("round_months", "6"), ("title", value), ("title", "รายการที่สอง")]
    elif value is not None:
        base = put(base, name, value)
    url = h.url("send.attach", indicator_id=h.indicator.id)
    return Req("reporter", url, base, [pdf("หนึ่ง.pdf"), pdf("สอง.pdf")], shows=send_shows(h))


def revise(h, name, value):
    url = h.url("send.revise", document_id=h.fresh_returned())
    files = [] if name == "file" and value is not None else [pdf("ฉบับแก้ไข.pdf")]
    return Req("reporter", url, put([("title", "ฉบับแก้ไข")], name, value), files,
               shows=send_shows(h))  # fmt: skip


def edit_title(h, name, value):
    url = h.url("send.edit", document_id=h.editable())
    return Req("reporter", url, put([("title", "ชื่อใหม่")], name, value), shows=send_shows(h))


def set_language(h, name, value):
    base = [("language", "th"), ("next", f"{PREFIX}/")]
    return Req("staff", h.url("auth.set_language"), put(base, name, value))


def handoff_logout(h, name, value):
    # Only in token mode (tests/test_portal_auth.py); here the route answers 404, in Thai.
    return Req("anonymous", h.url("auth.handoff_logout"), put([("token", "x")], name, value),
               csrf=False, control=405)  # fmt: skip


def set_active(h, name, value):
    url = h.url("auth.set_active", user_id=h.victim.id)
    return Req("admin", url, put([("active", "1")], name, value),
               shows=[("admin", h.url("auth.accounts"))])  # fmt: skip


def open_next(h, name, value):
    from blueprints.years.services import next_year_to_open

    return Req(
        "admin", h.url("years.open_next"), put([("year", str(next_year_to_open()))], name, value)
    )


def copy_year(h, name, value):
    url = h.url("years.copy", year=h.cast.year)
    return Req("admin", url, put([("source", str(h.cast.past_year))], name, value))


def add_round(h, name, value):
    # The first family's control adds รอบ 3 เดือน; later controls meet it added (409, in Thai).
    url = h.url("years.add_round", year=h.cast.year)
    return Req("admin", url, put([("months", "3")], name, value), control=410)


def set_due(h, name, value):
    url = h.url("years.set_due", year=h.cast.year, months=6)
    fields = put([("due_date", new_due_date(h.cast.year).isoformat())], name, value)
    return Req("admin", url, fields, shows=[("admin", h.url("years.index"))])


def mark_read(h, name, value):
    import notifications

    notifications.queue(h.reporter.id, "document_received", title="-", code="-", round=6, year=1)
    db.session.commit()
    return Req("reporter", h.url("notifications.mark_read"), put([("page", "2")], name, value))


def return_document(h, name, value):
    url = h.url("receive.return_document", document_id=h.fresh_sent())
    return Req("receiver", url, put([("reason", REASON)], name, value), shows=reason_shows(h))


def undo(h, name, value):
    url = h.url("receive.undo", document_id=h.fresh_received())
    return Req("admin", url, put([("reason", REASON)], name, value), shows=reason_shows(h))


def reason_shows(h):
    return [
        *send_shows(h),
        ("reporter", h.url("notifications.index")),
        ("admin", h.url("audit.index")),
    ]


def set_status(h, name, value):
    url = h.url("roles.set_status", user_id=h.victim.id)
    return Req("admin", url, put([("status", "reporter")], name, value),
               shows=[("admin", h.url("roles.staff"))])  # fmt: skip


def handover_mark(h, name, value):
    url = h.url("receive.handover_mark", year=h.cast.year, months=6)
    return Req("admin", url, put([("handed_over", "1")], name, value))


# field -> the routes that take it. A form field or raw field missing here fails the suite.
TARGETS = {
    "LoginForm.username": [login],
    "LoginForm.password": [login],
    "LoginForm.remember": [login],
    "ChangePasswordForm.current": [change_password],
    "ChangePasswordForm.new": [change_password],
    "ChangePasswordForm.confirm": [change_password],
    "ResetPasswordForm.new": [reset_password],
    "CreateUserForm.username": [accounts],
    "CreateUserForm.full_name": [accounts],
    "CreateUserForm.position": [accounts],
    "CreateUserForm.password": [accounts],
    "CreateUserForm.is_admin": [accounts],
    "ImportStaffForm.file": [import_staff, import_staff_upload],
    "ConfirmImportForm.digest": [confirm_import],
    "ConfirmImportForm.deactivate_missing": [confirm_import],
    "IndicatorForm.fiscal_year": [indicators_create, indicators_edit],
    "IndicatorForm.category": [indicators_create, indicators_edit],
    "IndicatorForm.code": [indicators_create, indicators_edit],
    "IndicatorForm.name": [indicators_create, indicators_edit],
    "IndicatorForm.receiver": [indicators_create, indicators_edit],
    "IndicatorForm.reporters": [indicators_create, indicators_edit],
    "AttachForm.round_months": [attach, attach_several],
    "AttachForm.title": [attach, attach_several],
    "AttachForm.file": [attach, attach_several],
    "RevisionForm.title": [revise],
    "RevisionForm.file": [revise],
    "TitleForm.title": [edit_title],
    "blueprints/auth/preferences.py:language": [set_language],
    "blueprints/auth/preferences.py:next": [set_language],
    "blueprints/auth/routes.py:token": [handoff_logout],
    "blueprints/auth/routes.py:active": [set_active],
    "blueprints/auth/routes.py:file": [import_staff, import_staff_upload],
    "blueprints/years/routes.py:year": [open_next],
    "blueprints/years/routes.py:source": [copy_year],
    "blueprints/years/routes.py:months": [add_round],
    "blueprints/years/routes.py:due_date": [set_due],
    "blueprints/notifications/routes.py:id": [mark_read],
    "blueprints/notifications/routes.py:page": [mark_read],
    "blueprints/receive/routes.py:reason": [return_document, undo],
    "blueprints/roles/routes.py:status": [set_status],
    "blueprints/receive/export.py:handed_over": [handover_mark],
    "blueprints/send/routes.py:file": [attach, attach_several, revise],
    "blueprints/send/routes.py:title": [attach_several],
}
FIELDS = form_fields() + raw_fields()
# A field several routes take gets every family through its first route; these families, the
# classic sources of 500s (NUL, 4-byte characters, length) and of script, go through them all.
EVERY_ROUTE = ("nul", "emoji", "long_strings", "html_script")
# Routes that add a document with every value: each family gets its own reporter and indicator
# (Harness.new_stage), so the pages that show them hold that family's values, not all before.
ADDS_DOCUMENTS = (attach, attach_several, revise, return_document, undo)


def test_every_enumerated_field_has_a_route_to_send_it_to():
    missing = [f for f in FIELDS if f not in TARGETS]
    assert not missing, f"fields no hostile test sends to (add them to TARGETS): {missing}"
    stale = [f for f in TARGETS if f not in FIELDS]
    assert not stale, f"TARGETS lists fields no form or route has any more: {stale}"
    assert len(FIELDS) >= 40
    figures.report("form_fields", len(FIELDS))


# --- checks ------------------------------------------------------------------------------


class _Active(HTMLParser):
    """Counts what can run, as the browser parses the page (escaped text is only text)."""

    TAGS = {"script", "iframe", "img", "object", "embed", "math", "base", "meta", "link", "style"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.count = 0

    def handle_starttag(self, tag, attrs):
        self.count += tag in self.TAGS
        for name, value in attrs:
            self.count += name.startswith("on")
            if name in ("href", "src", "action", "formaction", "xlink:href") and value:
                self.count += (
                    re.sub(r"[\s\x00-\x1f]", "", value)
                    .lower()
                    .startswith(("javascript:", "data:", "vbscript:"))
                )

    handle_startendtag = handle_starttag


def active_count(html: str) -> int:
    """Elements that load or run something, event handlers, script URLs: a page's own number of
    them is fixed by its templates, so a stored value may never add one."""
    parser = _Active()
    parser.feed(html)
    parser.close()
    return parser.count


def assert_thai_refusal(response, context):
    body = response.get_data(as_text=True)
    assert "Traceback" not in body, context
    if response.mimetype == "application/json":
        data = json.loads(body)
        texts = [v for v in _strings(data)]
        assert any(THAI.search(t) for t in texts), (context, data)
        return
    shown = shown_errors(body) + re.findall(r"<h1[^>]*>(.*?)</h1>", body, re.S)
    assert any(THAI.search(t) for t in shown), (context, response.status_code, shown)
    english = [t for t in shown_errors(body) if not THAI.search(t)]
    assert not english, (context, english)


def _strings(data):
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for v in data.values():
            yield from _strings(v)
    elif isinstance(data, list):
        for v in data:
            yield from _strings(v)


def assert_safe_redirect(response, context):
    location = response.headers.get("Location", "")
    parts = urlsplit(location)
    assert parts.netloc in ("", "localhost"), (context, location)
    assert not location.startswith("//") and "\\" not in location, (context, location)


def files_under(paths) -> set[str]:
    seen = set()
    for top, recursive in paths:
        if not os.path.isdir(top):
            continue
        if recursive:
            for folder, _dirs, names in os.walk(top):
                seen.update(os.path.join(folder, n) for n in names)
        else:
            seen.update(os.path.join(top, n) for n in os.listdir(top))
    return seen


class Watch:
    """Files and rows before a test; after it: nothing lost, nothing outside the upload folder."""

    def __init__(self, app, tmp_path):
        self.app = app
        self.upload_dir = os.path.abspath(app.config["UPLOAD_DIR"])
        self.import_dir = os.path.abspath(app.config["IMPORT_DIR"])
        self.basetemp = str(tmp_path.parent)
        self.places = [(str(tmp_path), True), (str(tmp_path.parent), False),
                       (str(tmp_path.parent.parent), False), (ROOT, False),
                       (os.path.join(ROOT, "uploads"), True), ("/tmp", False)]  # fmt: skip
        for path in AIMED_AT:
            assert not os.path.exists(path), f"{path} exists before the test: remove it"
        self.files = files_under(self.places)
        self.stored = self.digests()
        self.rows = self.ids()

    def digests(self) -> dict:
        out = {}
        for name in os.listdir(self.upload_dir) if os.path.isdir(self.upload_dir) else []:
            path = os.path.join(self.upload_dir, name)
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    out[name] = hashlib.sha256(f.read()).hexdigest()
        return out

    def ids(self) -> dict:
        rows = {
            m.__name__: set(db.session.scalars(db.select(m.id)))
            for m in (User, Indicator, Document)
        }
        db.session.commit()
        return rows

    def outside(self, path: str) -> bool:
        if path.startswith((self.upload_dir + os.sep, self.import_dir + os.sep)):
            return False
        if path.startswith(self.basetemp + os.sep):  # this run's own temporary files
            return not re.search(r"\.sqlite3(-journal|-wal|-shm)?$", path)
        # Elsewhere (the checkout, /tmp) others work too: only what an upload could have made.
        return path in AIMED_AT or bool(SUSPECT.search(os.path.basename(path)))

    def check(self):
        new = files_under(self.places) - self.files
        outside = sorted(p for p in new if self.outside(p))
        outside += [p for p in AIMED_AT if os.path.exists(p)]
        figures.add("files_outside", len(outside))
        assert not outside, f"files written outside the upload folder: {outside}"
        # In the upload folder: only generated names, and nothing left half-written.
        for name in os.listdir(self.upload_dir):
            if name == ".incoming":
                assert os.listdir(os.path.join(self.upload_dir, name)) == []
            else:
                assert STORED_NAME.fullmatch(name), name
        stored = set(db.session.scalars(db.select(Document.stored_name)))
        assert all(STORED_NAME.fullmatch(n) for n in stored)
        # Nothing stored before is gone or changed.
        now = self.digests()
        assert all(now.get(name) == digest for name, digest in self.stored.items())
        rows = self.ids()
        for model, ids in self.rows.items():
            assert ids <= rows[model], f"{model} rows lost: {ids - rows[model]}"


@pytest.fixture
def h(app, world, make_user, make_indicator, make_document, monkeypatch):
    import blueprints.auth.services as auth_services

    # An unknown user name is checked against a dummy hash made with the real cost at import;
    # the test run's cheap one keeps hundreds of hostile user names fast.
    monkeypatch.setattr(auth_services, "_DUMMY_HASH", auth_services.hasher.hash("x"))
    return Harness(app, world, make_user, make_indicator, make_document)


@pytest.fixture
def watch(app, h, tmp_path):
    w = Watch(app, tmp_path)
    yield w
    w.check()


def submit(h, req: Req):
    b = h.browser(req.role)
    fields = list(req.fields)
    if req.csrf:
        fields = [("csrf_token", h.tokens[req.role]), *fields]
    return b, send(b, req.url, fields, req.files)


def check_one(h, req: Req, response, value, context, baselines):
    status = response.status_code
    figures.add("server_errors", int(status >= 500))
    assert status < 500, (context, response.get_data(as_text=True)[-2000:])
    for header in response.headers.values():
        assert "\r" not in header and "\n" not in header, context
    if status >= 400:
        assert_thai_refusal(response, context)
        return False
    if 300 <= status < 400:
        assert_safe_redirect(response, context)
    # Accepted: a new session or token may follow (login, password change), and the pages
    # that show stored text must render what was stored as text.
    if req.after:
        req.after(h)
    if req.role == "anonymous" and req.role in h.browsers:  # a login starts a new session
        h.refresh_token(req.role)
    # Markup is checked at once on the page that shows it first (the list it joins, the page
    # it edits); every page once the family is through, and every page in Chromium
    # (test_browser_xss.py). Each page for each value would double the run's length.
    if value is not None and "<" in value:
        check_shown(h, req, value, context, baselines, req.shows[:1])
    return True


def check_shown(h, req: Req, value, context, baselines, shows=None):
    for role, url in req.shows if shows is None else shows:
        page = h.browser(role).get(url)
        assert page.status_code == 200, (context, url, page.status_code)
        html = page.get_data(as_text=True)
        assert active_count(html) <= baselines[(role, urlsplit(url).path)], (context, url)
        cleaned = clean_text(as_server_reads(value)) if value is not None else ""
        # Verbatim only for markup: "&lt;b&gt;" is what an earlier "<b>" rightly shows as.
        if len(cleaned) > 3 and "<" in cleaned and "&" not in cleaned:
            assert cleaned not in html, (context, url)


def baselines_for(h, builder, name) -> dict:
    """The control: the base request as built is accepted, and the pages' own active markup."""
    req = builder(h, name, None)
    b, response = submit(h, req)
    assert response.status_code < req.control, (
        builder.__name__,
        name,
        response.get_data(as_text=True)[:3000],
    )
    if req.after:
        req.after(h)
    if req.role in h.browsers:
        h.refresh_token(req.role)
    out = {}
    for role, url in req.shows:
        page = h.browser(role).get(url).get_data(as_text=True)
        out[(role, urlsplit(url).path)] = active_count(page)
    return out


def field_name(key: str) -> str:
    return key.rsplit(".", 1)[-1] if ":" not in key else key.rsplit(":", 1)[-1]


@pytest.mark.parametrize("key", FIELDS)
def test_every_hostile_value_in_every_field(h, watch, key):
    """All ten text families into one field (one test per field, not per family: the world is
    built once, which keeps the whole matrix fast; each failure names its family and value)."""
    name = field_name(key)
    builders = TARGETS.get(key)
    assert builders, f"{key} has no entry in TARGETS"
    for family in hostile.TEXT_FAMILIES:
        for builder in builders if family in EVERY_ROUTE else builders[:1]:
            context = f"{key} via {builder.__name__}: {family}"
            if builder in ADDS_DOCUMENTS:
                h.new_stage()
            baselines = baselines_for(h, builder, name)
            req = None
            for i, value in enumerate(CORPUS[family]):
                req = builder(h, name, value)
                _b, response = submit(h, req)
                figures.add("hostile_inputs")
                check_one(h, req, response, value, f"{context}[{i}]", baselines)
            check_shown(h, req, None, context, baselines)


# --- uploads -------------------------------------------------------------------------------


def upload_req(h, route, filename, data) -> Req:
    if route == "attach":
        req = attach(h, "title", "รายงานผล")
        req.files = [("file", filename, data)]
    elif route == "attach_several":
        req = attach_several(h, "title", "รายงานผล")
        req.files = [("file", filename, data), pdf("สอง.pdf")]
    else:
        req = revise(h, "title", "ฉบับแก้ไข")
        req.files = [("file", filename, data)]
    return req


def check_upload(h, route, filename, data, context):
    before = set(db.session.scalars(db.select(Document.id)))
    db.session.commit()
    req = upload_req(h, route, filename, data)
    started = time.monotonic()
    _b, response = submit(h, req)
    figures.add("hostile_uploads")
    assert time.monotonic() - started < 10, f"{context}: too slow (unpacked a bomb?)"
    figures.add("server_errors", int(response.status_code >= 500))
    assert response.status_code < 500, (context, response.get_data(as_text=True)[-2000:])
    if response.status_code >= 400:
        assert_thai_refusal(response, context)
    body = response.get_data(as_text=True)
    if route == "attach_several":
        # The page lists each file's outcome: a refused file's reason in Thai.
        for reason in re.findall(r'<span class="badge returned">[^<]*</span>(.*?)</p>', body, re.S):
            assert THAI.search(reason), (context, reason)
    else:
        h.refresh_token("reporter")
    new = db.session.scalars(db.select(Document).where(Document.id.not_in(before))).all()
    for document in new:
        assert STORED_NAME.fullmatch(document.stored_name), context
        shown = document.original_name
        assert shown and len(shown.encode()) <= 255, (context, shown)
        assert not any(c in shown for c in "/\\") and not any(
            unicodedata.category(c).startswith("C") for c in shown
        ), (context, shown)
        assert document.content_type.split(";")[0] not in ("text/html", "image/svg+xml"), context
        download = h.browser("reporter").get(h.url("receive.download", document_id=document.id))
        assert download.status_code == 200, context
        assert download.headers["Content-Disposition"].startswith("attachment"), context
        assert download.headers.get("X-Content-Type-Options") == "nosniff", context
    db.session.commit()


UPLOAD_ROUTES = ("attach", "attach_several", "revise")


def upload_names(family):
    for value in CORPUS[family]:
        yield value
        if family in hostile.TEXT_FAMILIES or not value.lower().endswith(".pdf"):
            yield value + ".pdf"  # so the name's hostility, not its extension, is what is judged


@pytest.mark.parametrize("family", hostile.NAME_FAMILIES)
@pytest.mark.parametrize("route", UPLOAD_ROUTES)
def test_every_hostile_file_name_through_every_upload(h, watch, route, family):
    for i, name in enumerate(upload_names(family)):
        check_upload(h, route, name, sample_bytes("pdf"), f"{route}: {family}[{i}] {name[:80]!r}")


@pytest.mark.parametrize("family", hostile.TEXT_FAMILIES)
def test_every_hostile_text_as_a_file_name(h, watch, family):
    """The text families as names too (the three routes share one name cleaning, which the
    name families above already put through each route)."""
    for i, name in enumerate(upload_names(family)):
        check_upload(h, "attach", name, sample_bytes("pdf"), f"attach: {family}[{i}] {name[:80]!r}")


@pytest.mark.parametrize("route", UPLOAD_ROUTES)
def test_every_lying_content_through_every_upload(h, watch, route):
    for label, name, data in hostile.lying_contents():
        check_upload(h, route, name, data, f"{route}: content_lies {label}")


def check_import_upload(h, filename, data, context):
    """The staff export's upload: refused in Thai, or previewed; nothing is imported before
    the officer confirms, and the kept file lives under a name the server made."""
    accounts = set(db.session.scalars(db.select(User.username)))
    db.session.commit()
    req = Req("admin", h.url("auth.import_staff"), [], files=[("file", filename, data)])
    started = time.monotonic()
    _b, response = submit(h, req)
    figures.add("hostile_uploads")
    assert time.monotonic() - started < 10, f"{context}: too slow (unpacked a bomb?)"
    figures.add("server_errors", int(response.status_code >= 500))
    assert response.status_code < 500, (context, response.get_data(as_text=True)[-2000:])
    if response.status_code >= 400:
        assert_thai_refusal(response, context)
    assert set(db.session.scalars(db.select(User.username))) == accounts, context
    db.session.commit()
    kept = h.app.config["IMPORT_DIR"]
    for name in os.listdir(kept) if os.path.isdir(kept) else []:
        assert re.fullmatch(r"[0-9A-Za-z_.-]+", name) and not name.startswith(".."), name
    h.refresh_token("admin")


@pytest.mark.parametrize("family", hostile.NAME_FAMILIES)
def test_every_hostile_file_name_through_the_staff_import(h, watch, family):
    export = staff_export()[0].getvalue()
    for i, name in enumerate(CORPUS[family]):
        for candidate in (name, name + ".csv"):
            check_import_upload(h, candidate, export, f"import: {family}[{i}] {candidate[:80]!r}")


def test_every_lying_content_through_the_staff_import(h, watch):
    for label, name, data in hostile.lying_contents():
        for candidate in (name, name.rsplit(".", 1)[0] + ".csv", name.rsplit(".", 1)[0] + ".xlsx"):
            check_import_upload(h, candidate, data, f"import: content_lies {label} as {candidate}")
