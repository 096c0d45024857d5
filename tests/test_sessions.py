"""Our own login session (local and token modes): a new cookie at login, idle and absolute
limits, every copy ended by logout, password changes and deactivation, and safe cookie flags."""

import secrets
import time
from email.utils import parsedate_to_datetime
from urllib.parse import urlencode

import pytest
from flask_login.utils import encode_cookie

from blueprints.auth.portal import sign
from extensions import db
from models import User
from tests.conftest import PASSWORD, Browser
from thai import now_utc

SESSION = "myoffice_reports_session"
REMEMBER = "myoffice_reports_remember"
ENDED = "หมดเวลาการใช้งาน กรุณาเข้าระบบใหม่"
LOGIN_FIRST = "กรุณาเข้าระบบก่อนใช้งาน"
PREFIX = "/myoffice/reports"
COOKIES = (SESSION, REMEMBER)


def serializer(app):
    return app.session_interface.get_signing_serializer(app)


def read_session(b: Browser) -> dict:
    return serializer(b.app).loads(b.cookie(SESSION).value)


def write_session(b: Browser, data: dict) -> None:
    b.client.set_cookie(SESSION, serializer(b.app).dumps(data), path=PREFIX)


def age(b: Browser, idle_minutes: float = 0, login_hours: float = 0) -> None:
    """The cookie this browser would hold after so long: as if time had passed."""
    data = read_session(b)
    data["seen"] -= int(idle_minutes * 60)
    uid, version, logged_in_at = data["_user_id"].split(".")
    data["_user_id"] = f"{uid}.{version}.{int(logged_in_at) - int(login_hours * 3600)}"
    write_session(b, data)


def remember_cookie(app, user_id: str) -> str:
    with app.app_context():
        return encode_cookie(user_id)


def login_remembered(app, username: str) -> Browser:
    b = Browser(app)
    response = b.post("auth.login", {"username": username, "password": PASSWORD, "remember": "y"})
    assert response.status_code == 302
    return b


def assert_sent_to_login_because_it_ended(b: Browser, response):
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    page = b.get(response.headers["Location"])
    assert page.status_code == 200
    assert ENDED in page.get_data(as_text=True)
    assert b.get("auth.index").status_code == 302  # and stays logged out


def test_login_gives_a_new_session_and_a_planted_cookie_stays_anonymous(app, browser, make_user):
    make_user(username="somchai")
    browser.get("auth.login")
    planted = browser.cookie(SESSION).value  # what an attacker could have set in this browser
    assert browser.login("somchai").status_code == 302
    assert browser.cookie(SESSION).value != planted
    assert browser.get("auth.index").status_code == 200
    attacker = Browser(app)
    attacker.client.set_cookie(SESSION, planted, path=PREFIX)
    response = attacker.get("auth.index")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_an_idle_session_ends_with_a_thai_message(login_as, make_user):
    b = login_as(make_user())
    assert b.get("auth.index").status_code == 200
    age(b, idle_minutes=61)
    assert_sent_to_login_because_it_ended(b, b.get("auth.index"))


def test_working_keeps_the_session_alive(login_as, make_user):
    b = login_as(make_user())
    b.get("auth.index")  # the first page after login adds its form token to the session
    quick = b.get("auth.index")
    # Within the minute nothing is rewritten: no new cookie on every click.
    assert quick.status_code == 200 and "Set-Cookie" not in quick.headers
    age(b, idle_minutes=50)
    assert b.get("auth.index").status_code == 200
    assert abs(read_session(b)["seen"] - time.time()) < 5  # the click counted as activity
    age(b, idle_minutes=50)
    assert b.get("auth.index").status_code == 200  # 100 minutes in, never 60 of them idle


def test_a_form_sent_after_the_timeout_leads_to_login_and_changes_nothing(app, login_as, make_user):
    user = make_user(username="somchai")
    b = login_as(user)
    token = b.csrf_token()  # the form was opened before the person left the desk
    age(b, idle_minutes=61)
    new = "รหัสใหม่-2570"
    response = b.post(
        "auth.change_password",
        {"csrf_token": token, "current": PASSWORD, "new": new, "confirm": new},
        csrf=False,  # sent with the token the page had, not a fresh one
    )
    # The login page, not "form expired": the form's token outlives the login.
    assert_sent_to_login_because_it_ended(b, response)
    assert Browser(app).login("somchai", new).status_code == 400
    assert Browser(app).login("somchai").status_code == 302


def test_a_session_ends_after_max_hours_however_busy(login_as, make_user):
    b = login_as(make_user())
    age(b, login_hours=12.1)  # seen a moment ago, but logged in over 12 hours ago
    assert_sent_to_login_because_it_ended(b, b.get("auth.index"))


def test_changing_the_password_does_not_lengthen_the_login(login_as, make_user):
    b = login_as(make_user())
    age(b, login_hours=11.5)
    new = "รหัสใหม่-2570"
    response = b.post("auth.change_password", {"current": PASSWORD, "new": new, "confirm": new})
    assert response.status_code == 302
    assert b.get("auth.index").status_code == 200  # this browser stays logged in ...
    age(b, login_hours=0.6)
    # ... until twelve hours after the password was first typed, not after the change.
    assert_sent_to_login_because_it_ended(b, b.get("auth.index"))


