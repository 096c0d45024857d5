"""Defaults for every setting; the environment (REPORTS_*) overrides them in create_app."""

import os

BASE_DIR = os.path.abspath(os.path.dirname(__file__))


class Config:
    # Production refuses to start without REPORTS_SECRET_KEY; development generates one.
    SECRET_KEY = None
    ENV_NAME = "development"
    # None means SQLite in the instance folder (resolved in create_app, which knows that folder).
    DATABASE_URL = None
    UPLOAD_DIR = os.path.join(BASE_DIR, "uploads")
    # Downloads sent by nginx rather than through a gunicorn worker: the internal location
    # nginx serves UPLOAD_DIR at, e.g. "/myoffice-reports-files/" (deploy/nginx/myoffice.conf).
    # The app still checks who may download and records it; nginx only sends the bytes.
    # Empty: the app sends the file itself (any server, and `flask run`).
    X_ACCEL_REDIRECT = ""
    # Where a staff export waits between its preview and the admin's confirmation (a day at
    # most); None is imports/ in the instance folder.
    IMPORT_DIR = None
    URL_PREFIX = "/myoffice/reports"
    MAX_UPLOAD_MB = 50
    PER_PAGE = 50

    # The portal around us owns `session` at Path=/; ours must neither read nor clobber it.
    SESSION_COOKIE_NAME = "myoffice_reports_session"
    REMEMBER_COOKIE_NAME = "myoffice_reports_remember"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # Over HTTPS the cookies are marked Secure on their own (proxies.secure_cookies_over_https);
    # true forces it for a site that is only ever served over HTTPS.
    SESSION_COOKIE_SECURE = False

    # Logins (local and token modes) end after this long without a request, and in any case
    # this long after the password was typed; "remember me" skips only the idle limit.
    SESSION_IDLE_MINUTES = 60
    SESSION_MAX_HOURS = 12

    # Failed logins refused before the password is checked (throttle.py). Per account: a
    # guesser gets 5 tries per 15 minutes at one person's password, then waits 15 minutes.
    # Per address: higher, as a whole office may reach us through one NAT address.
    LOGIN_ACCOUNT_FAILURES = 5
    LOGIN_ACCOUNT_WINDOW_MINUTES = 15
    LOGIN_ACCOUNT_LOCK_MINUTES = 15
    LOGIN_ADDRESS_FAILURES = 30
    LOGIN_ADDRESS_WINDOW_MINUTES = 15
    LOGIN_ADDRESS_LOCK_MINUTES = 15
    # Where the counts live, shared by every worker: Redis if set ("redis://127.0.0.1:6379/2"),
    # else the database (also while Redis is down). Keys start with REDIS_PREFIX.
    REDIS_URL = None
    REDIS_PREFIX = "myoffice_reports:"

    # A reporter may fill the attach form slowly at a deadline; an hour is too short.
    WTF_CSRF_TIME_LIMIT = 8 * 3600

    BABEL_DEFAULT_LOCALE = "th"
    BABEL_DEFAULT_TIMEZONE = "Asia/Bangkok"

    # The look. Without PORTAL_LAYOUT our own layout echoes My Office's: the office's name,
    # and a top menu back to the portal at PORTAL_URL. PORTAL_LAYOUT is the path of a Jinja
    # template (see deploy/portal-layout/) that dresses every page in the portal's own header,
    # menu and footer; the templates next to it can be included from it as "portal/<name>".
    OFFICE_NAME = ""
    PORTAL_URL = "/myoffice/"
    PORTAL_LAYOUT = None
    # Sources added to our Content-Security-Policy, for a portal layout that loads its own
    # scripts, styles or fonts: "script-src https://cdn.example; font-src https://fonts.example".
    CSP_EXTRA = ""
    # A portal on another origin that shows this module inside its pages (a frame), e.g.
    # "https://portal.example.go.th" (several: comma-separated or a JSON list). Empty: only
    # pages of our own origin may frame us, as when the portal serves us at /myoffice/reports.
    PORTAL_ORIGINS = ""

    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    # Addresses or networks of the web servers in front of us ("127.0.0.1,::1"). Forwarded
    # headers, and X-Remote-User, count only when the connection itself comes from one of them.
    TRUSTED_PROXIES = ""
    # Host names the site answers to (a list); None accepts any, as in development.
    TRUSTED_HOSTS = None

    # Who the user is: "local" (our login page), "header" (X-Remote-User from the web server,
    # asked of the portal), "php-session" (the portal's PHP session) or "token" (a signed
    # one-time link from the portal's menu). See deploy/README.md.
    AUTH_MODE = "local"
    # Where the portal logs people in and out; our login and logout links lead there.
    PORTAL_LOGIN_URL = "/myoffice/"
    PORTAL_LOGOUT_URL = "/myoffice/"
    # header mode: the headers nginx sets (after asking the portal); values percent-encoded.
    AUTH_HEADER_USER = "X-Remote-User"
    AUTH_HEADER_NAME = "X-Remote-Name"
    AUTH_HEADER_POSITION = "X-Remote-Position"
    # php-session mode: where and how the portal's PHP keeps its sessions.
    PHP_SESSION_COOKIE = "PHPSESSID"
    PHP_SESSION_SAVE_HANDLER = "files"  # or "redis"
    PHP_SESSION_SAVE_PATH = "/var/lib/php/sessions"  # PHP's session.save_path ("N;/path" too)
    PHP_SESSION_REDIS_URL = "redis://127.0.0.1:6379/0"
    PHP_SESSION_REDIS_PREFIX = "PHPREDIS_SESSION:"
    PHP_SESSION_SERIALIZE_HANDLER = "php"  # PHP's session.serialize_handler
    PHP_SESSION_CHARSET = "utf-8"  # older Thai portals write tis-620
    # A session file untouched this long is one PHP's garbage collector may already have
    # deleted (session.gc_maxlifetime); 0 trusts any file that still exists.
    PHP_SESSION_MAX_AGE = 1440
    # $_SESSION keys; a dot reaches into an array, as in "user.login".
    PHP_SESSION_USER_KEY = "username"
    PHP_SESSION_NAME_KEY = "fullname"
    PHP_SESSION_POSITION_KEY = "position"
    # token mode: the secret shared with the portal, and how long a link stays usable.
    HANDOFF_SECRET = None
    HANDOFF_MAX_AGE = 60
    # token mode: the portal's link script (integrations/php/reports_link.php); the menu it
    # fetches from menu.html links through it, so a click signs the user in here.
    PORTAL_LINK_URL = "/myoffice/reports_link.php"

    # Email (flask send-notifications): off while SMTP_HOST is None. Each person's address is
    # <username>@SMTP_DOMAIN (the portal's usernames are the office mailboxes' names; the
    # User table keeps no address). PUBLIC_URL is where staff open the module, e.g.
    # "https://office.example/myoffice/reports": the links in the digest start with it.
    SMTP_HOST = None
    SMTP_PORT = 25
    SMTP_USER = None
    SMTP_PASSWORD = None
    SMTP_STARTTLS = False
    SMTP_FROM = None  # None: reports-noreply@SMTP_DOMAIN
    SMTP_TIMEOUT = 30
    SMTP_DOMAIN = None
    PUBLIC_URL = None
