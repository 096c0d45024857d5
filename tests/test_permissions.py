"""Who may do what: every route and method against six roles, as one table; every cell asserted.

Cells: 200 the page is shown; 302 the action was done (DONE below checks that it really
happened) and the browser redirected; LOGIN an anonymous browser is sent to the login page;
403 refused; 404 no such object; 405 the route does not take this method; 409 a rule refuses.

One test per row. Each cell (role) has its own fresh browser and its own objects (a new
document per cell, say), and every refused cell, or page that only reads, must leave every
table and the upload folder exactly as they were, so one cell cannot change what another sees.
"""

import io
import os
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from werkzeug.exceptions import MethodNotAllowed

import blueprints.receive.services as receive_services
from blueprints.years.services import create_year, default_due_date, next_year_to_open
from extensions import db, storage
from models import (
    RECEIVED,
    REPLACED,
    REPORTER,
    RETURNED,
    SENT,
    AuditEntry,
    Document,
    Download,
    FiscalYear,
    Indicator,
    Round,
    User,
)
from tests.conftest import PASSWORD, Browser
from tests.samples import sample_bytes

PREFIX = "/myoffice/reports"
LOGIN = "login"  # an anonymous request answered with 302 to the login page
ROLES = ("anonymous", "staff", "other_reporter", "reporter", "receiver", "admin")
# The world fixture's people, by role: receiver receives world.indicator and is not admin;
# admin (the officer) is neither a reporter nor that indicator's receiver.
USERS = {
    "staff": "staff",
    "other_reporter": "other_reporter",
    "reporter": "reporter",
    "receiver": "receiver",
    "admin": "officer",
}

