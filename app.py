"""The application factory, read top to bottom like a table of contents."""

import contextlib
import os
import secrets
import time
from datetime import timedelta

from flask import Flask, current_app, g, redirect, render_template, request, session
from flask_babel import LazyString, get_locale, get_translations
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, user_loaded_from_cookie, user_logged_in
from flask_wtf.csrf import CSRFError
from jinja2 import ChoiceLoader, FileSystemLoader, PrefixLoader, pass_eval_context
from markupsafe import Markup
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException, SecurityError
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.routing import IntegerConverter

import permissions
import phpsession
from blueprints.auth import portal
from blueprints.send.services import STORAGE_FULL, STORAGE_FULL_MESSAGE
from config import BASE_DIR, Config
from csp import DOWNLOAD_POLICY, build_policy, frames_only_from_self, portal_origins
from errors import RuleError
from extensions import babel, csrf, db, login_manager, migrate
from language import LANGUAGES, chosen_language, fiscal_year_label, local_date, local_datetime
from models import User
from notifications import bell_count
from pagination import list_filters
from proxies import TrustedProxies, parse_networks
from storage import Storage, UploadRequest
from text import small_int
from thai import fiscal_year

MIGRATIONS_DIR = os.path.join(BASE_DIR, "migrations")


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.request_class = UploadRequest  # file parts stream into the upload folder (storage.py)
    configure(app, config)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_template_helpers(app)
    register_commands(app)
    app.before_request(permissions.enforce_access)
    app.after_request(set_security_headers)
    unmarked = permissions.unmarked_views(app)
    if unmarked:
        raise RuntimeError(f"views without @access (denied by default): {unmarked}")
    return app


def configure(app: Flask, config: dict | None) -> None:
    app.config.from_object(Config)
    app.config.from_prefixed_env("REPORTS")
    if config:
        app.config.update(config)
    os.makedirs(app.instance_path, exist_ok=True)

    url = app.config["DATABASE_URL"] or "sqlite:///" + os.path.join(
        app.instance_path, "reports.sqlite3"
    )
    app.config["SQLALCHEMY_DATABASE_URI"] = url

    prefix = "/" + app.config["URL_PREFIX"].strip("/")
    app.config["URL_PREFIX"] = prefix
    app.config["APPLICATION_ROOT"] = prefix
    app.config["SESSION_COOKIE_PATH"] = prefix
    app.config["REMEMBER_COOKIE_PATH"] = prefix
    # The year-long remember cookie travels only where the session cookie may.
    app.config.setdefault("REMEMBER_COOKIE_SECURE", app.config["SESSION_COOKIE_SECURE"])

    max_bytes = int(app.config["MAX_UPLOAD_MB"]) * 1024 * 1024
    app.config["MAX_UPLOAD_BYTES"] = max_bytes
    # The form fields around the file need a little room beyond the file itself.
    app.config["MAX_CONTENT_LENGTH"] = max_bytes + 64 * 1024
    app.config["UPLOAD_DIR"] = os.path.abspath(app.config["UPLOAD_DIR"])

    if not app.config["SECRET_KEY"]:
        if app.config["ENV_NAME"] == "production":
            raise RuntimeError("REPORTS_SECRET_KEY must be set in production")
        app.config["SECRET_KEY"] = development_secret(app.instance_path)

    check_auth_mode(app.config)
    check_x_accel_redirect(app.config)
    networks = parse_networks(app.config["TRUSTED_PROXIES"])
    identity_headers = tuple(
        app.config[key] for key in ("AUTH_HEADER_USER", "AUTH_HEADER_NAME", "AUTH_HEADER_POSITION")
    )
    app.wsgi_app = TrustedProxies(app.wsgi_app, networks, identity_headers)
    origins = portal_origins(app.config["PORTAL_ORIGINS"])
    policy = build_policy(app.config["CSP_EXTRA"], origins)
    app.config["CONTENT_SECURITY_POLICY"] = policy
    # Browsers that still read X-Frame-Options would refuse a portal on another origin.
    app.config["X_FRAME_OPTIONS"] = "SAMEORIGIN" if frames_only_from_self(policy) else None
    configure_layout(app)


