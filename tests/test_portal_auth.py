"""Logging in through the office portal: nginx's header, the portal's PHP session, signed links.

PHP sessions and tokens are made by the real PHP CLI (and integrations/php/reports_config.php),
so a change on either side that breaks the other shows here.
"""

import base64
import json
import os
import re
import secrets
import subprocess
import time
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from sqlalchemy import func, select

from blueprints.auth.portal import sign
from extensions import db
from models import AuditEntry, HandoffNonce, User
from tests.conftest import PASSWORD, Browser

IN_CI = os.environ.get("CI", "").lower() == "true"
REPO = Path(__file__).resolve().parent.parent
PHP_CONFIG = REPO / "integrations" / "php" / "reports_config.php"

NGINX = "127.0.0.1"
INDEX = "/myoffice/reports/"
LOGIN_PAGE = "/myoffice/reports/login"
SESSION_COOKIE = "myoffice_reports_session"
PORTAL_URLS = {
    "PORTAL_LOGIN_URL": "/myoffice/login.php",
    "PORTAL_LOGOUT_URL": "/myoffice/logout.php",
}
SECRET = secrets.token_urlsafe(32)
REDIS_URL = "redis://127.0.0.1:6379/15"
REDIS_SAVE_PATH = "tcp://127.0.0.1:6379?database=15"
REDIS_PREFIX = "PHPREDIS_SESSION:"

ASK_PORTAL = "กรุณาเข้าระบบที่พอร์ทัลของสำนักงาน"
BAD_LINK = "ลิงก์เข้าระบบไม่ถูกต้อง"
STORE_DOWN = "ตรวจสอบการเข้าสู่ระบบกับพอร์ทัลไม่ได้"
DEACTIVATED = "บัญชีนี้ถูกปิดการใช้งานแล้ว"
CHANGE_PASSWORD = "เปลี่ยนรหัสผ่าน"
SOMCHAI = "สมชาย ใจดี"
PLANNING = "กลุ่มนโยบายและแผน"
SOMCHAI_SESSION = (
    '$_SESSION["username"] = "somchai";'
    f' $_SESSION["fullname"] = "{SOMCHAI}";'
    f' $_SESSION["position"] = "{PLANNING}";'
)


class PortalBrowser(Browser):
    """A browser whose every request carries the given headers (nginx's, in header mode)."""

    def __init__(self, app, address=None, **headers):
        super().__init__(app)
        if address:
            self.address = address
        self.headers = headers

    def as_portal_user(self, username, name="", position=""):
        """What nginx sets after asking the portal: percent-encoded UTF-8."""
        self.headers = {
            "X-Remote-User": quote(username),
            "X-Remote-Name": quote(name),
            "X-Remote-Position": quote(position),
        }
        return self

    def open(self, *args, headers=None, **kwargs):
        return super().open(*args, headers={**self.headers, **(headers or {})}, **kwargs)


def behind_nginx(app, username=None, name="", position="", address=NGINX) -> PortalBrowser:
    b = PortalBrowser(app, address)
    return b.as_portal_user(username, name, position) if username else b


def text(response) -> str:
    return response.get_data(as_text=True)


def page_csrf(response) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', text(response)).group(1)


def assert_sent_to_login(response):
    assert response.status_code == 302, text(response)
    assert response.location.startswith(LOGIN_PAGE)


def session_of(b) -> dict:
    """What our session cookie holds, read as the app reads it."""
    serializer = b.app.session_interface.get_signing_serializer(b.app)
    return serializer.loads(b.cookie(SESSION_COOKIE).value)


def find_user(username) -> User | None:
    return db.session.scalar(select(User).where(User.username == username))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def audit_entries(action) -> list[AuditEntry]:
    return db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)).all()


# --- the real PHP CLI ----------------------------------------------------------------------


