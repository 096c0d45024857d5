"""Accounts: passwords (argon2id), throttled logins, sessions that can be revoked."""

import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import session
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

import audit
import throttle
from errors import RuleError
from extensions import db
from language import SESSION_KEY, THAI, offered_languages
from models import User
from text import USERNAME, clean_text

hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verifying against this when the username is unknown keeps both answers equally slow.
_DUMMY_HASH = hasher.hash("not-a-real-password")

MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    return hasher.hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise RuleError(_l("รหัสผ่านต้องมีอย่างน้อย %(n)s ตัวอักษร", n=MIN_PASSWORD_LENGTH), status=400)


def find_by_username(username: str) -> User | None:
    username = clean_text(username).strip().lower()
    user = db.session.scalar(select(User).where(User.username == username))
    # Compared again here, exactly: MariaDB's *_ci collation finds "somchai" for "sömchai"
    # or "ｓｏｍｃｈａｉ", whose throttle count is another key, so a look-alike would get fresh
    # guesses at the account. Usernames are ASCII (text.USERNAME): no real name is lost.
    return user if user is not None and user.username == username else None


def _begin_attempt(username: str, address: str | None, typed: str) -> throttle.Attempt:
    """throttle.begin, auditing the first refusal of each lock."""
    try:
        return throttle.begin(username, address)
    except throttle.Throttled as refused:
        if refused.first:
            user = find_by_username(username)
            audit.record(
                f"login_throttled_{refused.kind}",
                actor=user,
                obj=user,
                username=user.username if user else typed,
                minutes=refused.minutes,
            )
            db.session.commit()
        raise


def authenticate(username: str, password: str, address: str | None = None) -> User:
    """The user, or RuleError with one message for every failure (no hint which part was wrong).

    address: where the attempt came from, for the per-address throttle (request.remote_addr).
    """
    typed = clean_text(username).strip()[:64]
    attempt = _begin_attempt(username, address, typed)  # before any hash, even the dummy one
    user = find_by_username(username)
    password_hash = user.password_hash if user is not None else _DUMMY_HASH
    # The lookup's transaction ends before the hash: on SQLite it holds the write lock
    # (BEGIN IMMEDIATE), and parallel logins would queue behind every hash until busy.
    db.session.commit()
    if user is None:
        _verify(password_hash, password)
        attempt.failed()
        audit.record("login_failed", username=typed)
        db.session.commit()
        raise RuleError(_l("ชื่อผู้ใช้หรือรหัสผ่านไม่ถูกต้อง"), status=400)
    if not _verify(password_hash, password):
        attempt.failed()
        audit.record("login_failed", actor=user, obj=user, username=user.username)
        db.session.commit()
        raise RuleError(_l("ชื่อผู้ใช้หรือรหัสผ่านไม่ถูกต้อง"), status=400)
    attempt.succeeded()  # the right password, even for a closed account: not a guess to count
    if not user.active:
        audit.record("login_failed", actor=user, obj=user, username=user.username)
        db.session.commit()
        raise RuleError(_l("บัญชีนี้ถูกปิดการใช้งานแล้ว กรุณาติดต่อผู้ดูแลระบบ"), status=403)
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    # This login's own time, even if the request had loaded an older login of this user.
    user.logged_in_at = int(time.time())
    audit.record("login", actor=user, obj=user)
    db.session.commit()
    return user


def has_local_password(user: User) -> bool:
    """Staff who arrive from the portal have no password here, and behind a per-request
    portal login nobody uses one."""
    from . import portal

    return not portal.per_request() and user.password_hash != portal.UNUSABLE_PASSWORD


def end_sessions(user: User) -> None:
    """Every cookie issued so far, on every device, stops working (caller commits)."""
    user.session_version += 1


def logout(user: User) -> None:
    end_sessions(user)
    audit.record("logout", actor=user, obj=user)
    db.session.commit()