PORTAL_LAYOUT_PREFIX = "portal"


def configure_layout(app: Flask) -> None:
    """The portal's layout, if given, is found beside our templates as 'portal/<name>'."""
    path = app.config["PORTAL_LAYOUT"]
    if not path:
        app.config["LAYOUT_TEMPLATE"] = "base.html"
        return
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise RuntimeError(f"REPORTS_PORTAL_LAYOUT: no such template file: {path}")
    folder, name = os.path.split(path)
    # Under a prefix, so a portal file can never stand in for one of our own templates.
    app.jinja_loader = ChoiceLoader(
        [
            FileSystemLoader(os.path.join(app.root_path, app.template_folder)),
            PrefixLoader({PORTAL_LAYOUT_PREFIX: FileSystemLoader(folder)}),
        ]
    )
    app.config["LAYOUT_TEMPLATE"] = f"{PORTAL_LAYOUT_PREFIX}/{name}"


AUTH_MODES = ("local", "header", "php-session", "token")


def check_auth_mode(config) -> None:
    """A mode that cannot work safely refuses to start, rather than letting everyone in."""
    mode = config["AUTH_MODE"]
    if mode not in AUTH_MODES:
        raise RuntimeError(f"REPORTS_AUTH_MODE must be one of {', '.join(AUTH_MODES)}")
    if mode == "header" and not parse_networks(config["TRUSTED_PROXIES"]):
        raise RuntimeError("header mode needs REPORTS_TRUSTED_PROXIES (the nginx address)")
    if mode == "token" and len(config["HANDOFF_SECRET"] or "") < 32:
        raise RuntimeError("token mode needs REPORTS_HANDOFF_SECRET of at least 32 characters")
    if mode == "php-session":
        if config["PHP_SESSION_SERIALIZE_HANDLER"] not in phpsession.HANDLERS:
            raise RuntimeError(
                f"REPORTS_PHP_SESSION_SERIALIZE_HANDLER must be one of {phpsession.HANDLERS}"
            )
        if config["PHP_SESSION_SAVE_HANDLER"] not in ("files", "redis"):
            raise RuntimeError("REPORTS_PHP_SESSION_SAVE_HANDLER must be files or redis")


def check_x_accel_redirect(config) -> None:
    """The prefix nginx's internal location answers at: "/myoffice-reports-files/"."""
    prefix = config["X_ACCEL_REDIRECT"] or ""
    if not prefix:
        config["X_ACCEL_REDIRECT"] = ""
        return
    if (
        not isinstance(prefix, str)
        or not prefix.startswith("/")
        or not prefix.endswith("/")
        or len(prefix) < 3
        or not all(c.isascii() and c.isprintable() and not c.isspace() for c in prefix)
        or any(c in prefix for c in "?#%")
    ):
        raise RuntimeError(
            "REPORTS_X_ACCEL_REDIRECT must be nginx's internal location for the upload folder, "
            f'starting and ending with "/" and without spaces, e.g. "/myoffice-reports-files/" '
            f"(got {prefix!r}); leave it empty to send files from the app"
        )


def development_secret(instance_path: str) -> str:
    """A per-checkout key kept in the instance folder, so restarts keep people logged in."""
    path = os.path.join(instance_path, "secret_key")
    if not os.path.exists(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    with open(path) as f:
        return f.read().strip()


class IdConverter(IntegerConverter):
    """Row ids only: an id beyond the database's INTEGER is a 404, not a driver error."""

    def __init__(self, map, **kwargs):
        super().__init__(map, min=1, max=2**31 - 1, **kwargs)


def register_extensions(app: Flask) -> None:
    app.url_map.converters["id"] = IdConverter
    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            tune_sqlite(db.engine)
    migrate.init_app(
        app,
        db,
        directory=MIGRATIONS_DIR,
        render_as_batch=app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"),
    )
    csrf.init_app(app)  # every POST of every blueprint; views do not re-check
    app.extensions["reports_storage"] = Storage(
        app.config["UPLOAD_DIR"], app.config["MAX_UPLOAD_BYTES"]
    )
    babel.init_app(app, locale_selector=chosen_language, timezone_selector=lambda: "Asia/Bangkok")
    # Flask-Babel's own template callables look the catalogue up anew on every {{ _() }}
    # (rebuilding the locale's name each time): a third of a long list's rendering.
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: request_translations().ugettext(s),
        ngettext=lambda s, p, n: request_translations().ungettext(s, p, n),
        newstyle=True,
    )
    app.jinja_env.globals["_"] = template_gettext

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = LazyString(login_message)
    login_manager.login_message_category = "warning"
    login_manager.session_protection = "basic"
    login_manager.user_loader(load_user)
    login_manager.request_loader(load_portal_user)
    register_session_lifetime(app)
    app.before_request(ask_portal_first)