def run_php(php, script, *args, ini=None, env=None) -> str:
    command = [php]
    for key, value in (ini or {}).items():
        command += ["-d", f'{key}="{value}"']  # quoted: ';' starts an ini comment
    result = subprocess.run(
        [*command, "-r", script, "--", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=20,
        env=env,
        check=False,
    )
    assert result.returncode == 0 and not result.stderr, result.stderr
    return result.stdout


def portal_login(
    php, save_path, code=SOMCHAI_SESSION, handler="php", save_handler="files", sid=None
) -> str:
    """The portal's PHP logs someone in: a real session, stored where PHP stores it."""
    sid = sid or secrets.token_hex(16)
    run_php(
        php,
        f"session_id($argv[1]); session_start(); {code} session_write_close();",
        sid,
        ini={
            "session.save_handler": save_handler,
            "session.save_path": save_path,
            "session.serialize_handler": handler,
            "session.use_cookies": "0",
            "session.use_strict_mode": "0",
            "session.gc_probability": "0",
        },
    )
    return sid


def php_token(php, purpose, username, name="", position="", secret=SECRET) -> str:
    """A token made by the portal's own integrations/php/reports_config.php."""
    return run_php(
        php,
        "require $argv[1]; echo reports_token($argv[2], $argv[3], $argv[4], $argv[5]);",
        PHP_CONFIG,
        purpose,
        username,
        name,
        position,
        env={"PATH": os.environ.get("PATH", ""), "REPORTS_HANDOFF_SECRET": secret},
    )


# --- header mode ---------------------------------------------------------------------------


@pytest.fixture
def header_app(app, make_app):
    return make_app(AUTH_MODE="header", TRUSTED_PROXIES="127.0.0.1, ::1", **PORTAL_URLS)


@pytest.mark.parametrize("nginx", ["127.0.0.1", "::1", "::ffff:127.0.0.1"])
def test_header_user_sees_their_thai_name(header_app, nginx):
    """Coming through the office's nginx, the portal's user lands on the menu by name."""
    b = behind_nginx(header_app, "somchai", SOMCHAI, PLANNING, address=nginx)

    response = b.get(INDEX)

    assert response.status_code == 200
    assert SOMCHAI in text(response)


def test_header_first_visit_creates_general_staff_account(header_app):
    """Someone new from the portal becomes '-' staff, named as the portal names them."""
    b = behind_nginx(header_app, "somchai", SOMCHAI, PLANNING)

    assert b.get(INDEX).status_code == 200

    user = find_user("somchai")
    assert (user.full_name, user.position) == (SOMCHAI, PLANNING)
    assert user.reporter_status is None and not user.is_admin and user.active
    [entry] = audit_entries("account_from_portal")
    assert entry.actor_id == user.id and entry.object_id == user.id


def test_header_known_user_gets_the_portals_new_name_and_keeps_their_rights(header_app, make_user):
    """A renamed staff member shows the portal's new name; an admin stays admin."""
    make_user("สมชาย เก่า", username="somchai", position="กลุ่มอำนวยการ", admin=True)
    b = behind_nginx(header_app, "SomChai", SOMCHAI, PLANNING)  # any case, same person

    html = text(b.get(INDEX))

    assert SOMCHAI in html and "สมชาย เก่า" not in html
    assert "จัดการบัญชีผู้ใช้" in html  # the admin's menu
    assert count(User) == 1
    user = find_user("somchai")
    assert (user.full_name, user.position, user.is_admin) == (SOMCHAI, PLANNING, True)
    assert audit_entries("account_from_portal") == []


def test_header_deactivated_user_is_not_let_in(header_app, make_user):
    """Staff who left the office stay out even while the portal still knows them."""
    user = make_user(SOMCHAI, username="somchai")
    user.active = False
    db.session.commit()
    b = behind_nginx(header_app, "somchai", SOMCHAI)

    page = b.get(INDEX)
    assert page.status_code == 403
    assert "บัญชีนี้ถูกปิดการใช้งานแล้ว" in text(page)  # told why, not sent round to log in
    assert SOMCHAI not in text(page)


def test_header_from_an_untrusted_address_is_ignored(header_app):
    """X-Remote-User sent straight to gunicorn, not through nginx, logs nobody in."""
    b = behind_nginx(header_app, "somchai", SOMCHAI, address=Browser.address)

    assert_sent_to_login(b.get(INDEX))
    assert find_user("somchai") is None
    assert count(User) == 0


def test_without_the_header_the_login_page_points_to_the_portal(header_app):
    """Not logged in at the portal: a 401 page telling to log in there, with its link."""
    b = behind_nginx(header_app)

    response = b.get(INDEX, follow_redirects=True)

    assert response.status_code == 401
    html = text(response)
    assert ASK_PORTAL in html
    assert 'href="/myoffice/login.php"' in html
    assert 'name="password"' not in html  # no second login form of our own


@pytest.mark.parametrize(
    "raw_user",
    [
        quote("../x"),
        quote("a b"),
        "a" * 65,
        quote("<script>"),
        quote("somchai\nadmin"),
        "%FF%FE",  # not UTF-8 once decoded
        "%",
        # Would fold into "admin" or "kim" if cleaned or lower-cased before the check:
        quote("ad\u0085min"),
        quote("admin\u202e"),
        quote("\u212aim"),
        quote("สมชาย"),
    ],
)
def test_header_bad_username_is_refused(header_app, raw_user):
    """A username that could be a path, markup or two values is refused; no account appears."""
    b = PortalBrowser(header_app, NGINX, **{"X-Remote-User": raw_user})

    assert_sent_to_login(b.get(INDEX))
    assert count(User) == 0


def test_a_host_outside_trusted_hosts_is_a_400_not_a_crash(make_app):
    """REPORTS_TRUSTED_HOSTS: a request naming another host is refused plainly."""
    app = make_app(TRUSTED_HOSTS=["intranet.example.go.th"])
    b = Browser(app)

    refused = b.open(INDEX, headers={"Host": "evil.example"})
    welcome = b.open(INDEX, headers={"Host": "intranet.example.go.th"})

    assert refused.status_code == 400 and "คำขอไม่ถูกต้อง" in text(refused)
    assert welcome.status_code == 302  # to the login page


def test_header_longest_accepted_username_is_64_characters(header_app):
    """A 64-character login still works (the limit is the column's, not lower)."""
    b = behind_nginx(header_app, "a" * 64, SOMCHAI)

    assert b.get(INDEX).status_code == 200
    assert find_user("a" * 64) is not None


def test_local_login_form_logs_nobody_in_behind_the_portal(app, header_app, make_user):
    """Behind the portal, a valid password posted to our login page does not log in."""
    make_user(SOMCHAI, username="somchai")
    local = Browser(app)  # the same secret key, so its CSRF token is a valid one here
    token = local.csrf_token()
    b = behind_nginx(header_app)
    cookie = local.cookie(SESSION_COOKIE)
    b.client.set_cookie(SESSION_COOKIE, cookie.value, path=cookie.path)

    response = b.post(
        "auth.login",
        {"username": "somchai", "password": PASSWORD, "csrf_token": token},
        csrf=False,
    )

    assert response.status_code == 401
    assert ASK_PORTAL in text(response)
    assert_sent_to_login(b.get(INDEX))
    assert audit_entries("login") == []


def test_switching_portal_user_in_one_browser_shows_the_new_person_only(header_app, make_user):
    """The next person at a shared office PC sees their own name, not the last one's notes."""
    make_user("สมศรี ใจดี", username="officer", admin=True)
    leaver = make_user("วิไลวรรณ ทองดี", username="staff")
    b = behind_nginx(header_app, "officer", "สมศรี ใจดี")
    csrf = page_csrf(b.get(INDEX))
    # The officer's action leaves a message for their next page, which they never open.
    response = b.post(
        f"{INDEX}accounts/{leaver.id}/active", {"active": "0", "csrf_token": csrf}, csrf=False
    )
    assert response.status_code == 302
    assert "_flashes" in session_of(b)  # waiting to be shown on the next page

    b.as_portal_user("malee", "มาลี ศรีสุข")
    html = text(b.get(INDEX))

    assert "มาลี ศรีสุข" in html
    assert "สมศรี ใจดี" not in html
    assert "ปิดการใช้งานบัญชี" not in html  # the officer's message did not carry over
    assert "จัดการบัญชีผู้ใช้" not in html  # nor the officer's rights


def test_forwarded_for_from_nginx_is_the_address_in_the_audit_trail(header_app):
    """The audit trail records the staff member's PC, as nginx reports it."""
    b = behind_nginx(header_app, "somchai", SOMCHAI)

    assert b.open(INDEX, headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 200

    [entry] = audit_entries("account_from_portal")
    assert entry.ip == "203.0.113.7"


@pytest.mark.parametrize(
    "address, proto, secure",
    [(NGINX, "https", True), (NGINX, None, False), (Browser.address, "https", False)],
)
def test_session_cookie_is_secure_only_when_nginx_says_https(header_app, address, proto, secure):
    """Over HTTPS (as nginx reports it) the cookie never travels over plain HTTP again."""
    b = PortalBrowser(header_app, address)
    headers = {"X-Forwarded-Proto": proto} if proto else {}

    response = b.open(INDEX, headers=headers)

    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if SESSION_COOKIE in c]
    assert ("; Secure" in cookie) is secure


def test_session_cookie_is_secure_for_a_logged_in_portal_user_over_https(header_app):
    """The portal user's own session cookie is Secure when the site is reached over HTTPS."""
    b = behind_nginx(header_app, "somchai", SOMCHAI)

    response = b.open(INDEX, headers={"X-Forwarded-Proto": "https"})

    assert response.status_code == 200
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if SESSION_COOKIE in c]
    assert "; Secure" in cookie