# fmt: off
TABLE = {
    # (endpoint,                   method):  anonymous  staff  other  reporter  receiver  admin
    ("auth.index",                 "GET"):  (LOGIN,     200,   200,   200,      200,      200),
    ("auth.index",                 "POST"): (405,       405,   405,   405,      405,      405),
    ("auth.login",                 "GET"):  (200,       200,   200,   200,      200,      200),
    ("auth.login",                 "POST"): (302,       302,   302,   302,      302,      302),
    ("auth.logout",                "GET"):  (405,       405,   405,   405,      405,      405),
    ("auth.logout",                "POST"): (LOGIN,     302,   302,   302,      302,      302),
    # The portal's token hand-over exists only in token mode (tests/test_portal_auth.py).
    ("auth.handoff",               "GET"):  (404,       404,   404,   404,      404,      404),
    ("auth.handoff",               "POST"): (405,       405,   405,   405,      405,      405),
    ("auth.handoff_logout",        "GET"):  (405,       405,   405,   405,      405,      405),
    ("auth.handoff_logout",        "POST"): (404,       404,   404,   404,      404,      404),
    # Anyone may pick the language, the login page included.
    ("auth.set_language",          "GET"):  (405,       405,   405,   405,      405,      405),
    ("auth.set_language",          "POST"): (302,       302,   302,   302,      302,      302),
    # Asked by the portal's server: a stranger gets an empty menu and a 401, not a login page.
    ("menu.menu_json",             "GET"):  (401,       200,   200,   200,      200,      200),
    ("menu.menu_json",             "POST"): (405,       405,   405,   405,      405,      405),
    ("menu.menu_html",             "GET"):  (401,       200,   200,   200,      200,      200),
    ("menu.menu_html",             "POST"): (405,       405,   405,   405,      405,      405),
    ("auth.change_password",       "GET"):  (LOGIN,     200,   200,   200,      200,      200),
    ("auth.change_password",       "POST"): (LOGIN,     302,   302,   302,      302,      302),
    ("auth.accounts",              "GET"):  (LOGIN,     403,   403,   403,      403,      200),
    ("auth.accounts",              "POST"): (LOGIN,     403,   403,   403,      403,      302),
    ("auth.reset_password",        "GET"):  (405,       405,   405,   405,      405,      405),
    ("auth.reset_password",        "POST"): (LOGIN,     403,   403,   403,      403,      302),
    ("auth.set_active",            "GET"):  (405,       405,   405,   405,      405,      405),
    ("auth.set_active",            "POST"): (LOGIN,     403,   403,   403,      403,      302),
    # The upload only previews (200, nothing stored changes); confirming needs this browser's
    # own preview first, so without one it is refused (tests/test_staff_import.py confirms).
    ("auth.import_staff",          "GET"):  (LOGIN,     403,   403,   403,      403,      200),
    ("auth.import_staff",          "POST"): (LOGIN,     403,   403,   403,      403,      200),
    ("auth.confirm_import",        "GET"):  (405,       405,   405,   405,      405,      405),
    ("auth.confirm_import",        "POST"): (LOGIN,     403,   403,   403,      403,      409),
    ("roles.staff",                "GET"):  (LOGIN,     403,   403,   403,      403,      200),
    ("roles.staff",                "POST"): (405,       405,   405,   405,      405,      405),
    ("roles.set_status",           "GET"):  (405,       405,   405,   405,      405,      405),
    ("roles.set_status",           "POST"): (LOGIN,     403,   403,   403,      403,      302),
    ("indicators.index",           "GET"):  (LOGIN,     403,   403,   403,      403,      200),
    ("indicators.index",           "POST"): (405,       405,   405,   405,      405,      405),
    ("indicators.create",          "GET"):  (LOGIN,     403,   403,   403,      403,      200),
    ("indicators.create",          "POST"): (LOGIN,     403,   403,   403,      403,      302),
    ("indicators.edit",            "GET"):  (LOGIN,     403,   403,   403,      403,      200),
    ("indicators.edit",            "POST"): (LOGIN,     403,   403,   403,      403,      302),
    ("indicators.delete",          "GET"):  (405,       405,   405,   405,      405,      405),
    ("indicators.delete",          "POST"): (LOGIN,     403,   403,   403,      403,      302),
    ("years.index",                "GET"):  (LOGIN,     403,   403,   403,      403,      200),
    ("years.index",                "POST"): (405,       405,   405,   405,      405,      405),
    ("years.open_next",            "GET"):  (405,       405,   405,   405,      405,      405),
    ("years.open_next",            "POST"): (LOGIN,     403,   403,   403,      403,      302),
    ("years.close",                "GET"):  (405,       405,   405,   405,      405,      405),
    ("years.close",                "POST"): (LOGIN,     403,   403,   403,      403,      302),
    ("years.copy",                 "GET"):  (405,       405,   405,   405,      405,      405),
    ("years.copy",                 "POST"): (LOGIN,     403,   403,   403,      403,      302),
    ("years.add_round",            "GET"):  (405,       405,   405,   405,      405,      405),
    ("years.add_round",            "POST"): (LOGIN,     403,   403,   403,      403,      302),
    ("years.set_due",              "GET"):  (405,       405,   405,   405,      405,      405),
    ("years.set_due",              "POST"): (LOGIN,     403,   403,   403,      403,      302),
    ("audit.index",                "GET"):  (LOGIN,     403,   403,   403,      403,      200),
    ("audit.index",                "POST"): (405,       405,   405,   405,      405,      405),
    ("send.index",                 "GET"):  (LOGIN,     403,   200,   200,      403,      403),
    ("send.index",                 "POST"): (405,       405,   405,   405,      405,      405),
    ("send.attach",                "GET"):  (LOGIN,     403,   403,   200,      403,      403),
    ("send.attach",                "POST"): (LOGIN,     403,   403,   302,      403,      403),
    ("send.edit",                  "GET"):  (LOGIN,     403,   403,   200,      403,      403),
    ("send.edit",                  "POST"): (LOGIN,     403,   403,   302,      403,      403),
    ("send.delete",                "GET"):  (405,       405,   405,   405,      405,      405),
    ("send.delete",                "POST"): (LOGIN,     403,   403,   302,      403,      403),
    ("send.revise",                "GET"):  (LOGIN,     403,   403,   200,      403,      403),
    ("send.revise",                "POST"): (LOGIN,     403,   403,   302,      403,      403),
    ("receive.index",              "GET"):  (LOGIN,     403,   403,   403,      200,      200),
    ("receive.index",              "POST"): (405,       405,   405,   405,      405,      405),
    ("receive.round_page",         "GET"):  (LOGIN,     403,   403,   403,      200,      200),
    ("receive.round_page",         "POST"): (405,       405,   405,   405,      405,      405),
    ("receive.indicator_page",     "GET"):  (LOGIN,     403,   403,   403,      200,      200),
    ("receive.indicator_page",     "POST"): (405,       405,   405,   405,      405,      405),
    ("receive.store",              "GET"):  (405,       405,   405,   405,      405,      405),
    ("receive.store",              "POST"): (LOGIN,     403,   403,   403,      302,      302),
    ("receive.return_document",    "GET"):  (405,       405,   405,   405,      405,      405),
    ("receive.return_document",    "POST"): (LOGIN,     403,   403,   403,      302,      302),
    ("receive.undo",               "GET"):  (405,       405,   405,   405,      405,      405),
    ("receive.undo",               "POST"): (LOGIN,     403,   403,   403,      403,      302),
    ("receive.history",            "GET"):  (LOGIN,     403,   403,   200,      200,      200),
    ("receive.history",            "POST"): (405,       405,   405,   405,      405,      405),
    ("receive.download",           "GET"):  (LOGIN,     403,   403,   200,      200,      200),
    ("receive.download",           "POST"): (405,       405,   405,   405,      405,      405),
    ("receive.export_round",       "GET"):  (LOGIN,     403,   403,   403,      200,      200),
    ("receive.export_round",       "POST"): (405,       405,   405,   405,      405,      405),
    ("receive.export_indicator",   "GET"):  (LOGIN,     403,   403,   403,      200,      200),
    ("receive.export_indicator",   "POST"): (405,       405,   405,   405,      405,      405),
    ("receive.handover_mark",      "GET"):  (405,       405,   405,   405,      405,      405),
    ("receive.handover_mark",      "POST"): (LOGIN,     403,   403,   403,      403,      302),
    ("receive.status_report",      "GET"):  (LOGIN,     403,   403,   403,      200,      200),
    ("receive.status_report",      "POST"): (405,       405,   405,   405,      405,      405),
    ("notifications.index",        "GET"):  (LOGIN,     200,   200,   200,      200,      200),
    ("notifications.index",        "POST"): (405,       405,   405,   405,      405,      405),
    ("notifications.mark_read",    "GET"):  (405,       405,   405,   405,      405,      405),
    ("notifications.mark_read",    "POST"): (LOGIN,     302,   302,   302,      302,      302),
    ("receive.summary",            "GET"):  (LOGIN,     403,   403,   403,      200,      200),
    ("receive.summary",            "POST"): (405,       405,   405,   405,      405,      405),
}

