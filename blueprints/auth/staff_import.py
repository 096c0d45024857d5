"""Staff from the portal's personnel export: what importing it would change, then changing it.

Never deletes a user. Deactivated accounts in the export are left as they are (reactivating
someone is the admin's deliberate act on the accounts page, not a side effect of a file that
may be older than the deactivation). Admins, and the admin who imports, are never deactivated.
"""

import contextlib
import hashlib
import json
import os
import re
import secrets
import time
from dataclasses import asdict, dataclass

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

import audit
import staffimport
from errors import RuleError
from extensions import db
from filetypes import clean_filename
from models import Indicator, User
from staffimport import ParseResult, Rejected, Row
from thai import thai_sort_key

from .portal import UNUSABLE_PASSWORD
from .services import end_sessions

PENDING_MAX_AGE = 24 * 3600  # an upload not confirmed within a day is swept
_TOKEN = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Update:
    """An active account whose name or position the export changes."""

    line: int
    user_id: int
    username: str
    old_name: str
    new_name: str
    old_position: str
    new_position: str


@dataclass(frozen=True)
class Account:
    """An existing account the plan names without changing it (or only deactivating it)."""

    user_id: int
    username: str
    full_name: str
    position: str


@dataclass(frozen=True)
class Plan:
    filename: str
    new: tuple[Row, ...]
    updated: tuple[Update, ...]
    unchanged: int
    inactive: tuple[Account, ...]  # in the export, deactivated here: left as they are
    missing: tuple[Account, ...]  # active, not in the export: may be deactivated
    kept: tuple[Account, ...]  # admins and the importing admin not in the export: never touched
    rejected: tuple[Rejected, ...]
    has_position: bool
    digest: str  # what the admin previewed; confirm applies only the same plan

    @property
    def lines(self) -> int:
        return len(self.new) + len(self.updated) + self.unchanged + len(self.inactive)

    @property
    def changes_anything(self) -> bool:
        """Worth confirming: something to add or update, or someone the admin may deactivate."""
        return bool(self.new or self.updated or self.missing)

    def changes(self, deactivate_missing: bool) -> bool:
        return bool(self.new or self.updated or (deactivate_missing and self.missing))


@dataclass(frozen=True)
class Result:
    created: int
    updated: int
    deactivated: tuple[Account, ...]
    # Deactivated people who still receive indicators of open years: someone must take over.
    orphaned: tuple[tuple[Account, tuple[Indicator, ...]], ...]


def plan(parsed: ParseResult, actor: User | None = None, filename: str = "") -> Plan:
    """Compare the export with the accounts we have; nothing is written."""
    users = {user.username: user for user in db.session.scalars(select(User))}
    new, updated, inactive, unchanged = [], [], [], 0
    for row in parsed.rows:
        user = users.get(row.username)
        if user is None:
            new.append(row)
            continue
        if not user.active:
            inactive.append(_account(user))
            continue
        position = user.position if row.position is None else row.position
        if (user.full_name, user.position) == (row.full_name, position):
            unchanged += 1
            continue
        updated.append(
            Update(
                row.line,
                user.id,
                user.username,
                user.full_name,
                row.full_name,
                user.position,
                position,
            )
        )
    missing, kept = [], []
    # With no line accepted (every username invalid: the wrong column, say) "missing" would
    # be everyone; offering to deactivate the whole office would be a trap.
    if parsed.rows:
        absent = (u for u in users.values() if u.active and u.username not in parsed.mentioned)
        for user in sorted(absent, key=lambda u: thai_sort_key(u.full_name)):
            protected = user.is_admin or (actor is not None and user.id == actor.id)
            (kept if protected else missing).append(_account(user))
    fields = {
        "new": tuple(new),
        "updated": tuple(updated),
        "unchanged": unchanged,
        "inactive": tuple(inactive),
        "missing": tuple(missing),
        "kept": tuple(kept),
        "rejected": parsed.rejected,
        "has_position": parsed.has_position,
    }
    # A rejected line's reason is in the reader's language, who may switch it between preview
    # and confirm; the reasons follow from the kept file alone, so its line numbers suffice.
    digest = _digest({**fields, "rejected": [r.line for r in parsed.rejected]})
    return Plan(filename=filename, digest=digest, **fields)


def _account(user: User) -> Account:
    return Account(user.id, user.username, user.full_name, user.position)