# --- settings that refuse to start -------------------------------------------------------


@pytest.mark.parametrize(
    "settings",
    [
        {"AUTH_MODE": "ldap"},
        {"AUTH_MODE": "Header"},
        {"AUTH_MODE": "header"},
        {"AUTH_MODE": "header", "TRUSTED_PROXIES": ""},
        {"AUTH_MODE": "token"},
        {"AUTH_MODE": "token", "HANDOFF_SECRET": "x" * 31},
        {"AUTH_MODE": "php-session", "PHP_SESSION_SERIALIZE_HANDLER": "igbinary"},
        {"AUTH_MODE": "php-session", "PHP_SESSION_SAVE_HANDLER": "memcached"},
        {"TRUSTED_PROXIES": "127.0.0.1, nginx"},
        {"AUTH_MODE": "header", "TRUSTED_PROXIES": "10.0.0.0/33"},
    ],
    ids=lambda settings: ",".join(f"{k}={v}" for k, v in settings.items()),
)
def test_unsafe_settings_refuse_to_start(make_app, settings):
    """A mode that cannot work safely stops the server at start, not at a user's login."""
    with pytest.raises(RuntimeError):
        make_app(**settings)


def test_header_mode_with_only_separators_as_proxies_refuses_to_start(make_app):
    """A TRUSTED_PROXIES naming no address is as unusable as an empty one."""
    with pytest.raises(RuntimeError):
        make_app(AUTH_MODE="header", TRUSTED_PROXIES=" , ")


