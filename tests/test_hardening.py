"""Edges found in review: escaping, stray query strings, control characters, and rules that
must hold however the request was made."""

import io
from datetime import timedelta

import pytest

from blueprints.years.services import round_of
from extensions import db
from models import REPORTER, Document, Indicator, User
from tests.conftest import Browser
from tests.samples import sample_bytes
from thai import bangkok_date, fiscal_year, now_utc

YEAR = fiscal_year()


def test_names_in_messages_are_shown_as_text_not_html(login_as, make_user, make_indicator):
    admin = make_user(admin=True)
    reporter = make_user("<img src=x onerror=alert(1)><b>ชื่อ</b>", status=REPORTER)
    make_indicator("1.1", "<script>alert(1)</script>", reporters=[reporter])
    response = login_as(admin).post("roles.set_status", {"status": "general"}, user_id=reporter.id)
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "<b>ชื่อ</b>" not in html and "<script>alert(1)</script>" not in html
    assert "&lt;b&gt;ชื่อ&lt;/b&gt;" in html


@pytest.mark.parametrize(
    ("endpoint", "query"),
    [
        ("roles.staff", {"user_id": "3", "endpoint": "x", "q": "ผู้"}),
        ("auth.accounts", {"_external": "1", "page": "2"}),
        ("audit.index", {"since": "0001-01-01", "until": "9999-12-31", "anchor": "x"}),
    ],
)
def test_stray_query_parameters_are_ignored(make_app, make_user, endpoint, query):
    app = make_app(PER_PAGE=1)
    with app.app_context():
        from blueprints.years.services import bootstrap_current_year

        bootstrap_current_year()
        admin = make_user(admin=True)
        make_user()
        b = Browser(app)
        b.login(admin.username)
        path = b.url(endpoint) + "?" + "&".join(f"{k}={v}" for k, v in query.items())
        assert b.get(path).status_code == 200


def test_control_characters_are_removed_from_typed_text(app, login_as, world):
    b = login_as(world.reporter)
    assert b.upload(world.indicator, title="รายงาน\x00ผล\x07").status_code == 302
    assert db.session.scalars(db.select(Document)).one().title == "รายงานผล"
    assert b.get("auth.login").status_code == 200
    search = login_as(world.officer).get("roles.staff", q="เอก\x00ชัย")
    assert search.status_code == 200 and "เอกชัย ศรีสุข" in search.get_data(as_text=True)
    assert Browser(app).login("report\x00er").status_code == 302


def test_deleting_a_revision_gives_the_returned_original_back(login_as, world, make_document):
    original = make_document(world.indicator, world.reporter)
    login_as(world.receiver).post(
        "receive.return_document", {"reason": "ขาดลายเซ็น"}, document_id=original.id
    )
    reporter = login_as(world.reporter)
    reporter.open(
        reporter.url("send.revise", document_id=original.id),
        method="POST",
        data={
            "csrf_token": reporter.csrf_token(),
            "title": "แก้แล้ว",
            "file": (io.BytesIO(sample_bytes("pdf")), "แก้.pdf"),
        },
    )
    revision = db.session.scalars(db.select(Document).filter_by(replaces_id=original.id)).one()
    assert reporter.post("send.delete", document_id=revision.id).status_code == 302
    back = db.session.get(Document, original.id)
    assert back.status == "returned" and back.return_reason == "ขาดลายเซ็น"
    assert "ส่งฉบับแก้ไข" in reporter.get("send.index").get_data(as_text=True)


def test_an_indicator_with_documents_keeps_its_year(login_as, world, make_document):
    make_document(world.indicator, world.reporter)
    b = login_as(world.officer)
    b.post("years.open_next", {"year": str(YEAR + 1)})
    response = b.post(
        "indicators.edit",
        {
            "fiscal_year": str(YEAR + 1),
            "category": "KRS",
            "code": world.indicator.code,
            "name": world.indicator.name,
            "receiver": str(world.receiver.id),
            "reporters": [str(world.reporter.id)],
        },
        indicator_id=world.indicator.id,
    )
    assert response.status_code == 409 and "ย้ายปีงบประมาณไม่ได้" in response.get_data(as_text=True)
    assert db.session.get(Indicator, world.indicator.id).fiscal_year == YEAR


def test_deactivation_needs_an_explicit_choice(login_as, world):
    response = login_as(world.officer).post("auth.set_active", {}, user_id=world.staff.id)
    assert response.status_code == 400
    assert db.session.get(User, world.staff.id).active


