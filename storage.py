"""The one place that writes, reads and deletes uploaded files."""

import contextlib
import fcntl
import hashlib
import os
import re
import secrets
import stat
import tempfile
import time
from dataclasses import dataclass

from filetypes import clean_filename, detect

_CHUNK = 1 << 16
# Only names save() generates: 32 hex digits and a short extension, so no database value can
# climb out of the root. Deliberately not tied to ALLOWED_EXTENSIONS: narrowing that list later
# must not make files already stored unreadable.
_STORED_NAME = re.compile(r"[0-9a-f]{32}\.[a-z0-9]{1,8}")
# Folders of our own inside the root; no stored name starts with a dot, so none is a document.
INCOMING, TRASH, QUARANTINE = ".incoming", ".trash", ".quarantine"


def is_stored_name(name) -> bool:
    return isinstance(name, str) and _STORED_NAME.fullmatch(name) is not None


@dataclass(frozen=True)
class StoredFile:
    stored_name: str
    original_name: str
    size: int
    sha256: str
    content_type: str


class FileTooLarge(Exception):
    """The upload went past max_bytes; the route answers a Thai 413."""

    def __init__(self, max_bytes: int):
        super().__init__(f"upload larger than {max_bytes} bytes")
        self.max_bytes = max_bytes


class Storage:
    """Uploaded files under `root`, each under a generated name; the client's name lives in the DB.

    Contract with the caller: save() first, then write the row and commit; if the commit fails,
    call delete(stored.stored_name). To remove a document, commit the row's deletion first and
    then delete() the file. A crash between the two steps can orphan a file, never a row.
    """

    def __init__(self, root: str, max_bytes: int):
        self.root = os.path.abspath(root)
        self.max_bytes = max_bytes
        # Inside root, so the final os.replace never crosses a filesystem and stays atomic.
        self.incoming = os.path.join(self.root, INCOMING)
        # Made only when first needed: most installations never see it.
        self.trash = os.path.join(self.root, TRASH)
        os.makedirs(self.incoming, exist_ok=True)

    def save(self, stream, original_name: str) -> StoredFile:
        """Copy `stream` in, check it is what its name says, and file it; RejectedFile if not."""
        original_name = clean_filename(original_name)
        _, dot, ext = original_name.rpartition(".")
        ext = ext.lower() if dot else ""
        fd, incoming = tempfile.mkstemp(dir=self.incoming)
        final = None
        try:
            with os.fdopen(fd, "wb") as out:
                size, digest = 0, hashlib.sha256()
                while chunk := stream.read(_CHUNK):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise FileTooLarge(self.max_bytes)
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                content_type = detect(incoming, ext)
                os.fsync(out.fileno())
            # ext passed detect(), so it is one of ALLOWED_EXTENSIONS: nothing else of the client's.
            stored_name = f"{secrets.token_hex(16)}.{ext}"
            final = self.path(stored_name)
            os.replace(incoming, final)
            _fsync_directory(self.root)
        except BaseException:
            for leftover in (incoming, final):
                if leftover:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(leftover)
            raise
        return StoredFile(stored_name, original_name, size, digest.hexdigest(), content_type)

    def path(self, stored_name: str) -> str:
        if not is_stored_name(stored_name):
            raise ValueError(f"not a stored file name: {stored_name!r}")
        return os.path.join(self.root, stored_name)

    def size(self, stored_name: str) -> int | None:
        """The file's size on disk, or None when it is missing (or the name is not ours)."""
        try:
            return os.stat(self.path(stored_name)).st_size
        except (OSError, ValueError):
            return None

    def open(self, stored_name: str):
        return open(self.path(stored_name), "rb")

    def delete(self, stored_name: str) -> None:
        """Remove the file; already gone is fine, so a retried cleanup never fails.

        While a backup runs the file goes to .trash/ instead: the backup's snapshot may have
        been taken before this row's deletion committed, and must still find the bytes.
        """
        path = self.path(stored_name)
        with contextlib.suppress(FileNotFoundError), self._lock() as lock:
            # The backup locks (shared) before its snapshot, and we run after the deletion's
            # commit: if we get the lock, no snapshot that still lists this row is running.
            if _try_exclusive(lock):
                os.unlink(path)
            else:
                os.makedirs(self.trash, exist_ok=True)
                os.replace(path, os.path.join(self.trash, stored_name))

    def open_kept(self, stored_name: str):
        """A document's file from the root, or from .trash/ if it was deleted meanwhile.

        Never through a symbolic link: a link planted in the root must not read other files.
        """
        self.path(stored_name)  # only our names
        for folder in (self.root, self.trash):
            try:
                fd = os.open(os.path.join(folder, stored_name), os.O_RDONLY | os.O_NOFOLLOW)
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise IsADirectoryError(stored_name)
            return os.fdopen(fd, "rb")
        raise FileNotFoundError(stored_name)

    @contextlib.contextmanager
    def hold(self):
        """While inside, deletions keep their files in .trash/ (see delete()).

        A lock the kernel drops when the process ends, however it ends: a killed backup
        never leaves deletions parking files forever.
        """
        with self._lock() as lock:
            fcntl.flock(lock, fcntl.LOCK_SH)
            yield
        self.empty_trash()

    def empty_trash(self) -> int:
        """Remove what deletions parked in .trash/, once no backup can still need it."""
        removed = 0
        with self._lock() as lock:
            if not _try_exclusive(lock):
                return 0  # a backup is running
            # No backup now, and any later one snapshots after these rows were deleted.
            for entry in _entries(self.trash):
                with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                    os.unlink(entry.path)
                    removed += 1
        return removed

    @contextlib.contextmanager
    def _lock(self):
        # On the .incoming folder itself, which always exists: no lock file to create, list
        # or leave behind.
        os.makedirs(self.incoming, exist_ok=True)
        fd = os.open(self.incoming, os.O_RDONLY)
        try:
            yield fd
        finally:
            os.close(fd)

    def sweep_incoming(self, max_age: float) -> list[tuple[str, float]]:
        """Remove temp files older than max_age seconds: writes a killed worker left behind.

        Younger ones may be uploads still being written, so they stay.
        """
        now, removed = time.time(), []
        for entry in _entries(self.incoming):
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode) or now - info.st_mtime <= max_age:
                continue
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed.append((entry.name, now - info.st_mtime))
        return removed

    def quarantine(self, name: str, folder: str) -> str:
        """Move an entry of the root aside into .quarantine/<folder>/; never deletes it.

        A rename, so a symbolic link or a folder moves as itself and nothing is followed.
        """
        # Dot names are allowed (a planted .x is a stray too), our own folders never.
        if name in ("", ".", "..", INCOMING, TRASH, QUARANTINE) or os.sep in name:
            raise ValueError(f"not an entry of the upload folder: {name!r}")
        target = os.path.join(self.root, QUARANTINE, folder)
        os.makedirs(target, exist_ok=True)
        os.replace(os.path.join(self.root, name), os.path.join(target, name))
        return os.path.join(QUARANTINE, folder, name)

    def put(self, stored_name: str, stream, sha256: str, size: int) -> None:
        """File bytes under a known name (a restore), only if they are exactly what is expected.

        Written as save() writes, through .incoming/ and a rename, so no reader ever sees half.
        """
        final = self.path(stored_name)
        fd, incoming = tempfile.mkstemp(dir=self.incoming)
        try:
            with os.fdopen(fd, "wb") as out:
                written, digest = 0, hashlib.sha256()
                while chunk := stream.read(_CHUNK):
                    written += len(chunk)
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if written != size or digest.hexdigest() != sha256:
                raise ValueError(f"{stored_name}: not the bytes the backup recorded")
            if os.path.lexists(final):
                raise FileExistsError(final)
            os.replace(incoming, final)
            _fsync_directory(self.root)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(incoming)
            raise


def _try_exclusive(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _entries(folder: str) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as it:
            return list(it)
    except FileNotFoundError:
        return []


def _fsync_directory(path: str) -> None:
    # Without this a power cut right after the commit can lose the rename, leaving a row
    # whose file never existed.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