# The routes with arguments, given an id (or year, or round) that does not exist: 404 only once
# the access level lets the role in; before that, the same refusal as for a real object.
MISSING = {
    # (endpoint,                   method):  anonymous  staff  other  reporter  receiver  admin
    ("auth.reset_password",        "POST"): (LOGIN,     403,   403,   403,      403,      404),
    ("auth.set_active",            "POST"): (LOGIN,     403,   403,   403,      403,      404),
    ("roles.set_status",           "POST"): (LOGIN,     403,   403,   403,      403,      404),
    ("indicators.edit",            "GET"):  (LOGIN,     403,   403,   403,      403,      404),
    ("indicators.edit",            "POST"): (LOGIN,     403,   403,   403,      403,      404),
    ("indicators.delete",          "POST"): (LOGIN,     403,   403,   403,      403,      404),
    # A year that was never opened is "not open" (409) for every write into it.
    ("years.close",                "POST"): (LOGIN,     403,   403,   403,      403,      409),
    ("years.copy",                 "POST"): (LOGIN,     403,   403,   403,      403,      409),
    ("years.add_round",            "POST"): (LOGIN,     403,   403,   403,      403,      409),
    ("years.set_due",              "POST"): (LOGIN,     403,   403,   403,      403,      404),
    ("send.attach",                "GET"):  (LOGIN,     403,   404,   404,      403,      403),
    ("send.attach",                "POST"): (LOGIN,     403,   404,   404,      403,      403),
    ("send.edit",                  "GET"):  (LOGIN,     403,   404,   404,      403,      403),
    ("send.edit",                  "POST"): (LOGIN,     403,   404,   404,      403,      403),
    ("send.delete",                "POST"): (LOGIN,     403,   404,   404,      403,      403),
    ("send.revise",                "GET"):  (LOGIN,     403,   404,   404,      403,      403),
    ("send.revise",                "POST"): (LOGIN,     403,   404,   404,      403,      403),
    ("receive.round_page",         "GET"):  (LOGIN,     403,   403,   403,      404,      404),
    ("receive.indicator_page",     "GET"):  (LOGIN,     403,   403,   403,      404,      404),
    ("receive.store",              "POST"): (LOGIN,     403,   403,   403,      404,      404),
    ("receive.return_document",    "POST"): (LOGIN,     403,   403,   403,      404,      404),
    ("receive.undo",               "POST"): (LOGIN,     403,   403,   403,      404,      404),
    ("receive.history",            "GET"):  (LOGIN,     404,   404,   404,      404,      404),
    ("receive.download",           "GET"):  (LOGIN,     404,   404,   404,      404,      404),
    ("receive.export_round",       "GET"):  (LOGIN,     403,   403,   403,      404,      404),
    ("receive.export_indicator",   "GET"):  (LOGIN,     403,   403,   403,      404,      404),
    ("receive.handover_mark",      "POST"): (LOGIN,     403,   403,   403,      403,      404),
    ("receive.status_report",      "GET"):  (LOGIN,     403,   403,   403,      404,      404),
    ("receive.summary",            "GET"):  (LOGIN,     403,   403,   403,      404,      404),
}
# fmt: on

NO_SUCH_ID = 2**31 - 1  # the largest id the router accepts; no test row has it
NO_SUCH_YEAR = 2699  # a fiscal year nobody opened
NEW_PASSWORD = "รหัสใหม่-2570"
NEW_TITLE = "ชื่อรายการที่แก้แล้ว"
NEW_NAME = "ชื่อตัวชี้วัดที่แก้แล้ว"
REASON = "ไฟล์ไม่ครบ กรุณาแนบหลักฐานหน้า 2"
PAST_CODE = "5.5"