# --- php-session mode ----------------------------------------------------------------------


@pytest.fixture
def sessions_dir(tmp_path):
    path = tmp_path / "php-sessions"
    path.mkdir()
    return path


@pytest.fixture
def php_app(app, make_app, sessions_dir):
    def build(**overrides):
        settings = {
            "AUTH_MODE": "php-session",
            "PHP_SESSION_SAVE_HANDLER": "files",
            "PHP_SESSION_SAVE_PATH": str(sessions_dir),
            "PHP_SESSION_MAX_AGE": 1440,
            **PORTAL_URLS,
        }
        settings.update(overrides)
        return make_app(**settings)

    return build


def with_php_cookie(app, sid) -> Browser:
    """A browser holding the portal's PHPSESSID (Path=/, so it reaches the module too)."""
    b = Browser(app)
    b.client.set_cookie("PHPSESSID", sid)
    return b


@pytest.mark.parametrize("handler", ["php", "php_binary", "php_serialize"])
def test_php_session_user_sees_their_thai_name(php, php_app, sessions_dir, handler):
    """Logged in at the portal, the user opens the module already logged in, by name."""
    sid = portal_login(php, sessions_dir, handler=handler)
    b = with_php_cookie(php_app(PHP_SESSION_SERIALIZE_HANDLER=handler), sid)

    response = b.get(INDEX)

    assert response.status_code == 200
    assert SOMCHAI in text(response)
    user = find_user("somchai")
    assert (user.full_name, user.position, user.reporter_status) == (SOMCHAI, PLANNING, None)


def test_php_session_nested_user_key(php, php_app, sessions_dir):
    """A portal keeping $_SESSION['user']['login'] works with 'user.login' settings."""
    code = '$_SESSION["user"] = ["login" => "malee", "name" => "มาลี ศรีสุข", "pos" => "ict"];'
    sid = portal_login(php, sessions_dir, code)
    app = php_app(
        PHP_SESSION_USER_KEY="user.login",
        PHP_SESSION_NAME_KEY="user.name",
        PHP_SESSION_POSITION_KEY="user.pos",
    )

    response = with_php_cookie(app, sid).get(INDEX)

    assert response.status_code == 200
    assert "มาลี ศรีสุข" in text(response)
    assert find_user("malee").position == "ict"


def test_php_session_numeric_login_is_accepted(php, php_app, sessions_dir):
    """A portal keeping staff numbers as PHP ints still logs them in."""
    sid = portal_login(php, sessions_dir, '$_SESSION["username"] = 10234;')

    assert with_php_cookie(php_app(), sid).get(INDEX).status_code == 200
    assert find_user("10234") is not None


@pytest.mark.parametrize("value", ["true", "[1, 2]", '""', "null"])
def test_php_session_login_that_is_not_a_name_is_refused(php, php_app, sessions_dir, value):
    """A session whose 'username' is a boolean, an array or empty logs nobody in."""
    sid = portal_login(php, sessions_dir, f'$_SESSION["username"] = {value};')

    assert_sent_to_login(with_php_cookie(php_app(), sid).get(INDEX))
    assert count(User) == 0


def test_portal_logout_ends_access_at_once(php, php_app, sessions_dir):
    """Logging out of the portal (its session file gone) locks the module on the next click."""
    sid = portal_login(php, sessions_dir)
    b = with_php_cookie(php_app(), sid)
    assert b.get(INDEX).status_code == 200

    (sessions_dir / f"sess_{sid}").unlink()

    assert_sent_to_login(b.get(INDEX))
    response = b.get(LOGIN_PAGE)
    assert response.status_code == 401 and ASK_PORTAL in text(response)


