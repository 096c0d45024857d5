"""No N+1: every page issues as many SQL statements for 200 documents as for 10.

Each GET page of the app is requested twice by the same browser: once in a small world
(10 documents, a few indicators, reporters, staff, audit entries, years), then after the world
has grown (200 documents over 20 more indicators, 20 reporters, 40 staff, 200 audit entries,
more years, a longer revision chain). The statement counts must be equal. The pages come from
the app's own URL map, so a page added later is measured too, once PAGES says who opens it.
"""

import json
import tempfile
from collections import Counter
from datetime import timedelta
from uuid import uuid4

import pytest

from app import create_app
from blueprints.years.services import create_year
from extensions import db
from models import (
    GENERAL,
    RECEIVED,
    REPLACED,
    REPORTER,
    RETURNED,
    SENT,
    AuditEntry,
    Document,
    Indicator,
    User,
    utcnow,
)
from tests.conftest import Browser, count_queries
from thai import normalize_code

# GET endpoints that are not pages: the portal's one-time login link only redirects; the
# hand-over zips and the .xlsx report are downloads (tests/test_export.py covers them).
NOT_PAGES = {
    "auth.handoff",
    "receive.export_round",
    "receive.export_indicator",
    "receive.status_report",
}


def get_pages() -> list[str]:
    """Every GET endpoint, read from a throwaway app (no database is touched)."""
    with tempfile.TemporaryDirectory() as uploads:
        config = {"SECRET_KEY": "x", "DATABASE_URL": "sqlite://", "UPLOAD_DIR": uploads}
        app = create_app({"TESTING": True, **config})
        return sorted(
            {
                rule.endpoint
                for rule in app.url_map.iter_rules()
                if "GET" in rule.methods and rule.endpoint not in {"static", *NOT_PAGES}
            }
        )


# endpoint -> (who opens it: a `world` fixture attribute, or None for anonymous;
#              its URL arguments, from the GrowingWorld)
PAGES = {
    "auth.index": ("receiver", lambda g: {}),
    "auth.login": (None, lambda g: {}),
    "auth.change_password": ("reporter", lambda g: {}),
    "auth.accounts": ("officer", lambda g: {}),
    "auth.import_staff": ("officer", lambda g: {}),
    "audit.index": ("officer", lambda g: {}),
    "roles.staff": ("officer", lambda g: {}),
    "indicators.index": ("officer", lambda g: {}),
    "indicators.create": ("officer", lambda g: {}),
    "indicators.edit": ("officer", lambda g: {"indicator_id": g.indicator_id}),
    "years.index": ("officer", lambda g: {}),
    "send.index": ("reporter", lambda g: {}),
    "send.attach": ("reporter", lambda g: {"indicator_id": g.indicator_id}),
    "send.edit": ("reporter", lambda g: {"document_id": g.editable_id}),
    "send.revise": ("reporter", lambda g: {"document_id": g.returned_id}),
    "receive.index": ("receiver", lambda g: {}),
    "receive.round_page": ("receiver", lambda g: {"months": 6}),
    "receive.indicator_page": (
        "receiver",
        lambda g: {"months": 6, "indicator_id": g.indicator_id},
    ),
    "receive.history": ("receiver", lambda g: {"document_id": g.chain_ids[0]}),
    "receive.download": ("receiver", lambda g: {"document_id": g.file_id}),
    "receive.summary": ("receiver", lambda g: {"months": 6}),
    "notifications.index": ("receiver", lambda g: {}),
    "menu.menu_json": ("receiver", lambda g: {}),
    "menu.menu_html": ("reporter", lambda g: {}),
}

# Pages that list what grows: the bigger world must show more, or the page measured nothing.
GROWS = {
    "audit.index",
    "auth.accounts",
    "roles.staff",
    "indicators.index",
    "indicators.create",
    "indicators.edit",
    "years.index",
    "send.index",
    "receive.round_page",
    "receive.summary",
    "receive.index",
    "receive.indicator_page",
    "receive.history",
}