class Cast:
    """What one cell needs from the world, read or made before its request.

    Each cell gets its own Cast, so its own document (uploaded by world.reporter to
    world.indicator; received or returned where the row needs that): the receiver storing one
    document leaves the admin's document still waiting. Ids are read up front, since a row the
    request deletes cannot be refreshed after it. An earlier year (every due date passed,
    one indicator to copy) is made once per world, for the rows that use it.
    """

    def __init__(self, world, make_document):
        self.world = world
        self._make_document = make_document
        self._made = {}
        self.year = world.indicator.fiscal_year
        self.indicator_id = world.indicator.id
        self.code = world.indicator.code
        self.staff_id = world.staff.id
        self.reporter_id = world.reporter.id
        self.receiver_id = world.receiver.id

    def _once(self, name, make):
        if name not in self._made:
            self._made[name] = make()
            db.session.commit()
        return self._made[name]

    def _upload(self) -> Document:
        return self._make_document(self.world.indicator, self.world.reporter)

    def _sent(self) -> tuple[int, str]:
        """A document as sent (ส่งแล้ว): its id and the name its file is stored under."""

        def make():
            document = self._upload()
            return document.id, document.stored_name

        return self._once("sent", make)

    @property
    def document_id(self) -> int:
        return self._sent()[0]

    @property
    def stored_name(self) -> str:
        return self._sent()[1]

    @property
    def received_document_id(self) -> int:
        def make():
            document = self._upload()
            receive_services.store_document(self.world.receiver, document)
            return document.id

        return self._once("received", make)

    @property
    def returned_document_id(self) -> int:
        def make():
            document = self._upload()
            receive_services.return_document(self.world.receiver, document, REASON)
            return document.id

        return self._once("returned", make)

    @property
    def past_year(self) -> int:
        year = self.year - 2  # not -1: its last round is due mid-October of this fiscal year
        if db.session.get(FiscalYear, year) is None:
            create_year(year)
            db.session.add(
                Indicator(
                    fiscal_year=year,
                    code=PAST_CODE,
                    code_key=PAST_CODE,
                    name="ตัวชี้วัดปีที่แล้ว",
                    receiver_id=self.receiver_id,
                    reporters=[self.world.reporter],
                )
            )
            db.session.commit()
        return year


def with_a_document(c, values: dict) -> dict:
    """The zips' URLs: a document sent first (c.document_id makes it), so the zip holds it."""
    assert c.document_id
    return values


URL_ARGS = {
    "auth.reset_password": lambda c: {"user_id": c.staff_id},
    "auth.set_active": lambda c: {"user_id": c.staff_id},
    "roles.set_status": lambda c: {"user_id": c.staff_id},
    "indicators.edit": lambda c: {"indicator_id": c.indicator_id},
    "indicators.delete": lambda c: {"indicator_id": c.indicator_id},
    "years.close": lambda c: {"year": c.past_year},
    "years.copy": lambda c: {"year": c.year},
    "years.add_round": lambda c: {"year": c.year},
    "years.set_due": lambda c: {"year": c.year, "months": 6},
    "send.attach": lambda c: {"indicator_id": c.indicator_id},
    "send.edit": lambda c: {"document_id": c.document_id},
    "send.delete": lambda c: {"document_id": c.document_id},
    "send.revise": lambda c: {"document_id": c.returned_document_id},
    "receive.round_page": lambda c: {"months": 6},
    "receive.indicator_page": lambda c: {"months": 6, "indicator_id": c.indicator_id},
    "receive.store": lambda c: {"document_id": c.document_id},
    "receive.return_document": lambda c: {"document_id": c.document_id},
    "receive.undo": lambda c: {"document_id": c.received_document_id},
    "receive.history": lambda c: {"document_id": c.document_id},
    "receive.download": lambda c: {"document_id": c.document_id},
    "receive.export_round": lambda c: with_a_document(c, {"year": c.year, "months": 6}),
    "receive.export_indicator": lambda c: with_a_document(
        c, {"months": 6, "indicator_id": c.indicator_id}
    ),
    "receive.handover_mark": lambda c: {"year": c.year, "months": 6},
    "receive.status_report": lambda c: {"year": c.year},
    "receive.summary": lambda c: {"months": 6},
}

