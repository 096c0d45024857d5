"""Notifications: events queued with the action, read under the bell, emailed in digests."""

import fcntl
import json
import os
import re
import smtplib
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, timedelta
from email.headerregistry import Address
from email.message import EmailMessage

from flask import current_app, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_pgettext as _p
from sqlalchemy import exists, func, select, text, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from extensions import db
from labels import ROUND_LABELS
from language import THAI, fiscal_year_label, local_date, local_datetime, offered_languages
from models import REPLACED, Document, FiscalYear, Indicator, Notification, Round, User
from models import indicator_reporters as reporters_table
from thai import bangkok_date, now_utc

# Kind -> Thai sentence; the words are made when read, in the reader's language (as audit.py).
KINDS = {
    "document_sent": _p(
        "notification", "%(name)s ส่งเอกสาร %(title)s ตัวชี้วัด %(code)s %(round)s ปีงบประมาณ %(year)s"
    ),
    "document_revised": _p(
        "notification",
        "%(name)s ส่งฉบับแก้ไข %(title)s ตัวชี้วัด %(code)s %(round)s ปีงบประมาณ %(year)s",
    ),
    "document_received": _p(
        "notification", "รับแล้ว: %(title)s ตัวชี้วัด %(code)s %(round)s ปีงบประมาณ %(year)s"
    ),
    "document_returned": _p(
        "notification",
        "ส่งกลับแก้ไข: %(title)s ตัวชี้วัด %(code)s %(round)s ปีงบประมาณ %(year)s เหตุผล: %(reason)s",
    ),
    "deadline_coming": _p(
        "notification",
        "ตัวชี้วัด %(code)s ยังไม่มีเอกสาร %(round)s ปีงบประมาณ %(year)s "
        "ครบกำหนดส่ง %(due)s (อีก %(days)s วัน)",
    ),
}
# Who reads which kind: a receiver's events link to the indicator's page, a reporter's to theirs.
FOR_RECEIVER = {"document_sent", "document_revised"}

# Reminders are queued when a due date is this many days ahead or closer (Bangkok days): the
# 7-day one from 7 days before, the 1-day one from the day before (or on the day itself, if
# the daily run missed the day before). Each is queued once per person, indicator and date.
REMINDER_DAYS = (7, 1)
# A message the server refused this many times is given up (last_error says why); the
# server being down is not the message's fault and does not count.
MAX_ATTEMPTS = 5
# One digest carries at most this many events; the rest go in the next run's digest.
MAX_PER_DIGEST = 100


def queue(user_id: int, kind: str, document=None, dedupe_key=None, **params) -> Notification:
    """Add the event to the current transaction: it commits, or rolls back, with the action."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind}")
    notification = Notification(
        user_id=user_id,
        kind=kind,
        params=json.dumps(params, ensure_ascii=False, default=str),
        document_id=document.id if document is not None else None,
        dedupe_key=dedupe_key,
    )
    db.session.add(notification)
    return notification


def _document_params(document, indicator) -> dict:
    return {
        "title": document.title,
        "code": indicator.code,
        "round": document.round_months,
        "year": indicator.fiscal_year,
        "indicator_id": indicator.id,
    }


def document_sent(actor: User, document: Document) -> None:
    """A new document (or revision) for the indicator's receiver, unless they sent it."""
    indicator = db.session.get(Indicator, document.indicator_id)
    if indicator.receiver_id == actor.id:
        return
    kind = "document_revised" if document.replaces_id is not None else "document_sent"
    queue(
        indicator.receiver_id,
        kind,
        document,
        name=actor.full_name,
        **_document_params(document, indicator),
    )


def document_decided(actor: User, document: Document, kind: str, **params) -> None:
    """Received or returned, for the person who sent it, unless they decided it themselves."""
    uploader_id = document.uploaded_by_id
    if uploader_id == actor.id:
        return
    indicator = db.session.get(Indicator, document.indicator_id)
    queue(
        uploader_id,
        kind,
        document,
        name=actor.full_name,
        **_document_params(document, indicator),
        **params,
    )


