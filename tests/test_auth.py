"""Login, logout, passwords and accounts: sessions end on the server, not only in the browser."""

import pytest

from blueprints.auth import services
from extensions import db
from models import User
from tests.conftest import PASSWORD, Browser

SESSION = "myoffice_reports_session"
REMEMBER = "myoffice_reports_remember"


def copy_cookies(source: Browser, target: Browser, *names):
    prefix = source.app.config["URL_PREFIX"]
    for name in names:
        cookie = source.cookie(name)
        target.client.set_cookie(name, cookie.value, path=prefix)


def test_login_page_has_the_manual_labels(browser):
    html = browser.get("auth.login").get_data(as_text=True)
    for label in ("ชื่อผู้ใช้", "รหัสผ่าน", "เข้าระบบ"):
        assert label in html
    assert '<label for="username">' in html and '<label for="password">' in html


def test_wrong_password_is_refused_in_thai(browser, make_user):
    make_user(username="somchai")
    response = browser.login("somchai", "ผิด")
    assert response.status_code == 400
    assert "ชื่อผู้ใช้หรือรหัสผ่านไม่ถูกต้อง" in response.get_data(as_text=True)
    assert browser.get("auth.index").status_code == 302  # still anonymous


def test_username_is_not_case_sensitive(browser, make_user):
    make_user(username="somchai")
    assert browser.login("SomChai").status_code == 302


# Names a *_ci collation (MariaDB's utf8mb4) finds as "somchai"; each has its own throttle
# count, so finding the account by them would give fresh guesses at it.
LOOK_ALIKES = ["sömchai", "SÖMCHAI", "somchaí", "şomchai", "somchaı", "ｓｏｍｃｈａｉ", "ｓomchai"]


def test_a_look_alike_username_is_not_the_account(make_app, make_user):
    app = make_app(LOGIN_ADDRESS_FAILURES=1000)  # only the account's count in play
    make_user(username="somchai")
    b = Browser(app)
    for name in LOOK_ALIKES:
        assert services.find_by_username(name) is None, name
        assert b.login(name).status_code == 400, name  # even with the right password
        assert b.get("auth.index").status_code == 302  # still anonymous
    for _ in range(5):
        assert b.login("somchai", "ผิด").status_code == 400
    for name in LOOK_ALIKES:  # no way around the account's lock either
        assert b.login(name).status_code in (400, 429), name
        assert b.get("auth.index").status_code == 302
    assert b.login("somchai").status_code == 429


def test_cookies_are_named_and_scoped_to_the_module(browser, make_user):
    make_user(username="somchai")
    browser.post("auth.login", {"username": "somchai", "password": PASSWORD, "remember": "y"})
    for name in (SESSION, REMEMBER):
        cookie = browser.cookie(name)
        assert cookie is not None and cookie.path == "/myoffice/reports"
        assert cookie.http_only


def test_login_clears_the_session_from_before(browser, make_user):
    make_user(username="somchai")
    token_before = browser.csrf_token()
    browser.login("somchai")
    # The anonymous session's CSRF token died with it: nothing fixed before login survives.
    response = browser.post("auth.logout", {"csrf_token": token_before})
    assert response.status_code == 400
    assert "แบบฟอร์มหมดอายุ" in response.get_data(as_text=True)


def test_cookie_copied_before_logout_is_refused_after(app, login_as, make_user):
    user = make_user(username="somchai")
    first = Browser(app)
    first.post("auth.login", {"username": "somchai", "password": PASSWORD, "remember": "y"})
    thief = Browser(app)
    copy_cookies(first, thief, SESSION, REMEMBER)
    assert thief.get("auth.index").status_code == 200

    assert first.post("auth.logout").status_code == 302
    response = thief.get("auth.index")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert user.session_version == 2


def test_logout_is_a_post(login_as, make_user):
    b = login_as(make_user())
    assert b.get("auth.logout").status_code == 405
    assert b.get("auth.index").status_code == 200


def test_password_change_ends_other_sessions_but_not_this_one(app, login_as, make_user):
    user = make_user(username="somchai")
    here, elsewhere = login_as(user), login_as(user)
    response = here.post(
        "auth.change_password",
        {"current": PASSWORD, "new": "รหัสใหม่-2570", "confirm": "รหัสใหม่-2570"},
    )
    assert response.status_code == 302
    assert here.get("auth.index").status_code == 200
    assert elsewhere.get("auth.index").status_code == 302
    assert Browser(app).login("somchai", "รหัสใหม่-2570").status_code == 302
    assert Browser(app).login("somchai", PASSWORD).status_code == 400


