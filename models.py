"""Every table, with the invariants the database itself can enforce."""

import time
from datetime import UTC, date, datetime

from flask_login import UserMixin
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Stores naive UTC (portable to SQLite and MariaDB) and always hands back aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


REPORTER = "reporter"
GENERAL = "general"
SENT = "sent"
RECEIVED = "received"
RETURNED = "returned"  # ส่งกลับแก้ไข: waits for the reporter's revision
REPLACED = "replaced"  # a returned document whose revision has been sent; kept as history
ROUND_MONTHS = (6, 9, 12)  # the rounds every new fiscal year starts with
OPTIONAL_ROUND_MONTHS = (3,)  # the admin may add รอบ 3 เดือน


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "reporter_status IS NULL OR reporter_status IN ('reporter', 'general')",
            name="reporter_status",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Stored lower-cased: staff type their login in any case, and uniqueness must agree.
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    position: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # None is the manual's "-": never set, so the person has general staff's rights.
    reporter_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Part of the login cookie; bumping it revokes every session and remember cookie.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # None: the office's language (Thai); "en" for staff who chose English.
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)

    def get_id(self) -> str:
        # Signed into the session and remember cookies alike, so neither can move the login's
        # time forward; app.load_user ends the login SESSION_MAX_HOURS after it.
        logged_in_at = getattr(self, "logged_in_at", None) or int(time.time())
        return f"{self.id}.{self.session_version}.{logged_in_at}"

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_reporter(self) -> bool:
        return self.reporter_status == REPORTER


class FiscalYear(db.Model):
    """A Buddhist-era fiscal year; closed years are read-only but stay browsable."""

    __tablename__ = "fiscal_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)

    rounds: Mapped[list["Round"]] = relationship(
        back_populates="fiscal_year_row", order_by="Round.months", cascade="all, delete-orphan"
    )

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class Round(db.Model):
    """A reporting round of a fiscal year (รอบ 6 เดือน ...) with the due date the admin set."""

    __tablename__ = "rounds"
    __table_args__ = (CheckConstraint("months IN (3, 6, 9, 12)", name="months"),)

    fiscal_year: Mapped[int] = mapped_column(ForeignKey("fiscal_years.year"), primary_key=True)
    months: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    due_date: Mapped[date] = mapped_column(Date)
    # ส่งระบบ สพฐ. แล้ว: the officer handed the round's documents to the national system.
    handed_over_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    handed_over_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)

    fiscal_year_row: Mapped[FiscalYear] = relationship(back_populates="rounds")
    handed_over_by: Mapped["User | None"] = relationship()


indicator_reporters = Table(
    "indicator_reporters",
    db.metadata,
    Column("indicator_id", ForeignKey("indicators.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id"), primary_key=True),
    Index("ix_indicator_reporters_user_id", "user_id"),
)