MISSING_ARGS = {
    "auth.reset_password": lambda c: {"user_id": NO_SUCH_ID},
    "auth.set_active": lambda c: {"user_id": NO_SUCH_ID},
    "roles.set_status": lambda c: {"user_id": NO_SUCH_ID},
    "indicators.edit": lambda c: {"indicator_id": NO_SUCH_ID},
    "indicators.delete": lambda c: {"indicator_id": NO_SUCH_ID},
    "years.close": lambda c: {"year": NO_SUCH_YEAR},
    "years.copy": lambda c: {"year": NO_SUCH_YEAR},
    "years.add_round": lambda c: {"year": NO_SUCH_YEAR},
    "years.set_due": lambda c: {"year": c.year, "months": 3},  # a round the year lacks
    "send.attach": lambda c: {"indicator_id": NO_SUCH_ID},
    "send.edit": lambda c: {"document_id": NO_SUCH_ID},
    "send.delete": lambda c: {"document_id": NO_SUCH_ID},
    "send.revise": lambda c: {"document_id": NO_SUCH_ID},
    "receive.round_page": lambda c: {"months": 5},  # not a round
    "receive.indicator_page": lambda c: {"months": 6, "indicator_id": NO_SUCH_ID},
    "receive.store": lambda c: {"document_id": NO_SUCH_ID},
    "receive.return_document": lambda c: {"document_id": NO_SUCH_ID},
    "receive.undo": lambda c: {"document_id": NO_SUCH_ID},
    "receive.history": lambda c: {"document_id": NO_SUCH_ID},
    "receive.download": lambda c: {"document_id": NO_SUCH_ID},
    "receive.export_round": lambda c: {"year": NO_SUCH_YEAR, "months": 6},
    "receive.export_indicator": lambda c: {"months": 6, "indicator_id": NO_SUCH_ID},
    "receive.handover_mark": lambda c: {"year": c.year, "months": 3},  # a round the year lacks
    "receive.status_report": lambda c: {"year": NO_SUCH_YEAR},
    "receive.summary": lambda c: {"months": 3},  # a round the year lacks
}


def indicator_form(c, name):
    return {
        "fiscal_year": str(c.year),
        "category": "KRS",
        "code": c.code,
        "name": name,
        "receiver": str(c.receiver_id),
        "reporters": [str(c.reporter_id)],
    }


def pdf_upload(name="ผลการดำเนินงาน.pdf"):
    return (io.BytesIO(sample_bytes("pdf")), name)


def staff_export():
    """One new person and one renamed: a preview with something to confirm."""
    lines = ["username,ชื่อ-นามสกุล,กลุ่มงาน", "newbie,มานี มีนา,กลุ่มอำนวยการ", "staff,ชื่อใหม่,"]
    return (io.BytesIO("\n".join(lines).encode("utf-8")), "บุคลากร.csv")


# Valid form data for each POST route, so that an allowed role's request really succeeds.
FORMS = {
    "auth.login": lambda c, me: {"username": (me or c.world.staff).username, "password": PASSWORD},
    "auth.set_language": lambda c, me: {"language": "en", "next": f"{PREFIX}/"},
    "auth.change_password": lambda c, me: {
        "current": PASSWORD,
        "new": NEW_PASSWORD,
        "confirm": NEW_PASSWORD,
    },
    "auth.accounts": lambda c, me: {
        "username": "newbie",
        "full_name": "มานี มีนา",
        "position": "กลุ่มอำนวยการ",
        "password": NEW_PASSWORD,
    },
    "auth.reset_password": lambda c, me: {"new": NEW_PASSWORD},
    "auth.import_staff": lambda c, me: {"file": staff_export()},
    "auth.confirm_import": lambda c, me: {"digest": "0" * 64, "deactivate_missing": "y"},
    "auth.set_active": lambda c, me: {"active": "0"},
    "roles.set_status": lambda c, me: {"status": REPORTER},
    "indicators.create": lambda c, me: {**indicator_form(c, "ตัวชี้วัดใหม่"), "code": "2.2"},
    "indicators.edit": lambda c, me: indicator_form(c, NEW_NAME),
    "years.copy": lambda c, me: {"source": str(c.past_year)},
    "years.open_next": lambda c, me: {"year": str(next_year_to_open())},
    "years.add_round": lambda c, me: {"months": "3"},
    "years.set_due": lambda c, me: {"due_date": new_due_date(c.year).isoformat()},
    "send.attach": lambda c, me: {"round_months": "6", "title": NEW_TITLE, "file": pdf_upload()},
    "send.edit": lambda c, me: {"title": NEW_TITLE},
    "send.revise": lambda c, me: {"title": NEW_TITLE, "file": pdf_upload("ฉบับแก้ไข.pdf")},
    "receive.return_document": lambda c, me: {"reason": REASON},
    "receive.undo": lambda c, me: {"reason": REASON},
    "receive.handover_mark": lambda c, me: {"handed_over": "1"},
    "notifications.mark_read": lambda c, me: unread_notification(me),
}


def unread_notification(me) -> dict:
    """Something for mark_read to mark: one unread event of the person's own."""
    import notifications

    if me is not None:
        notifications.queue(me.id, "document_received", title="-", code="-", round=6, year=1)
        db.session.commit()
    return {}


def new_due_date(year):
    return default_due_date(year, 6) + timedelta(days=7)


def user(user_id) -> User:
    return db.session.get(User, user_id)


def document(document_id) -> Document | None:
    return db.session.get(Document, document_id)


def audited(action, actor_id) -> bool:
    return (
        db.session.scalar(db.select(AuditEntry).filter_by(action=action, actor_id=actor_id))
        is not None
    )