def outside_session(tmp_path, php, sessions_dir) -> str:
    """A valid session in another folder, and a cookie that would reach it by traversal."""
    outside = tmp_path / "outside"
    outside.mkdir()
    planted = portal_login(php, outside)
    (sessions_dir / "sess_x").mkdir()
    sid = f"x/../../outside/sess_{planted}"
    assert (sessions_dir / f"sess_{sid}").is_file()  # the path does lead to it
    return sid


@pytest.mark.parametrize(
    "sid",
    ["traversal", "a" * 21, "a" * 257, "a" * 22 + ".", "a" * 22 + "~", "a" * 22 + "%41"],
)
def test_php_session_id_of_the_wrong_shape_is_refused(php, php_app, sessions_dir, tmp_path, sid):
    """A forged PHPSESSID is never a file name, even when a valid session waits there."""
    if sid == "traversal":
        sid = outside_session(tmp_path, php, sessions_dir)
    elif len(sid) < 250:  # a longer name cannot exist on disk at all
        # A valid session under exactly that name, so only the id check can refuse it.
        real = portal_login(php, sessions_dir)
        (sessions_dir / f"sess_{real}").rename(sessions_dir / f"sess_{sid}")

    assert_sent_to_login(with_php_cookie(php_app(), sid).get(INDEX))
    assert count(User) == 0


@pytest.mark.parametrize("mode", [0o640, 0o644])
def test_php_session_file_others_could_have_written_is_refused(php, php_app, sessions_dir, mode):
    """Anyone may create files in PHP's session folder: only a 0600 file of ours counts."""
    sid = portal_login(php, sessions_dir)
    os.chmod(os.path.join(sessions_dir, f"sess_{sid}"), mode)

    response = with_php_cookie(php_app(), sid).get(INDEX)

    assert response.status_code == 503 and STORE_DOWN in text(response)
    assert count(User) == 0


def test_php_session_holding_an_object_is_refused(php, php_app, sessions_dir):
    """A session with a PHP object in it is not half-read: nobody is logged in."""
    code = '$_SESSION["username"] = "somchai"; $_SESSION["obj"] = new ArrayObject([1]);'
    sid = portal_login(php, sessions_dir, code)
    assert b"ArrayObject" in (sessions_dir / f"sess_{sid}").read_bytes()

    assert_sent_to_login(with_php_cookie(php_app(), sid).get(INDEX))
    assert count(User) == 0


def test_php_session_older_than_max_age_is_refused(php, php_app, sessions_dir):
    """A session PHP's garbage collector may already have removed no longer logs in."""
    sid = portal_login(php, sessions_dir)
    old = time.time() - 1500
    os.utime(sessions_dir / f"sess_{sid}", (old, old))

    assert_sent_to_login(with_php_cookie(php_app(PHP_SESSION_MAX_AGE=1440), sid).get(INDEX))
    assert count(User) == 0


def test_php_session_symlink_is_not_followed(php, php_app, sessions_dir):
    """A symlink planted as a session file gives a 'try again' page, never a login."""
    real = portal_login(php, sessions_dir)
    planted = secrets.token_hex(16)
    os.symlink(sessions_dir / f"sess_{real}", sessions_dir / f"sess_{planted}")

    response = with_php_cookie(php_app(), planted).get(INDEX)

    assert response.status_code == 503
    assert STORE_DOWN in text(response)
    assert SOMCHAI not in text(response)
    assert count(User) == 0


def test_php_session_directory_planted_as_a_session_is_not_a_crash(php_app, sessions_dir):
    """A folder named like a session file is answered like a symlink, not with a crash."""
    planted = secrets.token_hex(16)
    (sessions_dir / f"sess_{planted}").mkdir()

    response = with_php_cookie(php_app(), planted).get(INDEX)

    assert response.status_code in (401, 302, 503)
    assert count(User) == 0


def test_php_session_in_another_charset_is_not_a_crash(php, php_app, sessions_dir):
    """A TIS-620 portal left on the default utf-8 setting gives a page, not a crash."""
    code = (
        '$_SESSION["username"] = "somchai";'
        ' $_SESSION["fullname"] = iconv("UTF-8", "TIS-620", "สมชาย ใจดี");'
    )
    sid = portal_login(php, sessions_dir, code)

    response = with_php_cookie(php_app(), sid).get(INDEX)

    assert response.status_code < 500


def test_php_session_in_tis620_with_the_charset_set_shows_thai(php, php_app, sessions_dir):
    """An older TIS-620 portal, with PHP_SESSION_CHARSET set, shows the right Thai name."""
    code = (
        '$_SESSION["username"] = "somchai";'
        ' $_SESSION["fullname"] = iconv("UTF-8", "TIS-620", "สมชาย ใจดี");'
    )
    sid = portal_login(php, sessions_dir, code)

    response = with_php_cookie(php_app(PHP_SESSION_CHARSET="tis-620"), sid).get(INDEX)

    assert response.status_code == 200
    assert SOMCHAI in text(response)