def load_user(user_id: str) -> User | None:
    """The cookie holds '<id>.<session version>.<login time>': a bumped version means 'logged
    out', and a login older than SESSION_MAX_HOURS has ended, remembered or not."""
    if portal.per_request():
        return None  # the portal answers for each request; a cookie of ours proves nothing
    parts = user_id.split(".")
    if len(parts) != 3:
        return None  # a cookie from before logins carried their time: simply logged out
    uid, version = small_int(parts[0]), small_int(parts[1])
    if uid is None or version is None or not (parts[2].isascii() and parts[2].isdigit()):
        return None
    logged_in_at = int(parts[2])  # unix time: ten digits, beyond small_int
    if time.time() - logged_in_at > float(current_app.config["SESSION_MAX_HOURS"]) * 3600:
        g.session_ended = True
        session.pop("_user_id", None)
        session["_remember"] = "clear"  # Flask-Login skips the remember cookie and deletes it
        return None
    user = db.session.get(User, uid)
    if user is None or not user.active or user.session_version != version:
        return None
    user.logged_in_at = logged_in_at  # a cookie re-issued in this login keeps its start
    return user


LOGIN_FIRST = _l("กรุณาเข้าระบบก่อนใช้งาน")
SESSION_ENDED = _l("หมดเวลาการใช้งาน กรุณาเข้าระบบใหม่")
SEEN_KEY = "seen"  # in the session: unix time of the last request, to the minute


def login_message():
    return SESSION_ENDED if g.get("session_ended") else LOGIN_FIRST


def register_session_lifetime(app: Flask) -> None:
    """local and token modes: idle and absolute limits on our own login session.

    "Remember me" outlives only the idle limit: its cookie lasts SESSION_MAX_HOURS and
    carries the login's time, which load_user checks like the session's.
    """
    app.config["REMEMBER_COOKIE_DURATION"] = timedelta(hours=float(app.config["SESSION_MAX_HOURS"]))
    user_logged_in.connect(stamp_seen, app)
    user_loaded_from_cookie.connect(stamp_seen, app)
    app.before_request(end_idle_session)  # after CSRF's check, which needs the session's token


def stamp_seen(_app, **_kwargs):
    session[SEEN_KEY] = int(time.time())


def end_idle_session():
    """A login left alone longer than SESSION_IDLE_MINUTES ends before anything reads it.

    Only the login goes: the language, a staff import's preview and the form token stay, so a
    form sent after the timeout leads to the login page (not a "form expired" error), and a
    remembered login that comes straight back finds its session as it was.
    """
    if portal.per_request() or request.endpoint == "static" or "_user_id" not in session:
        return
    now = int(time.time())
    seen = session.get(SEEN_KEY)
    idle = float(current_app.config["SESSION_IDLE_MINUTES"]) * 60
    if not isinstance(seen, int) or now - seen > idle:
        for key in ("_user_id", "_fresh", "_id", SEEN_KEY):
            session.pop(key, None)
        g.session_ended = True
    elif now - seen >= 60:
        session[SEEN_KEY] = now  # at most once a minute: each change is a new cookie