def describe(notification: Notification) -> str:
    """The event as a sentence in the reader's language."""
    params = json.loads(notification.params or "{}")
    if "round" in params:
        params["round"] = str(ROUND_LABELS.get(params["round"], params["round"]))
    if isinstance(params.get("year"), int):
        params["year"] = fiscal_year_label(params["year"])
    if "due" in params:
        with suppress(ValueError, TypeError):
            params["due"] = local_date(date.fromisoformat(params["due"]))
    template = str(KINDS.get(notification.kind, notification.kind))
    try:
        return template % params
    except (KeyError, TypeError, ValueError):
        return template


def target(notification: Notification, **url_options) -> str:
    """Where the event is dealt with: the indicator's round for a receiver, else ส่งเอกสาร."""
    params = json.loads(notification.params or "{}")
    if notification.kind in FOR_RECEIVER and params.get("indicator_id") and params.get("round"):
        return url_for(
            "receive.indicator_page",
            months=params["round"],
            indicator_id=params["indicator_id"],
            **url_options,
        )
    return url_for("send.index", **url_options)


def unread_count(user: User) -> int:
    return db.session.scalar(
        select(func.count(Notification.id)).where(
            Notification.user_id == user.id, Notification.read_at.is_(None)
        )
    )


def bell_count(user) -> int | None:
    """The bell's number on every page: one COUNT; None if the database cannot answer (an
    error page must still render)."""
    if not user.is_authenticated:
        return None
    try:
        return unread_count(user)
    except SQLAlchemyError:
        db.session.rollback()
        return None


def recent(user: User):
    """The user's notifications, newest first (a statement to paginate)."""
    return (
        select(Notification)
        .where(Notification.user_id == user.id)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
    )


def mark_read(user: User, ids: list[int] | None = None) -> int:
    """Mark the given notifications (all when None) read; only ever the user's own."""
    stmt = update(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)
    )
    if ids is not None:
        stmt = stmt.where(Notification.id.in_(ids))
    count = db.session.execute(stmt.values(read_at=now_utc())).rowcount
    db.session.commit()
    return count


# Reminders ---------------------------------------------------------------------------------


def reminder_stage(days_left: int) -> int | None:
    """Which reminder a due date `days_left` days ahead calls for: 7, 1 or none."""
    if days_left < 0:
        return None
    stages = [days for days in REMINDER_DAYS if days_left <= days]
    return min(stages) if stages else None


def queue_reminders(today: date) -> int:
    """Queue the reminders due today for every open year's rounds; returns how many were new.

    A reporter is reminded for each indicator of theirs that has no document at all for the
    round (sent, received or returned: anyone's counts, since one report serves the indicator).
    The dedupe key names the stage and the due date, so a run repeated any number of times
    queues each reminder once, and a due date moved later earns fresh reminders.
    """
    horizon = today + timedelta(days=max(REMINDER_DAYS))
    rounds = db.session.execute(
        select(Round.fiscal_year, Round.months, Round.due_date)
        .join(FiscalYear, FiscalYear.year == Round.fiscal_year)
        .where(FiscalYear.closed_at.is_(None), Round.due_date >= today, Round.due_date <= horizon)
    ).all()
    added = 0
    for year, months, due in rounds:
        stage = reminder_stage((due - today).days)
        if stage is None:
            continue
        something_sent = exists().where(
            Document.indicator_id == Indicator.id,
            Document.round_months == months,
            Document.status != REPLACED,
        )
        missing = db.session.execute(
            select(Indicator.id, Indicator.code, User.id)
            .join(reporters_table, reporters_table.c.indicator_id == Indicator.id)
            .join(User, User.id == reporters_table.c.user_id)
            .where(
                Indicator.fiscal_year == year,
                ~something_sent,
                User.active.is_(True),
                User.reporter_status == "reporter",
            )
        ).all()
        keys = {
            (indicator_id, user_id): f"reminder:{year}:{months}:{due.isoformat()}:{stage}:"
            f"{user_id}:{indicator_id}"
            for indicator_id, _code, user_id in missing
        }
        known = set(
            db.session.scalars(
                select(Notification.dedupe_key).where(Notification.dedupe_key.in_(keys.values()))
            )
        )
        for indicator_id, code, user_id in missing:
            key = keys[indicator_id, user_id]
            if key in known:
                continue
            try:
                # A savepoint per row: a concurrent run that inserted the same key first
                # costs this row only (the unique constraint decides), not the whole run.
                with db.session.begin_nested():
                    queue(
                        user_id,
                        "deadline_coming",
                        dedupe_key=key,
                        code=code,
                        round=months,
                        year=year,
                        due=due.isoformat(),
                        days=(due - today).days,
                        indicator_id=indicator_id,
                    )
                added += 1
            except IntegrityError:
                continue
    db.session.commit()
    return added