@pytest.fixture
def redis_sessions(php):
    """Redis database 15 with phpredis; the keys made here are deleted afterwards."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        if IN_CI:
            raise
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {error}")
    if "redis" not in run_php(php, 'echo implode(",", get_loaded_extensions());').split(","):
        if IN_CI:
            pytest.fail("php-redis is not installed")
        pytest.skip("php-redis is not installed")
    sids = []
    yield client, sids
    if sids:
        client.delete(*(REDIS_PREFIX + sid for sid in sids))
    client.close()


def test_php_session_in_redis_logs_in_and_out(php, php_app, redis_sessions):
    """A portal keeping sessions in Redis: logged in there, logged in here; out there, out here."""
    client, sids = redis_sessions
    sid = secrets.token_hex(16)
    sids.append(sid)
    portal_login(php, REDIS_SAVE_PATH, save_handler="redis", sid=sid)
    app = php_app(PHP_SESSION_SAVE_HANDLER="redis", PHP_SESSION_REDIS_URL=REDIS_URL)
    b = with_php_cookie(app, sid)

    response = b.get(INDEX)
    assert response.status_code == 200
    assert SOMCHAI in text(response)

    client.delete(REDIS_PREFIX + sid)  # the portal's logout
    assert_sent_to_login(b.get(INDEX))


def test_unreachable_redis_is_a_temporary_error_not_a_crash(php_app):
    """Redis down: a Thai 'try again shortly' page (503), not a 500 or a login page."""
    app = php_app(PHP_SESSION_SAVE_HANDLER="redis", PHP_SESSION_REDIS_URL="redis://127.0.0.1:1/0")
    b = with_php_cookie(app, secrets.token_hex(16))

    response = b.get(INDEX)

    assert response.status_code == 503
    assert STORE_DOWN in text(response)
    assert count(User) == 0


# --- what per-request modes offer --------------------------------------------------------


@pytest.fixture(params=["header", "php-session"])
def portal_user_browser(request, make_user, header_app, php_app, sessions_dir):
    """somchai, who also has a password here, logged in through the portal in each mode."""
    make_user(SOMCHAI, username="somchai")
    if request.param == "header":
        return behind_nginx(header_app, "somchai", SOMCHAI)
    php = request.getfixturevalue("php")
    return with_php_cookie(php_app(), portal_login(php, sessions_dir))


def test_portal_user_is_not_offered_a_password_change(portal_user_browser):
    """Passwords are the portal's: no menu entry here, and the page itself is not found."""
    b = portal_user_browser
    html = text(b.get(INDEX))

    assert SOMCHAI in html
    assert CHANGE_PASSWORD not in html
    assert b.get("auth.change_password").status_code == 404


def test_portal_user_logs_out_at_the_portal(portal_user_browser):
    """The logout link leads to the portal's logout, which ends the login everywhere."""
    b = portal_user_browser
    response = b.get(INDEX)

    assert 'href="/myoffice/logout.php"' in text(response)
    logout = b.post("auth.logout", {"csrf_token": page_csrf(response)}, csrf=False)
    assert logout.status_code == 302
    assert logout.location == "/myoffice/logout.php"


# --- token mode ----------------------------------------------------------------------------


@pytest.fixture
def token_app(app, make_app):
    return make_app(AUTH_MODE="token", HANDOFF_SECRET=SECRET, TRUSTED_PROXIES=NGINX)


def handoff(b, token, headers=None, **params):
    query = urlencode({"token": token, **params})
    return b.open(f"{INDEX}handoff?{query}", headers=headers or {})


def claims(**changes) -> dict:
    """Login claims as the portal makes them; a callable value is called, ... drops a key."""
    convert = changes.pop("as", None)
    base = {
        "purpose": "login",
        "user": "somchai",
        "name": SOMCHAI,
        "position": PLANNING,
        "time": int(time.time()),
        "nonce": secrets.token_urlsafe(18),
    }
    base.update({k: v() if callable(v) else v for k, v in changes.items()})
    if convert:
        base["time"] = convert(base["time"])
    return {k: v for k, v in base.items() if v is not ...}


def assert_refused_link(response):
    assert response.status_code == 403, text(response)
    assert BAD_LINK in text(response)