# What "it worked" means, for each route and method that some role may use and that writes.
def done_login(c, me, b, response):
    who = me or c.world.staff
    home = b.get("auth.index")
    assert home.status_code == 200 and who.full_name in home.get_data(as_text=True)


def done_logout(c, me, b, response):
    assert user(me.id).session_version == 2
    assert b.get("auth.index").status_code == 302


def done_change_password(c, me, b, response):
    assert Browser(b.app).login(me.username, NEW_PASSWORD).status_code == 302
    assert Browser(b.app).login(me.username, PASSWORD).status_code == 400


def done_accounts(c, me, b, response):
    assert db.session.scalar(db.select(User).filter_by(username="newbie")) is not None


def done_reset_password(c, me, b, response):
    assert Browser(b.app).login("staff", NEW_PASSWORD).status_code == 302


def done_set_active(c, me, b, response):
    assert user(c.staff_id).active is False


def done_set_status(c, me, b, response):
    assert user(c.staff_id).reporter_status == REPORTER


def done_create(c, me, b, response):
    created = db.session.scalar(db.select(Indicator).filter_by(code="2.2"))
    assert created is not None and created.receiver_id == c.receiver_id


def done_edit(c, me, b, response):
    assert db.session.get(Indicator, c.indicator_id).name == NEW_NAME


def done_delete(c, me, b, response):
    assert db.session.get(Indicator, c.indicator_id) is None


def done_open_year(c, me, b, response):
    assert db.session.get(FiscalYear, c.year + 1) is not None


def done_close(c, me, b, response):
    assert db.session.get(FiscalYear, c.past_year).closed_at is not None


def done_copy(c, me, b, response):
    copied = db.session.scalar(db.select(Indicator).filter_by(fiscal_year=c.year, code=PAST_CODE))
    assert copied is not None


def done_add_round(c, me, b, response):
    assert db.session.get(Round, (c.year, 3)) is not None


def done_set_due(c, me, b, response):
    assert db.session.get(Round, (c.year, 6)).due_date == new_due_date(c.year)


def done_attach(c, me, b, response):
    sent = db.session.scalar(db.select(Document).filter_by(title=NEW_TITLE))
    assert sent is not None and sent.uploaded_by_id == me.id
    assert os.path.exists(storage().path(sent.stored_name))


def done_rename(c, me, b, response):
    assert document(c.document_id).title == NEW_TITLE


def done_send_delete(c, me, b, response):
    assert document(c.document_id) is None
    assert not os.path.exists(storage().path(c.stored_name))


def done_revise(c, me, b, response):
    revision = db.session.scalar(db.select(Document).filter_by(title=NEW_TITLE))
    assert revision is not None and revision.replaces_id == c.returned_document_id
    assert revision.uploaded_by_id == me.id and revision.status == SENT
    assert document(c.returned_document_id).status == REPLACED


def done_store(c, me, b, response):
    stored = document(c.document_id)
    assert stored.status == RECEIVED and stored.received_by_id == me.id


def done_return(c, me, b, response):
    returned = document(c.document_id)
    assert returned.status == RETURNED and returned.returned_by_id == me.id
    assert returned.return_reason == REASON


def done_undo(c, me, b, response):
    undone = document(c.received_document_id)
    assert undone.status == SENT and undone.received_by_id is None


def done_download(c, me, b, response):
    assert response.get_data() == sample_bytes("pdf")
    assert audited("document_downloaded", me.id)


def done_mark_read(c, me, b, response):
    from models import Notification

    mine = db.session.scalars(db.select(Notification).filter_by(user_id=me.id)).all()
    assert mine and all(n.read_at is not None for n in mine)


def done_export(c, me, b, response):
    import zipfile

    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    assert archive.namelist()[0] == "manifest.csv"
    assert sample_bytes("pdf") in [archive.read(n) for n in archive.namelist()[1:]]
    assert db.session.get(Download, (me.id, c.document_id)) is not None
    assert audited("round_exported", me.id) or audited("indicator_exported", me.id)


def done_handover(c, me, b, response):
    marked = db.session.get(Round, (c.year, 6))
    assert marked.handed_over_at is not None and marked.handed_over_by_id == me.id


def done_set_language(c, me, b, response):
    assert response.headers["Location"] == f"{PREFIX}/"
    page = b.get(f"{PREFIX}/login" if me is None else f"{PREFIX}/", follow_redirects=True)
    assert '<html lang="en">' in page.get_data(as_text=True)
    if me is not None:
        assert db.session.get(User, me.id).language == "en"