def test_a_reporter_taken_off_an_indicator_can_no_longer_change_its_documents(
    login_as, world, make_document
):
    document = make_document(world.indicator, world.reporter)
    world.indicator.reporters = [world.other_reporter]
    db.session.commit()
    b = login_as(world.reporter)
    assert b.post("send.edit", {"title": "ใหม่"}, document_id=document.id).status_code == 403
    assert b.post("send.delete", document_id=document.id).status_code == 403
    assert db.session.get(Document, document.id) is not None


def test_moving_a_due_date_re_judges_lateness(login_as, world, make_document):
    today = bangkok_date(now_utc())
    round_of(YEAR, 6).due_date = today - timedelta(days=5)
    db.session.commit()
    document = make_document(world.indicator, world.reporter)
    assert db.session.get(Document, document.id).late
    b = login_as(world.officer)
    later = (today + timedelta(days=5)).isoformat()
    assert b.post("years.set_due", {"due_date": later}, year=YEAR, months=6).status_code == 302
    assert not db.session.get(Document, document.id).late


def test_indicators_are_copied_from_earlier_years_only(login_as, world):
    b = login_as(world.officer)
    b.post("years.open_next", {"year": str(YEAR + 1)})
    response = b.post("years.copy", {"source": str(YEAR + 1)}, year=YEAR)
    assert response.status_code == 400
    assert db.session.scalar(db.select(db.func.count(Indicator.id))) == 2


def test_a_double_click_opens_one_year(login_as, world):
    b = login_as(world.officer)
    assert b.post("years.open_next", {"year": str(YEAR + 1)}).status_code == 302
    again = b.post("years.open_next", {"year": str(YEAR + 1)})
    assert again.status_code == 409 and "เปิดไปแล้ว" in again.get_data(as_text=True)


@pytest.mark.parametrize(
    ("endpoint", "query"),
    [
        ("indicators.index", "page=²"),
        ("indicators.index", "year=²"),
        ("receive.index", "year=①"),
        ("send.index", "year=²"),
        ("audit.index", "user=²&indicator=³"),
    ],
)
def test_unicode_digits_in_numbers_are_ignored(login_as, world, endpoint, query):
    world.officer.reporter_status = REPORTER
    db.session.commit()
    b = login_as(world.officer)
    assert b.get(b.url(endpoint) + "?" + query).status_code == 200


def test_odd_indicator_codes_never_break_the_lists(login_as, world):
    b = login_as(world.officer)
    form = {
        "fiscal_year": str(YEAR),
        "category": "KRS",
        "receiver": str(world.receiver.id),
        "reporters": [str(world.reporter.id)],
        "name": "ชื่อ",
    }
    assert b.post("indicators.create", {**form, "code": "1²"}).status_code == 302
    too_long = b.post("indicators.create", {**form, "code": "İ" * 32})  # lower() doubles it
    assert too_long.status_code == 400 and "ยาวเกิน 32" in too_long.get_data(as_text=True)
    assert b.get("indicators.index").status_code == 200
    assert login_as(world.receiver).get("receive.round_page", months=6).status_code == 200


def test_a_reporter_of_closed_years_only_may_become_general_staff(login_as, world):
    from blueprints.years.services import get_year

    world.indicator.reporters = [world.other_reporter]
    old = Indicator(
        fiscal_year=YEAR,
        category="KRS",
        code="4.4",
        code_key="4.4",
        name="เก่า",
        receiver=world.receiver,
        reporters=[world.reporter],
    )
    db.session.add(old)
    db.session.commit()
    b = login_as(world.officer)
    assert (
        b.post("roles.set_status", {"status": "general"}, user_id=world.reporter.id).status_code
        == 409
    )
    get_year(YEAR).closed_at = now_utc()
    db.session.commit()
    assert (
        b.post("roles.set_status", {"status": "general"}, user_id=world.reporter.id).status_code
        == 302
    )


def test_a_revision_keeps_the_originals_on_time_verdict(login_as, world, make_document):
    original = make_document(world.indicator, world.reporter)
    assert not original.late
    login_as(world.receiver).post(
        "receive.return_document", {"reason": "แก้"}, document_id=original.id
    )
    round_of(YEAR, 6).due_date = bangkok_date(now_utc()) - timedelta(days=1)  # now past due
    db.session.commit()
    reporter = login_as(world.reporter)
    reporter.open(
        reporter.url("send.revise", document_id=original.id),
        method="POST",
        data={
            "csrf_token": reporter.csrf_token(),
            "title": "แก้แล้ว",
            "file": (io.BytesIO(sample_bytes("pdf")), "แก้.pdf"),
        },
    )
    revision = db.session.scalars(db.select(Document).filter_by(replaces_id=original.id)).one()
    assert not revision.late
