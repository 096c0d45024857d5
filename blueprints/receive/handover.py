"""Hand-over export: a round's documents as one streamed zip, first downloads, the สพฐ. mark."""

import csv
import io
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, select, update
from sqlalchemy.orm import selectinload

import audit
from errors import RuleError
from extensions import db
from labels import ROUND_LABELS
from language import fiscal_year_label, local_date
from models import RECEIVED, SENT, Document, Download, Indicator, Round, User
from thai import BANGKOK, bangkok_date, code_sort_key, now_utc

from .services import receivable

# What goes to the national system: the round's current documents, sent or received.
# Returned ones wait for a revision the receiver asked for; replaced ones are history.
EXPORTED_STATUSES = (SENT, RECEIVED)
MAX_FOLDER_BYTES = 200
MAX_FILE_BYTES = 255
MANIFEST = "manifest.csv"
_CHUNK = 1 << 20
# Windows (where the national system's staff unzip) refuses these in a name; / and \ would
# make a member climb out of its folder.
_FORBIDDEN = set('/\\<>:"|?*')
_ASCII_CODE = set("0123456789.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
STATUS_WORDS = {SENT: _l("ส่งแล้ว"), RECEIVED: _l("รับแล้ว")}


# -- member names ------------------------------------------------------------------------


def truncate_utf8(text: str, max_bytes: int) -> str:
    """At most max_bytes of UTF-8, cut between characters, never between a Thai consonant
    and its vowel or tone mark."""
    if len(text.encode()) <= max_bytes:
        return text
    keep = len(text.encode()[:max_bytes].decode("utf-8", "ignore"))
    while 0 < keep and unicodedata.category(text[keep]).startswith("M"):
        keep -= 1
    return text[:keep]


def safe_component(text: str, max_bytes: int, fallback: str = "_") -> str:
    """One path component: no separator, control character, leading dot or '..'."""
    text = unicodedata.normalize("NFC", text or "")
    text = "".join(
        "_" if ch in _FORBIDDEN else ch
        for ch in text
        if not unicodedata.category(ch).startswith("C")
    )
    while ".." in text:
        text = text.replace("..", ".")
    text = text.strip().lstrip(". ")
    stem, dot, ext = text.rpartition(".")
    if not dot or not stem or len(ext.encode()) > 16:
        stem, dot, ext = text, "", ""
    stem = truncate_utf8(stem, max_bytes - len((dot + ext).encode())).rstrip(". ")
    return (stem or fallback) + dot + ext


def numbered(
    name: str, taken: set[str], max_bytes: int = MAX_FILE_BYTES, extension: bool = True
) -> str:
    """name, or 'name (2).pdf', 'name (3).pdf' ...: unique in `taken` ignoring case, as on
    Windows; the number fits inside the byte limit. Folders have no extension: the dot in
    an indicator code such as '1.2' stays where it is."""
    candidate, n = name, 1
    stem, dot, ext = name.rpartition(".") if extension else ("", "", "")
    if not dot or not stem:
        stem, dot, ext = name, "", ""
    while candidate.casefold() in taken:
        n += 1
        suffix = f" ({n}){dot}{ext}"
        candidate = truncate_utf8(stem, max_bytes - len(suffix.encode())) + suffix
    taken.add(candidate.casefold())
    return candidate


def folder_name(indicator: Indicator) -> str:
    return safe_component(f"{indicator.code} {indicator.name}", MAX_FOLDER_BYTES)


# -- what an export holds ----------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """Plain values, not the row: the zip is written after the request's session has ended."""

    document_id: int
    stored_name: str
    size: int
    uploaded_at: datetime
    path: str  # inside the zip: "<folder>/<file>"


@dataclass
class Export:
    """Decided before the first byte: which documents, under which names, and the manifest."""

    year: int
    months: int
    indicator: Indicator | None
    documents: list[Document] = field(default_factory=list)
    members: list[Member] = field(default_factory=list)
    missing: list[Document] = field(default_factory=list)
    manifest: bytes = b""

    @property
    def total_bytes(self) -> int:
        return sum(m.size for m in self.members)


def exported_documents(
    user: User, year: int, months: int, indicator: Indicator | None, only_new: bool
) -> list[Document]:
    """The documents the user may export, by indicator code then sending order."""
    ids = receivable(user).where(Indicator.fiscal_year == year).with_only_columns(Indicator.id)
    stmt = (
        select(Document)
        .where(
            Document.indicator_id.in_(ids),
            Document.round_months == months,
            Document.status.in_(EXPORTED_STATUSES),
        )
        .options(selectinload(Document.indicator), selectinload(Document.uploaded_by))
        .order_by(Document.uploaded_at, Document.id)
    )
    if indicator is not None:
        stmt = stmt.where(Document.indicator_id == indicator.id)
    if only_new:
        stmt = stmt.where(
            ~exists().where(Download.user_id == user.id, Download.document_id == Document.id)
        )
    documents = list(db.session.scalars(stmt))
    return sorted(documents, key=lambda d: code_sort_key(d.indicator.code))  # stable


def plan_export(storage, user, year, months, indicator=None, only_new=False) -> Export:
    """Name every member and check every file is there, whole, before anything is sent."""
    export = Export(year, months, indicator)
    folders: dict[int, str] = {}
    taken_folders = {MANIFEST.casefold()}
    taken_files: dict[str, set[str]] = {}
    for document in exported_documents(user, year, months, indicator, only_new):
        if storage.size(document.stored_name) != document.size:
            export.missing.append(document)
            continue
        if document.indicator_id not in folders:
            folders[document.indicator_id] = numbered(
                folder_name(document.indicator), taken_folders, MAX_FOLDER_BYTES, extension=False
            )
        folder = folders[document.indicator_id]
        name = safe_component(document.original_name, MAX_FILE_BYTES, fallback="file")
        name = numbered(name, taken_files.setdefault(folder, set()))
        path = f"{folder}/{name}"
        export.documents.append(document)
        export.members.append(
            Member(document.id, document.stored_name, document.size, document.uploaded_at, path)
        )
    export.manifest = manifest(export.documents, export.members)
    return export


def cell(value) -> str:
    """A CSV cell Excel will not run: text starting like a formula gets a leading quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def manifest(documents: list[Document], members: list[Member]) -> bytes:
    """manifest.csv in Thai whatever the reader's language (it goes to the national system),
    UTF-8 with a BOM so Excel shows the Thai."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    with force_locale("th"):
        writer.writerow(
            [
                _("รหัสตัวชี้วัด"),
                _("ชื่อตัวชี้วัด"),
                _("ชื่อรายการ"),
                _("ผู้รายงาน"),
                _("วันที่ส่ง"),
                _("สถานะ"),
                _("ขนาด (ไบต์)"),
                "SHA-256",
                _("ชื่อไฟล์เดิม"),
                _("ไฟล์ใน zip"),
            ]
        )
        for d, member in zip(documents, members, strict=True):
            row = [
                d.indicator.code,
                d.indicator.name,
                d.title,
                d.uploaded_by.full_name,
                local_date(d.uploaded_at),
                str(STATUS_WORDS.get(d.status, d.status)),
                d.size,
                d.sha256,
                d.original_name,
                member.path,
            ]
            writer.writerow([cell(v) for v in row])
    return "\ufeff".encode() + out.getvalue().encode()


# -- the stream --------------------------------------------------------------------------


class _Drain:
    """A write-only, unseekable file: zipfile writes data descriptors to it, and we hand the
    bytes on after each write, so at most about one chunk is ever held."""

    def __init__(self):
        self._parts: list[bytes] = []

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


class FileVanished(Exception):
    """A file went away after the check: the stream stops, so the browser reports a failed
    download instead of saving a zip that silently lacks a document."""


def zip_stream(storage, export: Export, on_complete=None):
    """Yield the zip's bytes. Members are stored, not deflated: PDFs, images and Office files
    are compressed already, and deflating 300 MB would cost seconds of CPU for a few percent."""
    sink = _Drain()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED) as archive:
        info = zipfile.ZipInfo(MANIFEST, date_time=_zip_time(now_utc()))
        archive.writestr(info, export.manifest)
        yield sink.take()
        for member in export.members:
            info = zipfile.ZipInfo(member.path, date_time=_zip_time(member.uploaded_at))
            info.file_size = member.size  # so zipfile picks ZIP64 for files past 4 GiB
            info.external_attr = 0o644 << 16
            try:
                source = storage.open(member.stored_name)
            except FileNotFoundError as error:
                raise FileVanished(member.document_id) from error
            with source, archive.open(info, mode="w") as target:
                while chunk := source.read(_CHUNK):
                    target.write(chunk)
                    yield sink.take()
            yield sink.take()
    yield sink.take()
    if on_complete is not None:
        on_complete()