DONE = {
    ("auth.set_language", "POST"): done_set_language,
    ("auth.login", "POST"): done_login,
    ("auth.logout", "POST"): done_logout,
    ("auth.change_password", "POST"): done_change_password,
    ("auth.accounts", "POST"): done_accounts,
    ("auth.reset_password", "POST"): done_reset_password,
    ("auth.set_active", "POST"): done_set_active,
    ("roles.set_status", "POST"): done_set_status,
    ("indicators.create", "POST"): done_create,
    ("indicators.edit", "POST"): done_edit,
    ("indicators.delete", "POST"): done_delete,
    ("years.open_next", "POST"): done_open_year,
    ("years.close", "POST"): done_close,
    ("years.copy", "POST"): done_copy,
    ("years.add_round", "POST"): done_add_round,
    ("years.set_due", "POST"): done_set_due,
    ("send.attach", "POST"): done_attach,
    ("send.edit", "POST"): done_rename,
    ("send.delete", "POST"): done_send_delete,
    ("send.revise", "POST"): done_revise,
    ("receive.store", "POST"): done_store,
    ("receive.return_document", "POST"): done_return,
    ("receive.undo", "POST"): done_undo,
    ("notifications.mark_read", "POST"): done_mark_read,
    # The one page that writes: each download is in the audit trail.
    ("receive.download", "GET"): done_download,
    # The zips record each person's first downloads and an audit entry.
    ("receive.export_round", "GET"): done_export,
    ("receive.export_indicator", "GET"): done_export,
    ("receive.handover_mark", "POST"): done_handover,
}

POST_ROUTES = sorted(e for (e, m), row in TABLE.items() if m == "POST" and set(row) != {405})


def snapshot():
    """Every row of every table, and the upload folder: what a refused request must not touch."""
    rows = {
        table.name: sorted((tuple(r) for r in db.session.execute(table.select())), key=repr)
        for table in db.metadata.sorted_tables
    }
    root = storage().root
    files = sorted(
        os.path.relpath(os.path.join(folder, name), root)
        for folder, _dirs, names in os.walk(root)
        for name in names
    )
    db.session.commit()  # end the read, so the request's writes are not kept waiting
    return rows, files


def rows(table):
    return [
        pytest.param(endpoint, method, row, id=f"{endpoint}-{method}")
        for (endpoint, method), row in table.items()
    ]


def as_role(app, world, login_as, role):
    me = getattr(world, USERS[role]) if role != "anonymous" else None
    return me, (Browser(app) if me is None else login_as(me))


def form_for(endpoint, method, cast, me):
    return FORMS.get(endpoint, lambda c, me: {})(cast, me) if method == "POST" else None


def send(b, endpoint, method, values, data):
    if method == "GET":
        return b.get(endpoint, **values)
    return b.post(endpoint, data, **values)


def outcome(response, anonymous: bool):
    """The cell's value as the table writes it: an anonymous 302 to the login page is LOGIN."""
    if anonymous and response.status_code == 302:
        location = urlsplit(response.headers["Location"])
        if location.path == f"{PREFIX}/login":
            assert all(n.startswith(f"{PREFIX}/") for n in parse_qs(location.query).get("next", []))
            return LOGIN
    return response.status_code


def changes(before, after) -> str:
    """Which tables (and whether the upload folder) differ between two snapshots."""
    (rows_before, files_before), (rows_after, files_after) = before, after
    changed = [name for name in rows_before if rows_before[name] != rows_after[name]]
    if files_before != files_after:
        changed.append("upload folder")
    return ", ".join(changed)


def check_row(app, world, login_as, make_document, endpoint, method, expected_row, url_args):
    """Each role in turn, with a fresh browser and a fresh Cast per cell; every wrong cell is
    listed, so a failure reads like the spreadsheet row it came from."""
    problems = []
    for role, expected in zip(ROLES, expected_row, strict=True):
        cast = Cast(world, make_document)
        me, b = as_role(app, world, login_as, role)
        values = url_args(cast)
        data = form_for(endpoint, method, cast, me)
        before = snapshot()

        response = send(b, endpoint, method, values, data)

        got = outcome(response, me is None)
        if got != expected:
            problems.append(f"{role:>14}: got {got}, expected {expected}")
            continue
        if expected in (200, 302) and (endpoint, method) in DONE:
            try:
                DONE[endpoint, method](cast, me, b, response)
            except AssertionError as error:
                problems.append(f"{role:>14}: {got}, but the action did not happen: {error}")
        else:  # refused, or a page that only reads: no row, no file changed
            changed = changes(before, snapshot())
            if changed:
                problems.append(f"{role:>14}: {got}, but it changed {changed}")
    assert not problems, f"{endpoint} {method}\n" + "\n".join(problems)


@pytest.mark.parametrize(("endpoint", "method", "row"), rows(TABLE))
def test_permission_table(app, world, login_as, make_document, endpoint, method, row):
    url_args = URL_ARGS.get(endpoint, lambda c: {})
    check_row(app, world, login_as, make_document, endpoint, method, row, url_args)


@pytest.mark.parametrize(("endpoint", "method", "row"), rows(MISSING))
def test_unknown_objects(app, world, login_as, make_document, endpoint, method, row):
    check_row(app, world, login_as, make_document, endpoint, method, row, MISSING_ARGS[endpoint])