def load_portal_user(_request) -> User | None:
    """header and php-session modes: the portal's answer for this very request."""
    if not portal.per_request():
        return None
    try:
        identity = portal.current_identity()
    except RuleError as error:
        g.portal_error = error  # raised in ask_portal_first, where an error page can render
        return None
    user = portal.sync_user(identity) if identity else None
    if identity and user is None:
        # The portal still knows them, but they left the office: say so, not "log in".
        g.portal_error = portal.AccountClosed()
    if user is not None and session.get("portal_user") != user.username:
        # Another person logged into the portal in this browser: nothing of the last
        # person's session (messages, form state) may carry over.
        session.clear()
        session["portal_user"] = user.username
    return user


def ask_portal_first():
    """Before the access check: settle who this is, or why the portal could not say."""
    if not portal.per_request() or request.endpoint == "static":
        return
    if request.blueprint == "menu":
        return  # the menu answers the portal's server in JSON or a fragment, never a page
    if current_app.config["REMEMBER_COOKIE_NAME"] in request.cookies:
        # A remember cookie from an earlier local login would hide the portal's answer.
        session["_remember"] = "clear"  # Flask-Login then ignores and deletes it
    if current_user.is_authenticated:  # asks the portal, once per request
        return
    error = g.pop("portal_error", None)
    if error is not None:
        raise error