# The world's size: documents, audit entries and versions of the history page's document in
# all; indicators, reporters, staff and fiscal years beyond what the conftest world has.
SMALL = {
    "documents": 10,
    "indicators": 2,
    "reporters": 2,
    "staff": 2,
    "audit": 10,
    "years": 1,
    "versions": 2,
}
LARGE = {
    "documents": 200,
    "indicators": 20,
    "reporters": 20,
    "staff": 40,
    "audit": 200,
    "years": 4,
    "versions": 8,
}
ROUNDS = (6, 9, 12)


class GrowingWorld:
    """The conftest world, grown in place to a given size with rows inserted in bulk.

    Documents need no file (made-up stored names), except the one the download page sends.
    Statuses mix sent, received and returned; uploaders, receivers and audit actors are many
    different people, so that any per-row loading of a related user shows up as extra
    statements instead of hiding in the session's identity map.
    """

    def __init__(self, world, make_document):
        self.world = world
        self.year = world.indicator.fiscal_year
        self.indicator_id = world.indicator.id
        self.password_hash = world.staff.password_hash
        self.receivers = [world.receiver, world.officer]
        self.reporters = [world.reporter]
        self.staff = []
        self.indicators = [world.indicator]
        self.reporters_of = {world.indicator.id: [world.reporter]}
        self.documents = 0
        self.audit = 0
        self.years = 0
        self.serial = 0
        self.file_id = make_document(world.indicator, world.reporter).id
        editable = self.document(world.indicator, world.reporter, 6, SENT)
        returned = self.document(world.indicator, world.reporter, 9, RETURNED)
        first = self.document(world.indicator, world.reporter, 12, SENT)
        db.session.flush()
        self.editable_id, self.returned_id = editable.id, returned.id
        self.chain, self.chain_ids = [first], [first.id]
        db.session.commit()

    def next(self) -> int:
        self.serial += 1
        return self.serial

    def document(self, indicator, uploader, months, status, **values) -> Document:
        n = self.next()
        # Who received or returned it: the two receivers and, as people change jobs over the
        # years, former receivers among the staff, so users are not all in the identity map.
        deciders = [*self.receivers, *self.staff]
        receiver = deciders[n % len(deciders)]
        if status == RECEIVED:
            values.update(received_by_id=receiver.id, received_at=utcnow())
        if status in (RETURNED, REPLACED):
            values.update(
                returned_by_id=receiver.id, returned_at=utcnow(), return_reason=f"เหตุผล {n}"
            )
        document = Document(
            indicator_id=indicator.id,
            round_months=months,
            title=f"เอกสารรายงาน {n}",
            original_name=f"รายงาน {n}.pdf",
            stored_name=f"{uuid4().hex}.pdf",
            size=1000 + n,
            sha256="0" * 64,
            content_type="application/pdf",
            uploaded_by_id=uploader.id,
            uploaded_at=utcnow() - timedelta(minutes=n),
            status=status,
            late=n % 5 == 0,
            **values,
        )
        db.session.add(document)
        return document

    def user(self, name, status) -> User:
        n = self.next()
        user = User(
            username=f"grown{n}",
            full_name=f"{name} {n}",
            position=f"กลุ่มงานที่ {n % 7}",
            password_hash=self.password_hash,
            reporter_status=status,
        )
        db.session.add(user)
        return user

    def grow(self, documents, indicators, reporters, staff, audit, years, versions):
        w = self.world
        new_reporters = [
            self.user("ผู้รายงาน", REPORTER) for _ in range(reporters - len(self.reporters) + 1)
        ]
        self.reporters += new_reporters
        statuses = (None, GENERAL)
        self.staff += [self.user("บุคลากร", statuses[i % 2]) for i in range(staff - len(self.staff))]
        db.session.flush()
        # Everyone reports on world.indicator: its edit form lists them all, checked.
        w.indicator.reporters.extend(new_reporters)
        self.reporters_of[w.indicator.id] = list(self.reporters)

        for _ in range(indicators - len(self.indicators) + 1):
            i = len(self.indicators)
            mates = [w.reporter, *(self.reporters[(i + k) % len(self.reporters)] for k in (1, 2))]
            mates = list(dict.fromkeys(mates))
            code = f"{10 + i}.{1 + i % 3}"
            indicator = Indicator(
                fiscal_year=self.year,
                category="KRS",
                code=code,
                code_key=normalize_code(code),
                name=f"ตัวชี้วัดทดสอบที่ {i}",
                # Half go to world.receiver (the receive pages grow), half to staff.
                receiver=w.receiver if i % 2 or not self.staff else self.staff[i % len(self.staff)],
                reporters=mates,
            )
            db.session.add(indicator)
            self.indicators.append(indicator)
        db.session.flush()
        for indicator in self.indicators[1:]:
            self.reporters_of.setdefault(indicator.id, list(indicator.reporters))

        for _ in range(documents - self.documents):
            k = self.documents
            # Half on world.indicator (its receive page grows), the rest spread out.
            indicator = w.indicator if k % 2 == 0 else self.indicators[k % len(self.indicators)]
            mates = self.reporters_of[indicator.id]
            status = (SENT, RECEIVED, RETURNED, RECEIVED)[k % 4]
            self.document(indicator, mates[k % len(mates)], ROUNDS[k % 3], status)
            self.documents += 1

        people = [*self.receivers, *self.reporters, *self.staff]
        for _ in range(audit - self.audit):
            k = self.audit
            actor = people[k % len(people)]
            action, params = (
                ("login", {}),
                ("document_sent", {"title": f"เรื่อง {k}", "file": f"ไฟล์ {k}.pdf", "round": 6}),
                ("role_changed", {"name": actor.full_name, "old": None, "new": REPORTER}),
                ("document_received", {"title": f"เรื่อง {k}"}),
            )[k % 4]
            db.session.add(
                AuditEntry(
                    actor_id=actor.id,
                    action=action,
                    object_type="documents",
                    object_id=k + 1,
                    indicator_id=w.indicator.id,
                    params=json.dumps(params, ensure_ascii=False),
                    ip=f"10.0.0.{k % 250}",
                    at=utcnow() - timedelta(minutes=k),
                )
            )
            self.audit += 1

        for _ in range(years - self.years):
            self.years += 1
            row = create_year(self.year - self.years)
            if self.years % 2 == 0:
                row.closed_at, row.closed_by_id = utcnow(), w.officer.id

        # The history page's document: returned and revised, again and again.
        while len(self.chain) < versions:
            last = self.chain[-1]
            n = self.next()
            last.status = REPLACED
            deciders = [*self.receivers, *self.staff]
            last.returned_by_id = deciders[n % len(deciders)].id
            last.returned_at, last.return_reason = utcnow(), f"กรุณาแก้ไขครั้งที่ {n}"
            revision = self.document(w.indicator, w.reporter, 12, SENT, replaces_id=last.id)
            db.session.flush()
            self.chain.append(revision)
            self.chain_ids.append(revision.id)
        db.session.commit()