def test_a_remembered_login_outlives_the_idle_timeout_but_not_max_hours(app, make_user):
    user = make_user(username="somchai")
    b = login_remembered(app, "somchai")
    age(b, idle_minutes=240)
    assert b.get("auth.index").status_code == 200  # back in through the remember cookie
    # The same browser twelve hours after the password was typed: both cookies carry it.
    old = f"{user.id}.{user.session_version}.{int(time.time()) - 13 * 3600}"
    b.client.set_cookie(REMEMBER, remember_cookie(app, old), path=PREFIX)
    age(b, idle_minutes=240, login_hours=13)
    assert_sent_to_login_because_it_ended(b, b.get("auth.index"))
    assert b.cookie(REMEMBER) is None  # deleted, not left to be tried again


def test_the_remember_cookie_expires_with_the_longest_login(app, make_user):
    make_user(username="somchai")
    b = Browser(app)
    response = b.post("auth.login", {"username": "somchai", "password": PASSWORD, "remember": "y"})
    (header,) = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(REMEMBER)]
    expires = parsedate_to_datetime(header.split("Expires=")[1].split(";")[0])
    assert abs((expires - now_utc()).total_seconds() - 12 * 3600) < 60


def test_cookies_from_before_logins_carried_their_time_are_simply_logged_out(app, make_user):
    user = make_user(username="somchai")
    old_id = f"{user.id}.{user.session_version}"  # '<id>.<version>', as issued until now
    b = Browser(app)
    write_session(b, {"_user_id": old_id, "_fresh": True, "seen": int(time.time())})
    response = b.get("auth.index")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    remembered = Browser(app)
    remembered.client.set_cookie(REMEMBER, remember_cookie(app, old_id), path=PREFIX)
    response = remembered.get("auth.index")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert remembered.get("auth.login").status_code == 200
    assert remembered.login("somchai").status_code == 302


def log_out(app, victim, user, admin):
    return victim.post("auth.logout")


def change_password(app, victim, user, admin):
    new = "รหัสใหม่-2570"
    return victim.post("auth.change_password", {"current": PASSWORD, "new": new, "confirm": new})


def reset_by_admin(app, victim, user, admin):
    return admin.post("auth.reset_password", {"new": "ตั้งใหม่-1234"}, user_id=user.id)


def deactivate(app, victim, user, admin):
    return admin.post("auth.set_active", {"active": "0"}, user_id=user.id)


@pytest.mark.parametrize("ending", [log_out, change_password, reset_by_admin, deactivate])
def test_copies_of_both_cookies_stop_working(app, login_as, make_user, ending):
    user = make_user(username="somchai")
    admin = login_as(make_user(admin=True))
    victim = login_remembered(app, "somchai")
    both, remembered = Browser(app), Browser(app)
    for thief, names in ((both, (SESSION, REMEMBER)), (remembered, (REMEMBER,))):
        for name in names:
            thief.client.set_cookie(name, victim.cookie(name).value, path=PREFIX)
        assert thief.get("auth.index").status_code == 200
    assert ending(app, victim, user, admin).status_code == 302
    for thief in (both, remembered):
        response = thief.get("auth.index")
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    db.session.expire_all()
    assert db.session.get(User, user.id).session_version == 2


class ProxiedBrowser(Browser):
    """Requests as nginx forwards them: from its address, with X-Forwarded-* headers."""

    def __init__(self, app, address, headers):
        super().__init__(app)
        self.address, self.headers = address, headers

    def open(self, *args, headers=None, **kwargs):
        return super().open(*args, headers={**self.headers, **(headers or {})}, **kwargs)


def login_cookies(b: Browser) -> dict[str, str]:
    response = b.post("auth.login", {"username": "somchai", "password": PASSWORD, "remember": "y"})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    headers = response.headers.getlist("Set-Cookie")
    return {
        name: next(h for h in headers if h.startswith(name + "=")) for name in (SESSION, REMEMBER)
    }


HTTPS = {
    "X-Forwarded-For": "192.0.2.10",
    "X-Forwarded-Proto": "https",
    # Flask-WTF checks an HTTPS form's Referer against the host.
    "Referer": f"https://localhost{PREFIX}/login",
}


def test_cookies_are_httponly_lax_and_secure_only_over_https(make_app, make_user):
    app = make_app(TRUSTED_PROXIES="127.0.0.1")
    make_user(username="somchai")
    over_https = login_cookies(ProxiedBrowser(app, "127.0.0.1", HTTPS))
    plain = login_cookies(Browser(app))
    # Someone else claiming HTTPS is not believed: their cookies would not be sent back.
    spoofed = login_cookies(ProxiedBrowser(app, "198.51.100.9", {"X-Forwarded-Proto": "https"}))
    for cookies in (over_https, plain, spoofed):
        for header in cookies.values():
            assert "; HttpOnly" in header and "; SameSite=Lax" in header
    assert all("; Secure" in h for h in over_https.values())
    assert not any("; Secure" in h for h in (*plain.values(), *spoofed.values()))


def test_token_mode_logins_end_when_idle_too(make_app):
    secret = secrets.token_urlsafe(32)
    app = make_app(AUTH_MODE="token", HANDOFF_SECRET=secret)
    b = Browser(app)
    claims = {
        "purpose": "login",
        "user": "somchai",
        "name": "สมชาย ใจดี",
        "position": "กลุ่มนโยบายและแผน",
        "time": int(time.time()),
        "nonce": secrets.token_urlsafe(18),
    }
    link = f"{PREFIX}/handoff?{urlencode({'token': sign(claims, secret)})}"
    assert b.open(link).status_code == 302
    assert b.get("auth.index").status_code == 200
    age(b, idle_minutes=61)
    assert_sent_to_login_because_it_ended(b, b.get("auth.index"))
