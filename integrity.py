"""verify-files: does every document's file exist with its recorded bytes, and nothing else?

Safe while the app runs: an upload writes its file a moment before its row commits, and a
deletion removes the row a moment before its file, so neither in-between state is a problem.
"""

import hashlib
import os
import stat
import time
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from extensions import db
from models import Document
from storage import INCOMING, QUARANTINE, TRASH, Storage, is_stored_name

# A temp file this old in .incoming/ is no upload in progress (save() writes it in one go):
# a killed worker left it.
STALE_AFTER = 3600
# A file in the root this young may still be waiting for its row. Its rename and its row's
# commit are one request apart, and a request is killed after 120 s: ten minutes is ample,
# and a planted file is not passed over for long.
STRAY_AFTER = 600
# Dot names in the root that are ours (our folders, the checkout's .gitkeep). No stored name
# starts with a dot, so any other dot entry is a stray however young.
_OWN_DOT_NAMES = frozenset({INCOMING, TRASH, QUARANTINE, ".gitkeep"})
_CHUNK = 1 << 20


@dataclass
class Damaged:
    document_id: int
    title: str
    stored_name: str
    expected_size: int
    expected_sha256: str
    size: int | None = None  # None: not a regular file (a link, a folder)
    sha256: str | None = None


@dataclass
class Report:
    root: str
    checked: int = 0
    missing: list[Damaged] = field(default_factory=list)
    damaged: list[Damaged] = field(default_factory=list)
    unreferenced: list[str] = field(default_factory=list)
    quarantined: dict[str, str] = field(default_factory=dict)  # name -> where it went
    young: int = 0  # files without a row yet, too new to judge
    stale_incoming: list[tuple[str, float]] = field(default_factory=list)
    trash_emptied: int = 0

    @property
    def problems(self) -> int:
        """Left-over temp files are cleaned, not problems: a killed upload is expected."""
        return len(self.missing) + len(self.damaged) + len(self.unreferenced)

    @property
    def good(self) -> int:
        return self.checked - len(self.missing) - len(self.damaged)


def verify(storage: Storage, quarantine: bool = False) -> Report:
    report = Report(storage.root)
    report.stale_incoming = storage.sweep_incoming(STALE_AFTER)
    report.trash_emptied = storage.empty_trash()
    # Listed before the rows are read: a file whose row commits in between is referenced.
    entries = _root_entries(storage.root)
    documents = db.session.execute(
        select(
            Document.id, Document.title, Document.stored_name, Document.size, Document.sha256
        ).order_by(Document.id)
    ).all()
    db.session.commit()  # hashing takes a while; hold no transaction (SQLite's is a write lock)
    referenced = {d.stored_name for d in documents}

    missing = []
    for doc in documents:
        report.checked += 1
        found = Damaged(doc.id, doc.title, doc.stored_name, doc.size, doc.sha256)
        try:
            found.size, found.sha256 = _digest(storage, doc.stored_name)
        except FileNotFoundError:
            missing.append(found)
            continue
        except (IsADirectoryError, ValueError, OSError):  # a link, a folder, a foreign name
            report.damaged.append(found)
            continue
        if (found.size, found.sha256) != (doc.size, doc.sha256):
            report.damaged.append(found)
    # Deleted while we were checking: the row went first, then its file. Not missing.
    report.missing = [m for m in missing if _still_there(m.document_id)]

    now = time.time()
    folder = datetime.now().strftime("%Y%m%d-%H%M%S")
    for name, mtime in entries:
        if name in referenced:
            continue
        if not name.startswith("."):  # a dot name is never a document: no row can come
            if now - mtime <= STRAY_AFTER:
                report.young += 1
                continue
            if _referenced(name):  # its row committed after we read them
                continue
        report.unreferenced.append(name)
        if quarantine:
            report.quarantined[name] = storage.quarantine(name, folder)
    return report


def _root_entries(root: str) -> list[tuple[str, float]]:
    """Every entry of the root that is not ours: files, links and folders alike."""
    with os.scandir(root) as it:
        return sorted(
            (entry.name, entry.stat(follow_symlinks=False).st_mtime)
            for entry in it
            if entry.name not in _OWN_DOT_NAMES
        )


def _digest(storage: Storage, stored_name: str) -> tuple[int, str]:
    """Size and SHA-256 of the file in the root itself (a file parked in .trash/ is missing)."""
    if not is_stored_name(stored_name):
        raise ValueError(stored_name)
    fd = os.open(storage.path(stored_name), os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise IsADirectoryError(stored_name)
        size, digest = 0, hashlib.sha256()
        while chunk := f.read(_CHUNK):
            size += len(chunk)
            digest.update(chunk)
    return size, digest.hexdigest()


def _still_there(document_id: int) -> bool:
    found = db.session.scalar(select(Document.id).where(Document.id == document_id))
    db.session.commit()
    return found is not None


def _referenced(name: str) -> bool:
    found = db.session.scalar(select(Document.id).where(Document.stored_name == name))
    db.session.commit()
    return found is not None