def measure(browser, endpoint, values):
    db.session.commit()  # nothing of the test's own session is counted
    with count_queries(db.engine) as statements:
        response = browser.get(endpoint, **values)
        body = response.get_data()
    assert response.status_code == 200, response.get_data(as_text=True)[:1000]
    return list(statements), body


@pytest.mark.parametrize("endpoint", get_pages())
def test_statement_count_does_not_grow_with_the_data(app, world, login_as, make_document, endpoint):
    assert endpoint in PAGES, f"{endpoint}: add it to PAGES (who opens it, with which arguments)"
    role, url_args = PAGES[endpoint]
    grown = GrowingWorld(world, make_document)
    grown.grow(**SMALL)
    browser = Browser(app) if role is None else login_as(getattr(world, role))
    values = url_args(grown)

    small, small_body = measure(browser, endpoint, values)
    grown.grow(**LARGE)
    large, large_body = measure(browser, endpoint, values)

    if len(large) != len(small):
        extra = Counter(large) - Counter(small)
        pytest.fail(
            f"{endpoint}: {len(small)} statements for the small world, {len(large)} for the "
            "large one; the statements that grew:\n"
            + "\n".join(f"{n} x {statement}" for statement, n in extra.items())
        )
    if endpoint in GROWS:
        assert len(large_body) > len(small_body), f"{endpoint} does not show the grown data"


def test_pages_names_only_pages_that_exist():
    assert sorted(set(PAGES) - set(get_pages())) == []
    assert GROWS <= set(PAGES)