def _zip_time(moment) -> tuple:
    local = moment.astimezone(BANGKOK)
    return (max(local.year, 1980), local.month, local.day, local.hour, local.minute, local.second)


def download_name(export: Export) -> str:
    round_label = ROUND_LABELS[export.months]
    year = fiscal_year_label(export.year)
    if export.indicator is not None:
        code = safe_component(export.indicator.code, 64)
        return _(
            "เอกสาร %(code)s %(round)s ปี %(year)s.zip", code=code, round=round_label, year=year
        )
    return _("เอกสารรายงานตัวชี้วัด %(round)s ปี %(year)s.zip", round=round_label, year=year)


def ascii_download_name(export: Export) -> str:
    if export.indicator is not None:
        code = "".join(
            ch for ch in export.indicator.code if ch.isascii() and ch.isalnum() or ch == "."
        )
        return f"indicator-{code or export.indicator.id}-round-{export.months}-{export.year}.zip"
    return f"round-{export.months}-{export.year}.zip"


# -- what is recorded ----------------------------------------------------------------------


def record_first_downloads(user_id: int, document_ids) -> None:
    """A Download row for each document this person had not downloaded yet; already there is
    fine, even when two requests race (the database drops the second insert)."""
    ids = sorted(set(document_ids))
    if not ids:
        return
    rows = [{"user_id": user_id, "document_id": i, "first_at": now_utc()} for i in ids]
    table = Download.__table__
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert

        stmt = insert(table).on_conflict_do_nothing()
    elif dialect in ("mysql", "mariadb"):
        from sqlalchemy.dialects.mysql import insert

        stmt = insert(table)
        stmt = stmt.on_duplicate_key_update(first_at=table.c.first_at)  # keep the first time
    else:
        from sqlalchemy.dialects.sqlite import insert

        stmt = insert(table).on_conflict_do_nothing()
    db.session.execute(stmt, rows)


