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
    SESSION_COOKIE_SECURE = False  # set REPORTS_SESSION_COOKIE_SECURE=true behind HTTPS

    # A reporter may fill the attach form slowly at a deadline; an hour is too short.
    WTF_CSRF_TIME_LIMIT = 8 * 3600

    BABEL_DEFAULT_LOCALE = "th"
    BABEL_DEFAULT_TIMEZONE = "Asia/Bangkok"

    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    # Proxies in front of us (ProxyFix counts); 0 trusts no forwarded header at all.
    TRUSTED_PROXIES = 0