def test_every_route_has_a_row(app):
    """A route added later fails here until the tables say who may use it, and how."""
    routes, posts, with_arguments = set(), set(), set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        other = rule.methods - {"GET", "POST", "HEAD", "OPTIONS"}
        assert not other, f"{rule.endpoint} answers {sorted(other)}: add rows for them"
        routes |= {(rule.endpoint, "GET"), (rule.endpoint, "POST")}
        if "POST" in rule.methods:
            posts.add(rule.endpoint)
        if rule.arguments:
            with_arguments.add(rule.endpoint)
    assert sorted(routes - set(TABLE)) == [], "routes without a row in TABLE"
    assert sorted(set(TABLE) - routes) == [], "rows in TABLE for routes that no longer exist"
    assert sorted(posts) == POST_ROUTES
    assert set(URL_ARGS) == with_arguments == set(MISSING_ARGS)
    missing_rows = {
        (e, m) for (e, m), row in TABLE.items() if e in with_arguments and set(row) != {405}
    }
    assert sorted(missing_rows ^ set(MISSING)) == [], "MISSING must cover each route with arguments"
    writes = {(e, m) for (e, m), row in TABLE.items() if m == "POST" and 302 in row}
    assert writes <= set(DONE), "each allowed POST needs a DONE check"


# Called by the portal's server with an HMAC instead of a CSRF token (test_portal_auth.py).
CSRF_EXEMPT = ("auth.handoff_logout",)


def test_only_the_signed_portal_call_is_exempt_from_csrf(app):
    from extensions import csrf

    exempt = {name.rpartition(".")[2] for name in csrf._exempt_views}
    assert exempt == {e.rpartition(".")[2] for e in CSRF_EXEMPT}


@pytest.mark.parametrize("endpoint", [e for e in POST_ROUTES if e not in CSRF_EXEMPT])
def test_post_without_a_valid_csrf_token_is_refused(app, world, login_as, make_document, endpoint):
    b = login_as(world.officer)
    for token in (None, "forged-token"):
        cast = Cast(world, make_document)
        values = URL_ARGS.get(endpoint, lambda c: {})(cast)
        data = form_for(endpoint, "POST", cast, world.officer)
        if token:
            data["csrf_token"] = token
        before = snapshot()

        response = b.post(endpoint, data, csrf=False, **values)

        assert response.status_code == 400, token
        assert "แบบฟอร์มหมดอายุ" in response.get_data(as_text=True)
        assert snapshot() == before


def test_anonymous_post_without_a_token_is_a_400_not_a_login_redirect(app, world, make_document):
    """The CSRF check runs before the access check."""
    document_id = Cast(world, make_document).document_id
    before = snapshot()
    response = Browser(app).post("receive.store", csrf=False, document_id=document_id)
    assert response.status_code == 400
    assert snapshot() == before


def test_logging_in_after_a_refused_anonymous_post_leads_to_a_page(app, world, make_document):
    """A form sent after the session ended (anonymous POST) goes to the login page; where the
    login then sends the user (?next=) must be a page, not a POST-only action, which a GET
    after login would answer with 405 ไม่สามารถดำเนินการด้วยวิธีนี้ได้."""
    routes = app.url_map.bind("localhost", script_name=PREFIX)
    offenders = []
    for endpoint in POST_ROUTES:
        cast = Cast(world, make_document)
        values = URL_ARGS.get(endpoint, lambda c: {})(cast)
        response = Browser(app).post(endpoint, form_for(endpoint, "POST", cast, None), **values)
        query = parse_qs(urlsplit(response.headers.get("Location", "")).query)
        for target in query.get("next", []):
            try:
                routes.match(target.removeprefix(PREFIX), method="GET")
            except MethodNotAllowed:
                offenders.append(f"{endpoint} -> next={target}")
    assert not offenders, "\n".join(offenders)


HUGE = 10**20  # beyond every database's INTEGER, like ids beyond IdConverter's range


def test_numbers_in_urls_beyond_the_database_are_404(app, world, login_as, make_document):
    """Rounds and years in URLs (<int:...>): a number no column can hold is a 404, as for ids
    (IdConverter), never a driver error. The admin passes every access level they need."""
    b = login_as(world.officer)
    problems = []
    for rule in app.url_map.iter_rules():
        numbers = re.findall(r"<int(?:\([^)]*\))?:(\w+)>", rule.rule)
        if not numbers:
            continue
        values = {name: world.indicator.id for name in rule.arguments}  # ids: a real row
        values.update(dict.fromkeys(numbers, HUGE))
        method = "GET" if "GET" in rule.methods else "POST"
        data = form_for(rule.endpoint, method, Cast(world, make_document), world.officer)
        try:
            response = send(b, rule.endpoint, method, values, data)
            got = response.status_code
        except Exception as error:  # the test client re-raises what would be a 500
            got = repr(error)
        if got != 404:
            problems.append(f"{method} {rule.endpoint} {numbers}={HUGE}: {got}")
    assert not problems, "\n".join(problems)