def change_password(user: User, current: str, new: str, address: str | None = None) -> None:
    """address: as for authenticate. The current password is a guess like a login's: a
    stolen session must not try it without limit, so it shares the login's counts."""
    attempt = _begin_attempt(user.username, address, user.username)  # before the hash
    if not _verify(user.password_hash, current):
        attempt.failed()
        raise RuleError(_l("รหัสผ่านปัจจุบันไม่ถูกต้อง"), status=400)
    attempt.succeeded()
    check_password_rules(new)
    user.password_hash = hash_password(new)
    end_sessions(user)
    audit.record("password_changed", actor=user, obj=user)
    db.session.commit()


def reset_password(admin: User, user: User, new: str) -> None:
    check_password_rules(new)
    user.password_hash = hash_password(new)
    end_sessions(user)
    audit.record("password_reset", actor=admin, obj=user, name=user.full_name)
    db.session.commit()
    throttle.clear_account(user.username)  # they may use the new password at once


def set_active(admin: User, user: User, active: bool) -> None:
    if user.id == admin.id and not active:
        raise RuleError(_l("ไม่สามารถปิดการใช้งานบัญชีของตนเองได้"))
    user.active = active
    end_sessions(user)
    action = "account_activated" if active else "account_deactivated"
    audit.record(action, actor=admin, obj=user, name=user.full_name)
    db.session.commit()


def create_user(
    username: str,
    full_name: str,
    position: str,
    password: str,
    is_admin: bool = False,
    actor: User | None = None,
) -> User:
    username = clean_text(username).strip()
    full_name, position = clean_text(full_name).strip(), clean_text(position).strip()
    if len(username) > 64:
        raise RuleError(_l("ชื่อผู้ใช้ยาวเกิน 64 ตัวอักษร"), status=400)
    if not username or not full_name:
        raise RuleError(_l("กรุณากรอกชื่อผู้ใช้และชื่อ - นามสกุล"), status=400)
    # Checked as typed, then lower-cased, as the portal's logins are: the portal, its staff
    # export and this page must all be able to name the same person.
    if not USERNAME.fullmatch(username):
        raise RuleError(_l("ชื่อผู้ใช้ใช้ได้เฉพาะ A-Z a-z 0-9 . _ @ - เหมือนที่เข้าระบบผ่านพอร์ทัล"), status=400)
    username = username.lower()
    if find_by_username(username):
        raise RuleError(_l("ชื่อผู้ใช้ %(u)s มีอยู่แล้ว", u=username))
    check_password_rules(password)
    user = User(
        username=username,
        full_name=full_name.strip(),
        position=position.strip(),
        password_hash=hash_password(password),
        is_admin=is_admin,
    )
    try:
        db.session.add(user)
        db.session.flush()
        audit.record(
            "account_created", actor=actor, obj=user, name=user.full_name, username=user.username
        )
        db.session.commit()
    except IntegrityError:  # the same username created at the same moment
        db.session.rollback()
        raise RuleError(_l("ชื่อผู้ใช้ %(u)s มีอยู่แล้ว", u=username)) from None
    return user


def list_accounts(query: str = "") -> list[User]:
    from thai import thai_sort_key

    stmt = select(User)
    query = clean_text(query).strip()
    if query:
        needle = query.lower()
        stmt = stmt.where(
            or_(
                func.lower(User.full_name).contains(needle, autoescape=True),
                User.username.contains(needle, autoescape=True),
            )
        )
    return sorted(db.session.scalars(stmt), key=lambda u: thai_sort_key(u.full_name))


def set_language(user, language: str) -> None:
    """Thai is stored as None: the office's language, whatever it may be called later."""
    if language not in offered_languages():
        raise RuleError(_l("ไม่รองรับภาษาที่เลือก"), status=400)
    session[SESSION_KEY] = language
    if user.is_authenticated:
        user.language = None if language == THAI else language
        db.session.commit()