# Email -------------------------------------------------------------------------------------

ADDRESS_LOCAL_PART = re.compile(r"^[A-Za-z0-9._+-]+$")


class SenderBusy(Exception):
    """Another send-notifications run holds the lock."""


@dataclass
class SendResult:
    sent_people: int = 0
    sent_events: int = 0
    failures: list[str] = field(default_factory=list)
    server_down: str | None = None


def email_address(user: User) -> str | None:
    """<username>@REPORTS_SMTP_DOMAIN: the User table keeps no address, and the portal's
    usernames are the office mailboxes' names. None when the name cannot be an address."""
    domain = current_app.config["SMTP_DOMAIN"]
    if not domain or not ADDRESS_LOCAL_PART.match(user.username or ""):
        return None
    return f"{user.username}@{domain}"


@contextmanager
def sender_lock():
    """One sender at a time, so two cron runs never mail the same events twice.

    PostgreSQL and MariaDB: a named lock in the database (held by one connection for the whole
    run), so runs on different machines exclude each other too. SQLite: a lock file beside it
    in the instance folder (one machine is all SQLite serves).
    """
    engine = db.engine
    name = "myoffice_reports_send_notifications"
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            key = 0x6D796F66  # any fixed number; ours
            if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                raise SenderBusy
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
        return
    if engine.dialect.name in ("mysql", "mariadb"):
        with engine.connect() as conn:
            if conn.execute(text("SELECT GET_LOCK(:n, 0)"), {"n": name}).scalar() != 1:
                raise SenderBusy
            try:
                yield
            finally:
                conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": name})
                conn.commit()
        return
    path = os.path.join(current_app.instance_path, "send-notifications.lock")
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SenderBusy from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def pending():
    """Rows still to email: unread (read ones were seen already), unsent, not given up."""
    return (
        select(Notification)
        .join(User, User.id == Notification.user_id)
        .where(
            Notification.emailed_at.is_(None),
            Notification.read_at.is_(None),
            Notification.email_attempts < MAX_ATTEMPTS,
            User.active.is_(True),
        )
    )


def reader_language(user: User) -> str:
    return user.language if user.language in offered_languages() else THAI


def build_digest(user: User, rows: list[Notification], address: str) -> EmailMessage:
    """One message for one person: every new event, in their language, with links."""
    base = (current_app.config["PUBLIC_URL"] or "").rstrip("/")
    # A request of our own for url_for; the language forced inside it (a request context
    # would otherwise ask the locale selector, which knows no reader outside a request).
    with (
        current_app.test_request_context("/", base_url=base or "http://localhost"),
        force_locale(reader_language(user)),
    ):
        subject = _("ระบบรายงานตัวชี้วัด: มี %(n)s เรื่องใหม่", n=len(rows))
        lines = [_("เรียน %(name)s", name=user.full_name), ""]
        for row in rows:
            lines.append(f"- {local_datetime(row.created_at)}  {describe(row)}")
            if base:
                lines.append(f"  {target(row, _external=True)}")
        lines.append("")
        if base:
            all_link = url_for("notifications.index", _external=True)
            lines.append(_("ดูการแจ้งเตือนทั้งหมด: %(url)s", url=all_link))
        lines.append(_("อีเมลนี้ส่งจากระบบรายงานตัวชี้วัดโดยอัตโนมัติ กรุณาอย่าตอบกลับ"))
        sender_name = _("ระบบรายงานตัวชี้วัด")
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = Address(sender_name, addr_spec=sender_address())
    message["To"] = Address(user.full_name, addr_spec=address)
    message.set_content("\n".join(lines) + "\n", charset="utf-8")
    return message


