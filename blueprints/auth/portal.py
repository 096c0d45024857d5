"""Who the portal says the user is, in each REPORTS_AUTH_MODE, and nothing a browser can forge.

header:      nginx asks the portal (auth_request) and sets X-Remote-*; believed only on a
             connection from REPORTS_TRUSTED_PROXIES (proxies.TrustedProxies strips them
             from everyone else).
php-session: the portal's own $_SESSION, read from its files or Redis on every request, so
             logging out of the portal ends access here at once.
token:       a one-time link from the portal's menu, HMAC-SHA256 signed with a shared secret;
             the portal's logout calls a signed POST that ends the user's sessions here.
"""

import base64
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import unquote

from flask import current_app, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError, OperationalError

import audit
import phpsession
from errors import RuleError
from extensions import db
from models import HandoffNonce, User
from proxies import TRUSTED_KEY
from text import USERNAME, clean_text
from thai import now_utc

NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
UNUSABLE_PASSWORD = "!portal"  # noqa: S105  (not an argon2 hash: nothing ever matches it)  # nosec B105
CLOCK_SKEW = 30  # seconds a portal's clock may run ahead of ours


@dataclass(frozen=True)
class Identity:
    username: str
    full_name: str
    position: str


def mode() -> str:
    return current_app.config["AUTH_MODE"]


def per_request() -> bool:
    """header and php-session: the portal answers for every request; we keep no login."""
    return mode() in ("header", "php-session")


def make_identity(username, full_name, position) -> Identity | None:
    """The portal's values, cleaned; None for a username we will not accept."""
    username = str(username or "")
    if not USERNAME.fullmatch(username):
        return None
    username = username.lower()  # our usernames are case-insensitive, stored lower-cased
    full_name = clean_text(str(full_name or "")).strip()[:200] or username
    position = clean_text(str(position or "")).strip()[:200]
    return Identity(username, full_name, position)


def identity_from_headers() -> Identity | None:
    """X-Remote-* from nginx, percent-encoded UTF-8 (HTTP headers are Latin-1)."""
    if not request.environ.get(TRUSTED_KEY):
        return None  # already stripped by TrustedProxies; asserted here as well
    config = current_app.config
    raw = request.headers.get(config["AUTH_HEADER_USER"])
    if not raw:
        return None
    try:
        values = [
            unquote(request.headers.get(config[key], ""), errors="strict")
            for key in ("AUTH_HEADER_USER", "AUTH_HEADER_NAME", "AUTH_HEADER_POSITION")
        ]
    except UnicodeDecodeError:
        return None
    return make_identity(*values)


def session_store():
    """One store per app: Redis keeps its connection pool between requests."""
    store = current_app.extensions.get("reports_php_sessions")
    if store is None:
        config = current_app.config
        if config["PHP_SESSION_SAVE_HANDLER"] == "redis":
            store = phpsession.RedisStore(
                config["PHP_SESSION_REDIS_URL"], config["PHP_SESSION_REDIS_PREFIX"]
            )
        else:
            store = phpsession.FileStore(
                config["PHP_SESSION_SAVE_PATH"], int(config["PHP_SESSION_MAX_AGE"])
            )
        current_app.extensions["reports_php_sessions"] = store
    return store


def identity_from_php_session() -> Identity | None:
    config = current_app.config
    sid = request.cookies.get(config["PHP_SESSION_COOKIE"])
    if not phpsession.valid_session_id(sid):
        return None
    try:
        data = phpsession.read_session(
            session_store(),
            sid,
            config["PHP_SESSION_SERIALIZE_HANDLER"],
            config["PHP_SESSION_CHARSET"],
        )
    except phpsession.StoreUnavailable as error:
        current_app.logger.error("cannot read the portal's PHP session: %s", error)
        raise RuleError(
            _l("ตรวจสอบการเข้าสู่ระบบกับพอร์ทัลไม่ได้ในขณะนี้ กรุณาลองใหม่อีกครั้งในอีกสักครู่"),
            status=503,
        ) from None
    if data is None:
        return None
    values = [
        phpsession.lookup(data, config[key])
        for key in ("PHP_SESSION_USER_KEY", "PHP_SESSION_NAME_KEY", "PHP_SESSION_POSITION_KEY")
    ]
    if not isinstance(values[0], str | int) or isinstance(values[0], bool):
        return None
    values[1:] = [v if isinstance(v, str) else "" for v in values[1:]]
    return make_identity(*values)


def current_identity() -> Identity | None:
    if mode() == "header":
        return identity_from_headers()
    if mode() == "php-session":
        return identity_from_php_session()
    return None


ACCOUNT_CLOSED = _l("บัญชีนี้ถูกปิดการใช้งานแล้ว กรุณาติดต่อผู้ดูแลระบบ")


class AccountClosed(RuleError):
    """The portal still knows the person, but they left the office here."""

    def __init__(self):
        super().__init__(ACCOUNT_CLOSED, status=403)