def tune_sqlite(engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        # We issue BEGIN ourselves (below), so pysqlite must not.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn):
        # A write that starts as a reader can fail with SQLITE_BUSY without waiting; taking
        # the write lock up front makes concurrent writers queue on busy_timeout instead.
        from flask import current_app, has_request_context

        reading = (
            has_request_context()
            and request.method in ("GET", "HEAD", "OPTIONS")
            and not getattr(
                current_app.view_functions.get(request.endpoint), "writes_on_get", False
            )
        )
        conn.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")


def register_blueprints(app: Flask) -> None:
    from blueprints.audit import bp as audit_bp
    from blueprints.auth import bp as auth_bp
    from blueprints.indicators import bp as indicators_bp
    from blueprints.menu import bp as menu_bp
    from blueprints.notifications import bp as notifications_bp
    from blueprints.receive import bp as receive_bp
    from blueprints.roles import bp as roles_bp
    from blueprints.send import bp as send_bp
    from blueprints.years import bp as years_bp

    blueprints = (auth_bp, roles_bp, indicators_bp, send_bp, receive_bp, years_bp, audit_bp)
    for bp in (*blueprints, notifications_bp, menu_bp):
        app.register_blueprint(bp)


ERROR_MESSAGES = {
    400: _l("คำขอไม่ถูกต้อง กรุณาลองใหม่อีกครั้ง"),
    403: _l("คุณไม่มีสิทธิ์ใช้งานหน้านี้"),
    404: _l("ไม่พบหน้าหรือข้อมูลที่ต้องการ"),
    405: _l("ไม่สามารถดำเนินการด้วยวิธีนี้ได้"),
    413: _l("ไฟล์มีขนาดใหญ่เกินกำหนด"),
    503: _l("ระบบไม่พร้อมให้บริการชั่วคราว"),
    507: STORAGE_FULL_MESSAGE,
    500: _l("ระบบขัดข้อง กรุณาลองใหม่อีกครั้ง หากยังพบปัญหาโปรดแจ้งผู้ดูแลระบบ"),
}


def register_errorhandlers(app: Flask) -> None:
    def render_error(code: int, detail: str | None = None):
        fallback = ERROR_MESSAGES[500 if code >= 500 else 400]
        message = str(ERROR_MESSAGES.get(code, fallback))
        if code == 413:
            detail = _(
                "ขนาดไฟล์ต้องไม่เกิน %(mb)s MB กรุณาลดขนาดไฟล์แล้วส่งใหม่",
                mb=app.config["MAX_UPLOAD_MB"],
            )
        return render_template("error.html", code=code, message=message, detail=detail), code

    @app.errorhandler(CSRFError)
    def csrf_error(_error):
        return render_error(400, _("แบบฟอร์มหมดอายุหรือไม่ถูกต้อง กรุณาโหลดหน้าใหม่แล้วลองอีกครั้ง"))

    @app.errorhandler(SecurityError)
    def untrusted_host(_error):
        # No page (its links need the host we just refused): plain words, and a 400.
        body = str(ERROR_MESSAGES[400])
        return body, 400, {"Content-Type": "text/plain; charset=utf-8"}

    @app.errorhandler(RuleError)
    def rule_error(error):
        # Raised outside a route's own handling, e.g. while asking the portal who this is.
        db.session.rollback()
        return render_error(error.status, error.message)

    @app.errorhandler(HTTPException)
    def http_error(error):
        if error.code in (301, 302, 303, 307, 308):
            return error
        return render_error(error.code)

    @app.errorhandler(DBAPIError)
    def database_unavailable(error):
        # A connection dropped mid-request (a database restart, a killed backend): the
        # request's work is rolled back and its uploaded file removed by the service; the
        # pool (pool_pre_ping) gives the next request a live connection.
        # A server that refuses new connections (down, restarting) fails at connect, with
        # no statement.
        refused = isinstance(error, OperationalError) and error.statement is None
        if not (error.connection_invalidated or refused):
            raise error  # any other database error is a bug: the 500 handler reports it
        app.logger.error("database unavailable: %s", error.orig)
        with contextlib.suppress(Exception):  # the connection may be gone; that is the point
            db.session.rollback()
        try:
            detail = _("ฐานข้อมูลขัดข้องชั่วคราว กรุณาลองใหม่อีกครั้งในอีกสักครู่")
            if request.method not in ("GET", "HEAD"):
                detail += " " + _("สิ่งที่ส่งมาครั้งนี้อาจยังไม่ได้บันทึก กรุณาตรวจสอบแล้วส่งใหม่อีกครั้ง")
            return render_error(503, detail)
        except DBAPIError:
            # Still away: choosing the language, the menu and the bell all ask it. Plain
            # Thai words then, untranslated (the message ids above, as they are).
            with contextlib.suppress(Exception):
                db.session.rollback()
            text = "ฐานข้อมูลขัดข้องชั่วคราว กรุณาลองใหม่อีกครั้งในอีกสักครู่\n"
            if request.method not in ("GET", "HEAD"):
                text += "สิ่งที่ส่งมาครั้งนี้อาจยังไม่ได้บันทึก กรุณาตรวจสอบแล้วส่งใหม่อีกครั้ง\n"
            return text, 503, {"Content-Type": "text/plain; charset=utf-8"}

    @app.errorhandler(OSError)
    def storage_full(error):
        # A request's body is spooled to the temporary folder before any view runs (CSRF's
        # check reads the form): that disk filling up is the same fault as the upload
        # folder's, and only the administrator can fix it, so the words are the same.
        if error.errno not in STORAGE_FULL:
            raise error  # anything else is a bug: the 500 handler reports it
        app.logger.error("disk full: %s", error)
        db.session.rollback()
        return render_error(507)

    @app.errorhandler(500)
    def server_error(_error):
        # Whatever broke may have left the session unable even to roll back (a commit
        # interrupted halfway); the page must still be drawn.
        with contextlib.suppress(Exception):
            db.session.rollback()
        try:
            return render_error(500)
        except Exception:
            # The page asks the database too (menu, bell); plain Thai words then.
            app.logger.exception("the error page could not be drawn")
            text = str(ERROR_MESSAGES[500]) + "\n"
            return text, 500, {"Content-Type": "text/plain; charset=utf-8"}


def register_template_helpers(app: Flask) -> None:
    from menu import visible_menu

    app.jinja_env.filters["local_date"] = local_date
    app.jinja_env.filters["local_datetime"] = local_datetime
    app.jinja_env.filters["fiscal"] = fiscal_year_label
    app.jinja_env.globals["list_filters"] = list_filters
    app.jinja_env.globals["unread_notifications"] = lambda: bell_count(current_user)
    english_catalogue = os.path.join(
        app.root_path, "translations", "en", "LC_MESSAGES", "messages.mo"
    )
    # Offering English without its compiled catalogue would show the Thai under it.
    languages = LANGUAGES if os.path.exists(english_catalogue) else ("th",)
    if len(languages) < len(LANGUAGES):
        app.logger.warning("English is off: run `make` to compile translations/en")
    app.config["LANGUAGES"] = languages

    @app.context_processor
    def inject():
        return {
            "layout_template": app.config["LAYOUT_TEMPLATE"],
            "language": chosen_language(),
            "languages": languages,
            "menu": visible_menu(current_user) if current_user.is_authenticated else [],
            "current_fiscal_year": fiscal_year(),
            "max_upload_bytes": app.config["MAX_UPLOAD_BYTES"],
            "portal_login": portal.per_request(),
        }


def register_commands(app: Flask) -> None:
    from commands import (
        backup_command,
        create_user_command,
        import_staff_command,
        init_db_command,
        restore_command,
        seed_demo_command,
        send_notifications_command,
        send_reminders_command,
        set_admin_command,
        verify_files_command,
    )

    for command in (
        init_db_command,
        create_user_command,
        set_admin_command,
        seed_demo_command,
        import_staff_command,
        send_notifications_command,
        send_reminders_command,
        verify_files_command,
        backup_command,
        restore_command,
    ):
        app.cli.add_command(command)


def set_security_headers(response):
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if current_app.config["X_FRAME_OPTIONS"]:
        response.headers.setdefault("X-Frame-Options", current_app.config["X_FRAME_OPTIONS"])
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.headers.get("Content-Disposition", "").startswith("attachment"):
        # A document is the sender's bytes, not our page: whatever it claims to be, it
        # downloads, and should anything render it anyway it runs nothing.
        response.headers["Content-Security-Policy"] = DOWNLOAD_POLICY
    response.headers.setdefault(
        "Content-Security-Policy", current_app.config["CONTENT_SECURITY_POLICY"]
    )
    try:
        signed_in = bool(current_user and current_user.is_authenticated)
    except DBAPIError:
        signed_in = True  # the database is away (a 503): no telling, so no caching either
    if signed_in:
        # Pages with names and documents must not linger in shared office browsers' caches.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def request_translations():
    """The request's catalogue, looked up once per locale the request settles on.

    Kept in Flask-Babel's own per-context namespace, beside the locale it caches, and tied
    to that locale object: when the locale is chosen anew, so is the catalogue.
    """
    namespace = getattr(g, "_flask_babel", None)
    if namespace is not None:
        cached = getattr(namespace, "reports_translations", None)
        if cached is not None and cached[0] is getattr(namespace, "babel_locale", None):
            return cached[1]
    locale = get_locale()
    translations = get_translations()
    namespace = getattr(g, "_flask_babel", None)
    if namespace is not None and locale is not None:
        namespace.reports_translations = (locale, translations)
    return translations


@pass_eval_context
def template_gettext(eval_context, string, **variables):
    """{{ _("...") }}: what Jinja's newstyle gettext does, in one call instead of three."""
    translated = request_translations().ugettext(string)
    if eval_context.autoescape:
        translated = Markup(translated)  # noqa: S704  (our own catalogue; % escapes the variables)  # nosec B704
    # Always a format string, as in Jinja's newstyle gettext: "%%" means "%" with or without
    # variables.
    return translated % variables


def mount(app: Flask):
    """Serve the app under URL_PREFIX, the way the portal mounts it; '/' points there."""
    prefix = app.config["URL_PREFIX"]

    # Outside the app, so after_request never sees these; the same headers, by hand.
    headers = [
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
        ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
    ]

    def outside(environ, start_response):
        if environ.get("PATH_INFO", "/") in ("", "/"):
            response = redirect(prefix + "/")
            response.headers.extend(headers)
            return response(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8"), *headers])
        return [b"Not Found"]

    return DispatcherMiddleware(outside, {prefix: app})


def wsgi():
    """gunicorn 'app:wsgi()': production settings, refusing to start without a secret key."""
    return mount(create_app({"ENV_NAME": os.environ.get("REPORTS_ENV_NAME", "production")}))


if __name__ == "__main__":
    from werkzeug.serving import run_simple

    application = create_app()
    host = os.environ.get("REPORTS_HOST", "127.0.0.1")
    port = int(os.environ.get("REPORTS_PORT", "5000"))
    run_simple(host, port, mount(application), use_reloader=True, threaded=True)