def test_portal_link_logs_the_user_in(php, token_app):
    """The portal's menu link opens the module logged in, by the portal's name."""
    b = Browser(token_app)

    response = handoff(b, php_token(php, "login", "somchai", SOMCHAI, PLANNING))

    assert response.status_code == 302
    assert response.location == INDEX
    html = text(b.get(INDEX))
    assert SOMCHAI in html
    assert CHANGE_PASSWORD not in html  # the password is the portal's
    user = find_user("somchai")
    assert (user.full_name, user.position, user.reporter_status) == (SOMCHAI, PLANNING, None)
    assert [e.actor_id for e in audit_entries("login")] == [user.id]


def test_portal_link_goes_on_to_the_page_asked_for(php, token_app):
    """A menu item for one page of the module lands on that page."""
    token = php_token(php, "login", "somchai", SOMCHAI)

    response = handoff(Browser(token_app), token, next="/myoffice/reports/send/")

    assert response.location == "/myoffice/reports/send/"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/myoffice/other/", "/\\evil.example"]
)
def test_portal_link_never_goes_on_to_another_site(php, token_app, target):
    """A link's next= pointing outside the module lands on the module's own menu."""
    token = php_token(php, "login", "somchai", SOMCHAI)

    response = handoff(Browser(token_app), token, next=target)

    assert response.status_code == 302
    assert response.location == INDEX


def test_portal_link_works_once(php, token_app):
    """A link copied from the history or a proxy log does not log anyone in again."""
    token = php_token(php, "login", "somchai", SOMCHAI)
    assert handoff(Browser(token_app), token).status_code == 302
    thief = Browser(token_app)

    assert_refused_link(handoff(thief, token))
    assert_sent_to_login(thief.get(INDEX))


def tamper_payload(token):
    payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["user"] = "officer"
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return forged + "." + signature


def tamper_signature(token):
    payload, signature = token.split(".")
    flipped = "A" if signature[0] != "A" else "B"
    return payload + "." + flipped + signature[1:]


@pytest.mark.parametrize(
    "forge",
    [
        tamper_payload,
        tamper_signature,
        lambda token: token.split(".")[0],  # signature dropped
        lambda token: token.split(".")[0] + ".",
        lambda token: token + ".x",
        lambda token: "",
        lambda token: "x" * 5000,
        lambda token: token.replace(".", ".é"),
    ],
    ids=[
        "payload",
        "signature",
        "no-signature",
        "empty-signature",
        "three-parts",
        "empty",
        "huge",
        "non-ascii",
    ],
)
def test_tampered_link_is_refused(php, token_app, forge):
    """Changing any part of a link makes it worthless; nobody is logged in or created."""
    token = forge(php_token(php, "login", "somchai", SOMCHAI))
    b = Browser(token_app)

    assert_refused_link(handoff(b, token))
    assert_sent_to_login(b.get(INDEX))
    assert count(User) == 0


def now_plus(seconds):
    return lambda: int(time.time()) + seconds


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"time": now_plus(-120)}, id="expired"),  # HANDOFF_MAX_AGE is 60 s
        pytest.param({"time": now_plus(3600)}, id="future"),  # beyond the clock skew
        pytest.param({"time": True}, id="time-bool"),
        pytest.param({"time": now_plus(0), "as": str}, id="time-string"),
        pytest.param({"time": now_plus(0), "as": float}, id="time-float"),
        pytest.param({"time": ...}, id="no-time"),
        pytest.param({"purpose": "logout"}, id="logout-purpose"),
        pytest.param({"purpose": ...}, id="no-purpose"),
        pytest.param({"nonce": "short"}, id="short-nonce"),
        pytest.param({"nonce": "has spaces in it, sixteen+"}, id="nonce-chars"),
        pytest.param({"nonce": 12345678901234567890}, id="nonce-number"),
        pytest.param({"nonce": ...}, id="no-nonce"),
        pytest.param({"user": "../x"}, id="user-path"),
        pytest.param({"user": "a b"}, id="user-space"),
        pytest.param({"user": ...}, id="no-user"),
    ],
)
def test_link_with_wrong_claims_is_refused(token_app, changes):
    """Expired, future, wrong-purpose or malformed links are refused; nothing is created."""
    b = Browser(token_app)

    assert_refused_link(handoff(b, sign(claims(**changes), SECRET)))
    assert_sent_to_login(b.get(INDEX))
    assert count(User) == 0


def test_link_signed_with_another_secret_is_refused(token_app):
    """A link made without the shared secret logs nobody in."""
    b = Browser(token_app)

    assert_refused_link(handoff(b, sign(claims(), secrets.token_urlsafe(32))))
    assert count(User) == 0
    assert count(HandoffNonce) == 0


def test_link_a_few_seconds_ahead_is_accepted(token_app):
    """A portal whose clock runs a little fast still works."""
    token = sign(claims(time=int(time.time()) + 10), SECRET)

    assert handoff(Browser(token_app), token).status_code == 302