def test_password_change_needs_the_current_one_and_a_long_new_one(login_as, make_user):
    b = login_as(make_user())
    wrong = b.post(
        "auth.change_password", {"current": "x", "new": "abcdefgh", "confirm": "abcdefgh"}
    )
    assert wrong.status_code == 400 and "รหัสผ่านปัจจุบันไม่ถูกต้อง" in wrong.get_data(as_text=True)
    short = b.post("auth.change_password", {"current": PASSWORD, "new": "abc", "confirm": "abc"})
    assert short.status_code == 400 and "อย่างน้อย 8" in short.get_data(as_text=True)
    mismatch = b.post(
        "auth.change_password", {"current": PASSWORD, "new": "abcdefgh", "confirm": "abcdefgX"}
    )
    assert mismatch.status_code == 400 and "ไม่ตรงกัน" in mismatch.get_data(as_text=True)


def test_admin_resets_a_password_and_their_sessions_end(app, login_as, make_user):
    admin = login_as(make_user(admin=True))
    user = make_user(username="somchai")
    theirs = login_as(user)
    response = admin.post("auth.reset_password", {"new": "ตั้งใหม่-1234"}, user_id=user.id)
    assert response.status_code == 302
    assert theirs.get("auth.index").status_code == 302
    assert Browser(app).login("somchai", "ตั้งใหม่-1234").status_code == 302


def test_deactivated_staff_cannot_log_in_and_their_documents_stay(
    app, world, login_as, make_document
):
    document = make_document(world.indicator, world.reporter)
    admin = login_as(world.officer)
    theirs = login_as(world.reporter)
    response = admin.post("auth.set_active", {"active": "0"}, user_id=world.reporter.id)
    assert response.status_code == 302
    assert theirs.get("auth.index").status_code == 302
    refused = Browser(app).login("reporter")
    assert refused.status_code == 403 and "ปิดการใช้งาน" in refused.get_data(as_text=True)
    # The receiver still finds and downloads the document they sent.
    receiver = login_as(world.receiver)
    assert receiver.get("receive.download", document_id=document.id).status_code == 200


def test_admin_cannot_deactivate_themselves(login_as, make_user):
    admin = make_user(admin=True)
    b = login_as(admin)
    response = b.post("auth.set_active", {"active": "0"}, user_id=admin.id)
    assert response.status_code == 409
    assert db.session.get(User, admin.id).active


def test_repeated_failures_lock_the_account_for_a_while(browser, make_user):
    make_user(username="somchai")
    for _ in range(5):
        assert browser.login("somchai", "ผิด").status_code == 400
    locked = browser.login("somchai")  # even the right password waits
    assert locked.status_code == 429 and "15 นาที" in locked.get_data(as_text=True)


def test_login_never_redirects_off_site(browser, make_user):
    make_user(username="somchai")
    for target in ("//evil.example/x", "https://evil.example/", "/elsewhere/"):
        response = browser.open(
            browser.url("auth.login", next=target),
            method="POST",
            data={"csrf_token": browser.csrf_token(), "username": "somchai", "password": PASSWORD},
        )
        assert response.headers["Location"] == "/myoffice/reports/"
        browser.post("auth.logout")


def test_admin_adds_an_account_whose_status_is_dash(login_as, make_user):
    admin = login_as(make_user(admin=True))
    response = admin.post(
        "auth.accounts",
        {
            "username": "newbie",
            "full_name": "มานี มีนา",
            "position": "กลุ่มอำนวยการ",
            "password": "เริ่มต้น-1234",
        },
    )
    assert response.status_code == 302
    user = User.query.filter_by(username="newbie").one()
    assert user.reporter_status is None and not user.is_admin
    duplicate = admin.post(
        "auth.accounts",
        {"username": "NEWBIE", "full_name": "ซ้ำ", "password": "เริ่มต้น-1234"},
    )
    assert duplicate.status_code == 409 and "มีอยู่แล้ว" in duplicate.get_data(as_text=True)


@pytest.mark.parametrize("username", ["สมชาย", "som chai", "somchaï", "a" * 65])
def test_a_username_the_portal_could_never_send_is_refused(login_as, make_user, username):
    """Usernames match the portal's logins (ASCII), so an import or portal login finds them."""
    admin = login_as(make_user(admin=True))
    before = User.query.count()
    response = admin.post(
        "auth.accounts",
        {"username": username, "full_name": "มานี มีนา", "password": "เริ่มต้น-1234"},
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "ชื่อผู้ใช้ใช้ได้เฉพาะ A-Z" in html or "ยาวเกิน" in html
    assert User.query.count() == before


def test_deactivating_a_receiver_warns_about_their_indicators(login_as, world):
    response = login_as(world.officer).post(
        "auth.set_active", {"active": "0"}, user_id=world.receiver.id, follow_redirects=True
    )
    html = response.get_data(as_text=True)
    assert "ปิดการใช้งานบัญชี ประเสริฐ มั่นคง แล้ว" in html
    assert f"เป็นผู้รับข้อมูลของตัวชี้วัด {world.indicator.code}" in html