class Indicator(db.Model):
    __tablename__ = "indicators"
    # code_key is the trimmed, lower-cased code: the same rule on every database, whatever
    # its collation, so "7.1B" and " 7.1b" are one indicator in a year.
    __table_args__ = (UniqueConstraint("fiscal_year", "code_key", name="uq_indicators_year_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fiscal_year: Mapped[int] = mapped_column(ForeignKey("fiscal_years.year"), index=True)
    category: Mapped[str] = mapped_column(String(32), default="KRS")
    code: Mapped[str] = mapped_column(String(32))
    code_key: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(Text)
    receiver_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    receiver: Mapped[User] = relationship(foreign_keys=[receiver_id])
    reporters: Mapped[list[User]] = relationship(secondary=indicator_reporters)
    documents: Mapped[list["Document"]] = relationship(back_populates="indicator")


class Document(db.Model):
    __tablename__ = "documents"
    __table_args__ = (
        CheckConstraint("status IN ('sent', 'received', 'returned', 'replaced')", name="status"),
        CheckConstraint("round_months IN (3, 6, 9, 12)", name="round_months"),
        # Who and when are part of each state: the pages name them, so they must exist.
        CheckConstraint(
            "status <> 'received' OR (received_by_id IS NOT NULL AND received_at IS NOT NULL)",
            name="received_by_whom",
        ),
        CheckConstraint(
            "status NOT IN ('returned', 'replaced') OR (returned_by_id IS NOT NULL "
            "AND returned_at IS NOT NULL AND return_reason IS NOT NULL)",
            name="returned_by_whom",
        ),
        # Covers the grouped counts of every progress page (indicator, round, status): they
        # read the index alone, never the rows.
        Index("ix_documents_indicator_round_status", "indicator_id", "round_months", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id"))
    round_months: Mapped[int] = mapped_column(SmallInteger)
    title: Mapped[str] = mapped_column(String(255))
    original_name: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(100))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default=SENT)
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Sent after its round's due date: still accepted, but everyone can see it was late.
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    return_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    returned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The returned document this one revises; unique, so a document has one revision at most.
    replaces_id: Mapped[int | None] = mapped_column(
        ForeignKey("documents.id"), nullable=True, unique=True
    )

    indicator: Mapped[Indicator] = relationship(back_populates="documents")
    uploaded_by: Mapped[User] = relationship(foreign_keys=[uploaded_by_id])
    received_by: Mapped[User | None] = relationship(foreign_keys=[received_by_id])
    returned_by: Mapped[User | None] = relationship(foreign_keys=[returned_by_id])
    replaces: Mapped["Document | None"] = relationship(
        remote_side=[id], foreign_keys=[replaces_id], back_populates="revision"
    )
    revision: Mapped["Document | None"] = relationship(
        foreign_keys=[replaces_id], back_populates="replaces", uselist=False
    )


class AuditEntry(db.Model):
    """Append-only: who did what to which object, when, from where (triggers refuse edits).

    The action is a code and its parameters JSON, so the page renders it in the reader's
    language; never formatted text.
    """

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    action: Mapped[str] = mapped_column(String(40), index=True)
    object_type: Mapped[str | None] = mapped_column(String(20), nullable=True)
    object_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # No foreign key: the record of an indicator must outlive the indicator.
    indicator_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    params: Mapped[str] = mapped_column(Text, default="{}")
    ip: Mapped[str | None] = mapped_column(String(45), nullable=True)

    actor: Mapped[User | None] = relationship()


class HandoffNonce(db.Model):
    """A portal link's nonce, kept until the link could no longer be used: used once, ever."""

    __tablename__ = "handoff_nonces"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class LoginThrottle(db.Model):
    """Recent failed logins of one account or one address (throttle.py, when not in Redis)."""

    __tablename__ = "login_throttles"

    # "account:" or "address:" and a hash of the name, so any typed username fits.
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    # The count starts over after this; a lock pushes it later.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Download(db.Model):
    """The first time a person downloaded a document (alone or in a zip): what "only what I
    have not yet downloaded" leaves out."""

    __tablename__ = "downloads"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    document_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    first_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Notification(db.Model):
    """The outbox: one event for one person, written in the same transaction as the action.

    Shown under the bell until read; emailed in a digest by `flask send-notifications` when
    SMTP is configured (emailed_at set only after the server accepted the message).
    """

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user_unread", "user_id", "read_at"),
        Index("ix_notifications_unsent", "emailed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # A code (document_sent, document_received, document_returned, deadline_coming...);
    # the words are made when read, in the reader's language, as the audit trail's are.
    kind: Mapped[str] = mapped_column(String(40))
    params: Mapped[str] = mapped_column(Text, default="{}")
    document_id: Mapped[int | None] = mapped_column(
        ForeignKey("documents.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    email_attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Set for events that must never be queued twice (a reminder: year, round, days, person).
    dedupe_key: Mapped[str | None] = mapped_column(String(128), unique=True, nullable=True)

    user: Mapped[User] = relationship()