def sender_address() -> str:
    config = current_app.config
    return config["SMTP_FROM"] or f"reports-noreply@{config['SMTP_DOMAIN']}"


def connect() -> smtplib.SMTP:
    config = current_app.config
    server = smtplib.SMTP(
        config["SMTP_HOST"], int(config["SMTP_PORT"]), timeout=float(config["SMTP_TIMEOUT"])
    )
    try:
        if config["SMTP_STARTTLS"]:
            server.starttls()
        if config["SMTP_USER"]:
            server.login(config["SMTP_USER"], config["SMTP_PASSWORD"] or "")
    except BaseException:
        with suppress(Exception):
            server.close()
        raise
    return server


# The server refused this one message: counts toward MAX_ATTEMPTS. Anything else (refused
# connection, timeout, dropped line) is the server's state: the run stops, nothing counts.
MESSAGE_REFUSED = (
    smtplib.SMTPRecipientsRefused,
    smtplib.SMTPSenderRefused,
    smtplib.SMTPDataError,
    smtplib.SMTPNotSupportedError,
    UnicodeError,
)


def _settle(ids: list[int], **values) -> None:
    db.session.execute(
        update(Notification)
        .where(Notification.id.in_(ids), Notification.emailed_at.is_(None))
        .values(**values)
    )
    db.session.commit()


def send_digests() -> SendResult:
    """Email each person one digest of their unsent events; emailed_at is set only after the
    server accepted the message, one person per commit. A crash between the server's yes and
    that commit mails those events once more next run (at least once, never lost)."""
    result = SendResult()
    with sender_lock():
        user_ids = list(
            db.session.scalars(
                pending().with_only_columns(Notification.user_id).distinct().order_by(None)
            )
        )
        db.session.commit()
        server = None
        try:
            for user_id in sorted(user_ids):
                user = db.session.get(User, user_id)
                rows = list(
                    db.session.scalars(
                        pending()
                        .where(Notification.user_id == user_id)
                        .order_by(Notification.created_at, Notification.id)
                        .limit(MAX_PER_DIGEST)
                    )
                )
                if not rows:
                    continue
                ids = [row.id for row in rows]
                address = email_address(user)
                if address is None:
                    error = f"no email address for {user.username}"
                    _settle(ids, email_attempts=MAX_ATTEMPTS, last_error=error)
                    result.failures.append(error)
                    continue
                message = build_digest(user, rows, address)
                db.session.commit()  # no transaction stays open while we talk to the server
                try:
                    server = server or connect()
                    server.send_message(message)
                except MESSAGE_REFUSED as error:
                    _settle(
                        ids,
                        email_attempts=Notification.email_attempts + 1,
                        last_error=str(error)[:1000],
                    )
                    result.failures.append(f"{address}: {error}")
                    continue
                except (OSError, smtplib.SMTPException) as error:
                    _settle(ids, last_error=str(error)[:1000] or type(error).__name__)
                    result.server_down = str(error) or type(error).__name__
                    server = None
                    break
                _settle(
                    ids,
                    emailed_at=now_utc(),
                    email_attempts=Notification.email_attempts + 1,
                    last_error=None,
                )
                result.sent_people += 1
                result.sent_events += len(ids)
        finally:
            if server is not None:
                with suppress(Exception):
                    server.quit()
    return result


def bangkok_today() -> date:
    return bangkok_date(now_utc())