def test_portal_logout_token_is_not_a_login(php, token_app):
    """The portal's logout call, replayed as a link, does not log anyone in."""
    b = Browser(token_app)

    assert_refused_link(handoff(b, php_token(php, "logout", "somchai")))
    assert count(User) == 0


def test_link_to_a_deactivated_account_is_refused(php, token_app, make_user):
    """Staff who left the office are told their account is closed."""
    user = make_user(SOMCHAI, username="somchai")
    user.active = False
    db.session.commit()
    b = Browser(token_app)

    response = handoff(b, php_token(php, "login", "somchai", SOMCHAI))

    assert response.status_code == 403
    assert DEACTIVATED in text(response)
    assert_sent_to_login(b.get(INDEX))


def test_link_planted_on_another_site_is_refused_and_stays_usable(php, token_app):
    """A cross-site link cannot log a victim in; the portal's own click still can."""
    token = php_token(php, "login", "somchai", SOMCHAI)
    b = Browser(token_app)

    assert_refused_link(handoff(b, token, {"Sec-Fetch-Site": "cross-site"}))
    assert_sent_to_login(b.get(INDEX))
    assert count(User) == 0

    assert handoff(b, token, {"Sec-Fetch-Site": "same-origin"}).status_code == 302
    assert SOMCHAI in text(b.get(INDEX))


@pytest.mark.parametrize(
    "address, forwarded, recorded",
    [(NGINX, "203.0.113.9", "203.0.113.9"), (Browser.address, "203.0.113.9", Browser.address)],
)
def test_audit_trail_believes_forwarded_for_only_from_nginx(
    php, token_app, address, forwarded, recorded
):
    """The login's address is the PC nginx names, or the real peer if nginx was bypassed."""
    b = PortalBrowser(token_app, address)

    handoff(b, php_token(php, "login", "somchai", SOMCHAI), {"X-Forwarded-For": forwarded})

    assert [e.ip for e in audit_entries("account_from_portal")] == [recorded]
    assert [e.ip for e in audit_entries("login")] == [recorded]


def test_portal_logout_ends_the_session_here(php, token_app):
    """After logging out of the portal, the module's tab is logged out too."""
    user_browser = Browser(token_app)
    handoff(user_browser, php_token(php, "login", "somchai", SOMCHAI))
    assert SOMCHAI in text(user_browser.get(INDEX))
    portal_server = PortalBrowser(token_app, NGINX)

    response = portal_server.post(
        "auth.handoff_logout", {"token": php_token(php, "logout", "somchai")}, csrf=False
    )

    assert response.status_code == 200
    assert response.get_json() == {"ok": True, "ended": True}
    assert_sent_to_login(user_browser.get(INDEX))
    [entry] = audit_entries("logout")
    assert entry.actor_id == find_user("somchai").id


def test_portal_logout_of_someone_never_seen_is_harmless(php, token_app):
    """The portal's logout for a person who never opened the module changes nothing."""
    response = Browser(token_app).post(
        "auth.handoff_logout", {"token": php_token(php, "logout", "nobody")}, csrf=False
    )

    assert response.get_json() == {"ok": True, "ended": False}
    assert count(User) == 0


@pytest.mark.parametrize(
    "forge",
    [
        lambda php: sign(claims(purpose="logout", user="somchai"), secrets.token_urlsafe(32)),
        lambda php: php_token(php, "login", "somchai"),  # a login link is not a logout
        lambda php: tamper_signature(php_token(php, "logout", "somchai")),
        lambda php: "",
    ],
    ids=["other-secret", "login-token", "bad-signature", "empty"],
)
def test_forged_logout_call_does_not_end_the_session(php, token_app, forge):
    """Anyone else calling the logout address gets 403, and the user stays logged in."""
    user_browser = Browser(token_app)
    handoff(user_browser, php_token(php, "login", "somchai", SOMCHAI))

    response = Browser(token_app).post("auth.handoff_logout", {"token": forge(php)}, csrf=False)

    assert response.status_code == 403
    assert response.get_json()["ok"] is False
    assert SOMCHAI in text(user_browser.get(INDEX))
    assert audit_entries("logout") == []


def test_deeply_nested_unsigned_link_is_refused_not_a_crash(token_app):
    """A crafted link of nested brackets is refused like any other forged link."""
    payload = base64.urlsafe_b64encode(b"[" * 3000).rstrip(b"=").decode()

    assert_refused_link(handoff(Browser(token_app), payload + ".AAAA"))


def test_handoff_does_not_exist_in_local_mode(app):
    """With the module's own login, the portal's link and logout call are not found."""
    b = Browser(app)

    assert handoff(b, sign(claims(), SECRET)).status_code == 404
    response = b.post("auth.handoff_logout", {"token": "x"}, csrf=False)
    assert response.status_code == 404