def record_export(user_id: int, export: Export, indicator_id: int | None, code: str) -> None:
    """After the last byte left: the Download rows and one audit entry, in one transaction.
    A download broken off halfway records nothing, so 'only what I have not yet downloaded'
    offers those documents again. Ids only: the request's session (and its rows) is gone."""
    record_first_downloads(user_id, [m.document_id for m in export.members])
    user = db.session.get(User, user_id)
    params = {"round": export.months, "year": export.year, "count": len(export.members)}
    if indicator_id is not None:
        audit.record(
            "indicator_exported",
            actor=user,
            obj=db.session.get(Indicator, indicator_id),
            indicator_id=indicator_id,
            code=code,
            **params,
        )
    else:
        audit.record("round_exported", actor=user, **params)
    db.session.commit()


# -- ส่งระบบ สพฐ. แล้ว ---------------------------------------------------------------------


def set_handed_over(user: User, round_row: Round, handed_over: bool) -> None:
    """Mark (or unmark) a round as handed to the national system, with the moment and who.

    Allowed in a closed year too: the hand-over is often done after the year is closed,
    and the mark changes no document.
    """
    if not user.is_admin:
        raise RuleError(_l("เฉพาะผู้ดูแลระบบเท่านั้นที่บันทึกการส่งระบบ สพฐ. ได้"), status=403)
    key = (Round.fiscal_year == round_row.fiscal_year, Round.months == round_row.months)
    if handed_over:
        moment = now_utc()
        # Conditional, so two officers marking at once record one hand-over, not two.
        changed = db.session.execute(
            update(Round)
            .where(*key, Round.handed_over_at.is_(None))
            .values(handed_over_at=moment, handed_over_by_id=user.id)
        ).rowcount
        if changed != 1:
            db.session.rollback()
            raise RuleError(_l("รอบนี้บันทึกว่าส่งระบบ สพฐ. แล้ว"))
        action, params = "round_handed_over", {"on": bangkok_date(moment).isoformat()}
    else:
        changed = db.session.execute(
            update(Round)
            .where(*key, Round.handed_over_at.is_not(None))
            .values(handed_over_at=None, handed_over_by_id=None)
        ).rowcount
        if changed != 1:
            db.session.rollback()
            raise RuleError(_l("รอบนี้ยังไม่ได้บันทึกว่าส่งระบบ สพฐ."))
        action, params = "round_handover_undone", {}
    audit.record(action, actor=user, round=round_row.months, year=round_row.fiscal_year, **params)
    db.session.commit()