def sync_user(identity: Identity) -> User | None:
    """The portal's user as ours: created as '-' staff the first time, name kept current.

    None for a deactivated account: leaving the office ends access even if the portal
    still knows the person.
    """
    user = _find(identity.username)
    if user is None:
        try:
            user = User(
                username=identity.username,
                full_name=identity.full_name,
                position=identity.position,
                password_hash=UNUSABLE_PASSWORD,
            )
            db.session.add(user)
            db.session.flush()
            audit.record(
                "account_from_portal",
                actor=user,
                obj=user,
                name=user.full_name,
                username=user.username,
            )
            db.session.commit()
        except (IntegrityError, OperationalError):
            # Two first requests at once (two tabs): the other one created the row.
            db.session.rollback()
            user = _find(identity.username)
            if user is None:
                raise
    elif (user.full_name, user.position) != (identity.full_name, identity.position):
        user.full_name, user.position = identity.full_name, identity.position
        db.session.commit()
    return user if user.active else None


def _find(username: str) -> User | None:
    return db.session.scalar(select(User).where(User.username == username))


# --- token mode ----------------------------------------------------------------------------


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign(claims: dict, secret: str) -> str:
    """'<payload>.<signature>', as integrations/php/reports_handoff.php makes it."""
    payload = _b64encode(json.dumps(claims, ensure_ascii=False).encode("utf-8"))
    mac = hmac.new(secret.encode("utf-8"), payload.encode("ascii"), hashlib.sha256).digest()
    return payload + "." + _b64encode(mac)


BAD_LINK = _l("ลิงก์เข้าระบบไม่ถูกต้อง หมดอายุ หรือถูกใช้ไปแล้ว กรุณากลับไปที่พอร์ทัลแล้วกดเมนูอีกครั้ง")


def verify(token: str | None, purpose: str, once: bool = True) -> dict:
    """The token's claims if it is ours, meant for this purpose, fresh, and never seen before.

    once=False for menu tokens: they travel only from the portal's server to ours, on every
    portal page, and only read a menu; a row per page view would buy nothing.

    Every failure gives the same answer, so a forger learns nothing about which check failed.
    """
    config = current_app.config
    secret = config["HANDOFF_SECRET"]
    refused = RuleError(BAD_LINK, status=403)
    if not token or len(token) > 4096 or token.count(".") != 1:
        raise refused
    payload, signature = token.split(".")
    expected = hmac.new(secret.encode("utf-8"), payload.encode("ascii", "replace"), hashlib.sha256)
    try:
        given = _b64decode(signature)
    except ValueError:
        raise refused from None
    # The signature first: nothing a stranger wrote is parsed before it is known to be ours.
    if not hmac.compare_digest(expected.digest(), given):
        raise refused
    try:
        claims = json.loads(_b64decode(payload).decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise refused from None
    if not isinstance(claims, dict) or claims.get("purpose") != purpose:
        raise refused
    issued, nonce = claims.get("time"), claims.get("nonce")
    if not isinstance(issued, int) or isinstance(issued, bool):
        raise refused
    if not isinstance(nonce, str) or not NONCE.fullmatch(nonce):
        raise refused
    now = time.time()
    max_age = int(config["HANDOFF_MAX_AGE"])
    if issued > now + CLOCK_SKEW or now - issued > max_age:
        raise refused
    if once:
        _use_nonce(nonce, max_age)
    return claims


def _use_nonce(nonce: str, max_age: int) -> None:
    """The primary key makes 'once' hold across workers and databases; old ones are swept."""
    now = now_utc()
    db.session.execute(delete(HandoffNonce).where(HandoffNonce.expires_at < now))
    db.session.add(
        HandoffNonce(nonce=nonce, expires_at=now + timedelta(seconds=max_age + CLOCK_SKEW))
    )
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise RuleError(BAD_LINK, status=403) from None


def login_from_token(token: str | None) -> User:
    claims = verify(token, "login")
    identity = make_identity(claims.get("user"), claims.get("name"), claims.get("position"))
    if identity is None:
        raise RuleError(BAD_LINK, status=403)
    user = sync_user(identity)
    if user is None:
        raise AccountClosed()
    audit.record("login", actor=user, obj=user, via="portal")
    db.session.commit()
    return user


def user_from_menu_token(token: str) -> User | None:
    """The person a menu token names, if we know them and their account is open.

    Nobody is created here: the portal asks for every page view of every user.
    """
    claims = verify(token, "menu", once=False)
    identity = make_identity(claims.get("user"), "", "")
    user = _find(identity.username) if identity else None
    return user if user is not None and user.active else None


def logout_from_token(token: str | None) -> bool:
    """The portal's logout: every session of the named user ends. False if we never met them."""
    from .services import end_sessions

    claims = verify(token, "logout")
    identity = make_identity(claims.get("user"), "", "")
    user = _find(identity.username) if identity else None
    if user is None:
        return False
    end_sessions(user)
    audit.record("logout", actor=user, obj=user, via="portal")
    db.session.commit()
    return True