def _digest(fields: dict) -> str:
    """Changes whenever the file or the accounts it touches change between preview and confirm."""
    canonical = json.dumps(
        {key: _plain(value) for key, value in fields.items()}, ensure_ascii=False, sort_keys=True
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _plain(value):
    if isinstance(value, tuple):
        return [asdict(item) if hasattr(item, "__dataclass_fields__") else item for item in value]
    return value


def apply(plan: Plan, actor: User | None, deactivate_missing: bool) -> Result:
    """Add, update and (if asked) deactivate, in one transaction with its audit entries."""
    try:
        created = [
            User(
                username=row.username,
                full_name=row.full_name,
                position=row.position or "",
                # No password here: they log in through the portal, or (local login) the
                # admin sets one on the accounts page.
                password_hash=UNUSABLE_PASSWORD,
            )
            for row in plan.new
        ]
        db.session.add_all(created)
        db.session.flush()
        for user in created:
            audit.record(
                "staff_import_created",
                actor=actor,
                obj=user,
                name=user.full_name,
                username=user.username,
            )
        ids = [u.user_id for u in plan.updated] + [m.user_id for m in plan.missing]
        users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))}
        for change in plan.updated:
            user = users[change.user_id]
            user.full_name, user.position = change.new_name, change.new_position
            audit.record(
                "staff_import_updated",
                actor=actor,
                obj=user,
                username=user.username,
                old_name=change.old_name,
                old_position=change.old_position or "-",
                name=change.new_name,
                position=change.new_position or "-",
            )
        deactivated = plan.missing if deactivate_missing else ()
        for account in deactivated:
            user = users[account.user_id]
            # As services.set_active: inactive, and every session and remember cookie ends.
            user.active = False
            end_sessions(user)
            audit.record("staff_import_deactivated", actor=actor, obj=user, name=user.full_name)
        audit.record(
            "staff_imported",
            actor=actor,
            file=plan.filename or "-",
            created=len(created),
            updated=len(plan.updated),
            deactivated=len(deactivated),
            rejected=len(plan.rejected),
        )
        db.session.commit()
    except IntegrityError:  # the same username created meanwhile (a first portal login)
        db.session.rollback()
        raise RuleError(
            _l("มีการเปลี่ยนแปลงบัญชีผู้ใช้ระหว่างนำเข้า ยังไม่ได้บันทึกสิ่งใด กรุณาอัปโหลดไฟล์แล้วตรวจสอบอีกครั้ง")
        ) from None
    return Result(len(created), len(plan.updated), tuple(deactivated), _orphaned(deactivated))


def _orphaned(accounts) -> tuple:
    from blueprints.indicators.services import received_in_open_years

    found = []
    for account in accounts:
        indicators = received_in_open_years(db.session.get(User, account.user_id))
        if indicators:
            found.append((account, tuple(indicators)))
    return tuple(found)


# --- reading an export ---------------------------------------------------------------------


NO_FILE = _l("กรุณาเลือกไฟล์รายชื่อบุคลากร (.csv หรือ .xlsx)")
UPLOAD_AGAIN = _l("ไม่พบไฟล์ที่ตรวจสอบไว้ หรือเกินหนึ่งวันแล้ว กรุณาอัปโหลดไฟล์อีกครั้ง")
CANNOT_KEEP = _l("เก็บไฟล์ไว้ตรวจสอบไม่ได้ กรุณาแจ้งผู้ดูแลระบบ")


def read_limited(stream) -> bytes:
    """At most one byte past the limit: enough for parse() to refuse it, never the whole stream."""
    return stream.read(staffimport.MAX_FILE_BYTES + 1)


def plan_file(data: bytes, filename: str, actor: User | None) -> Plan:
    return plan(staffimport.parse(data, filename), actor, filename)


# --- an upload waiting for the admin's confirmation ----------------------------------------


@dataclass(frozen=True)
class Pending:
    token: str | None  # None: nothing to confirm, so nothing was kept
    filename: str
    plan: Plan


def pending_folder() -> str:
    folder = current_app.config.get("IMPORT_DIR") or os.path.join(
        current_app.instance_path, "imports"
    )
    os.makedirs(folder, mode=0o700, exist_ok=True)
    return folder


def preview_upload(upload, actor: User) -> Pending:
    """Parse and plan an uploaded export; keep the file for confirm() if it changes anything."""
    if upload is None or not upload.filename:
        raise RuleError(NO_FILE, status=400)
    filename = clean_filename(upload.filename)
    data = read_limited(upload.stream)
    result = plan_file(data, filename, actor)
    if not result.changes_anything:
        return Pending(None, filename, result)
    try:
        sweep()
        token = keep(data)
    except OSError:  # REPORTS_IMPORT_DIR outside the service's ReadWritePaths, say
        current_app.logger.exception("staff import: cannot keep the upload for confirmation")
        raise RuleError(CANNOT_KEEP, status=503) from None
    return Pending(token, filename, result)


def keep(data: bytes) -> str:
    """Write the upload under a random name, readable by us only; the token names it."""
    token = secrets.token_hex(16)
    path = os.path.join(pending_folder(), token)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return token


def load(token) -> bytes | None:
    """The kept upload, or None if the token is not one of ours or its file is a day old."""
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        return None
    sweep()  # a confirm sweeps too: an office may preview far more rarely than once a day
    try:
        with open(os.path.join(pending_folder(), token), "rb") as f:
            if os.fstat(f.fileno()).st_mtime < time.time() - PENDING_MAX_AGE:
                return None  # aged since the sweep: the next one removes it
            return f.read()
    except FileNotFoundError:
        return None


def apply_kept(token: str, plan: Plan, actor: User | None, deactivate_missing: bool) -> Result:
    """apply() the upload kept under token, at most once: two confirms of one preview (two
    tabs, a copied session cookie) may both pass the digest check on a server database, but
    only one of them removes the file, and only that one applies it; the other is told to
    upload again."""
    if not discard(token):
        raise RuleError(UPLOAD_AGAIN, status=409)
    return apply(plan, actor, deactivate_missing)


def discard(token) -> bool:
    """Remove the kept upload; False if it was not there (or the token is not one of ours)."""
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        return False
    try:
        os.unlink(os.path.join(pending_folder(), token))  # atomic: one unlink of a path wins
    except FileNotFoundError:
        return False
    return True


def sweep(now: float | None = None) -> None:
    """Remove uploads older than a day: previews nobody confirmed."""
    folder = pending_folder()
    cutoff = (time.time() if now is None else now) - PENDING_MAX_AGE
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        with contextlib.suppress(FileNotFoundError):
            if _TOKEN.fullmatch(name) and os.stat(path).st_mtime < cutoff:
                os.unlink(path)
