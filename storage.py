"""The one place that writes, reads and deletes uploaded files."""

import contextlib
import errno
import fcntl
import hashlib
import io
import os
import re
import secrets
import stat
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from flask import Request, current_app, has_app_context
from werkzeug.formparser import FormDataParser, MultiPartParser

from filetypes import clean_filename, detect

_CHUNK = 1 << 16
# A file part of the request body stays in memory up to this size (as Werkzeug's own spool
# does), then goes to disk: no descriptor and no disk for the many small parts of a form.
_SPOOL_IN_MEMORY = 512 * 1024
# How much of the request body the form parser asks for at a time. gunicorn receives up to
# 1 MiB at once and copies what a smaller read leaves over back into its buffer: reading
# 64 KiB at a time (Werkzeug's default) copied each byte of a 200 MB upload about 16 times.
# Werkzeug refuses (413) a read that would take its parser's buffer past
# MAX_FORM_MEMORY_SIZE (500 KB by default), so at most half of that.
_PARSE_CHUNK = 256 * 1024
_BODY_READ = 1 << 20
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

    def spool(self) -> "Spool | None":
        """Somewhere for a file part of a request body, in .incoming/ (see Spool)."""
        if not _TMPFILE:
            return None
        return Spool(self.incoming)

    def save(self, stream, original_name: str) -> StoredFile:
        """Copy `stream` in, check it is what its name says, and file it; RejectedFile if not.

        A Spool this storage made is not copied: its bytes are already in .incoming/, hashed
        as they arrived, and are linked there under a name, checked, synced and renamed,
        exactly as a copy would be.
        """
        original_name = clean_filename(original_name)
        _, dot, ext = original_name.rpartition(".")
        ext = ext.lower() if dot else ""
        if isinstance(stream, Spool) and stream.folder == self.incoming:
            stored = self._save_spool(stream, original_name, ext)
            if stored is not None:
                return stored
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

    def _save_spool(self, spool: "Spool", original_name: str, ext: str) -> StoredFile | None:
        """File a spooled part in place; None when it must be copied like any stream."""
        if spool.error is not None:
            raise spool.error  # the disk filled (or failed) while it arrived; nothing is kept
        if spool.size > self.max_bytes:
            raise FileTooLarge(self.max_bytes)
        if not spool.whole():
            return None  # still in memory, already filed, or written out of order
        incoming = final = None
        try:
            incoming = spool.link(self.incoming)
            if incoming is None:
                return None  # no /proc to link through: copy it instead
            content_type = detect(incoming, ext)
            os.fsync(spool.fileno())
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
        spool.filed = True
        return StoredFile(stored_name, original_name, spool.size, spool.sha256, content_type)

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


# Anonymous files (Linux 3.11+, on ext4, xfs, btrfs, tmpfs): gone with the process, however
# it ends. Elsewhere request bodies are spooled by Werkzeug, to TMPDIR, and copied in.
_TMPFILE = getattr(os, "O_TMPFILE", 0)
# Shared by every upload of the process; each spool waits for its last piece before handing
# on the next, so one digest never sees two pieces at once, nor out of order.
_HASHING = ThreadPoolExecutor(max_workers=2, thread_name_prefix="upload-sha256")


class Spool:
    """One file part of a request body, written into the upload folder as it arrives.

    In memory up to _SPOOL_IN_MEMORY, then an anonymous file (O_TMPFILE) in .incoming/,
    so on the upload folder's own disk: Storage.save() links it under a name and renames
    it into place instead of copying it. Hashed on the way in. A killed worker leaves
    nothing behind (the file has no name until save()); a disk that fills up (or fails)
    while the part arrives gives its space back at once, and the error waits for save() to
    raise it, so the request's other files are still stored and the answer is the usual
    one (507 and its Thai words) for this file alone.
    """

    def __init__(self, folder: str):
        self.folder = folder
        self.file: io.BytesIO | io.FileIO = io.BytesIO()
        self.size = 0
        self.error: OSError | None = None
        self.filed = False
        self._digest = hashlib.sha256()
        self._hashing: Future | None = None
        self._in_order = True  # every byte written once, in order: the digest is the file's

    # -- what the form parser calls ----------------------------------------------------

    def write(self, data) -> int:
        n = len(data)
        if self.error is not None:
            return n  # the rest of the part is read and dropped; save() raises the error
        if self._in_order and self.file.tell() != self.size:
            self._in_order = False
        try:
            if isinstance(self.file, io.BytesIO) and self.size + n > _SPOOL_IN_MEMORY:
                self._to_disk()
            _write_all(self.file, data)
        except OSError as error:
            self._fail(error)
            return n
        self.size += n
        self._wait_for_hash()
        if isinstance(self.file, io.BytesIO):
            self._digest.update(data)
        else:
            # On the other core while the next piece arrives (sha256 lets go of the GIL);
            # one piece at most in flight, so nothing piles up in memory.
            self._hashing = _HASHING.submit(self._digest.update, data)
        return n

    def _wait_for_hash(self) -> None:
        if self._hashing is not None:
            self._hashing.result()
            self._hashing = None

    def _to_disk(self) -> None:
        try:
            disk = io.FileIO(os.open(self.folder, _TMPFILE | os.O_RDWR, 0o600), "r+")
        except OSError as error:
            if error.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                raise
            # A filesystem without anonymous files: TMPDIR's, copied in by save().
            disk = tempfile.TemporaryFile(buffering=0)
        try:
            _write_all(disk, self.file.getbuffer())
        except BaseException:
            disk.close()
            raise
        position = self.file.tell()
        self.file = disk
        self.file.seek(position)

    def _fail(self, error: OSError) -> None:
        self.error = error
        with contextlib.suppress(OSError):
            self.file.close()  # an anonymous file: its blocks are freed now
        self.file = io.BytesIO()

    # -- what readers of the upload call (FileStorage passes everything else on) ----------

    def read(self, size: int = -1) -> bytes:
        if self.error is not None:
            raise self.error
        return self.file.read(size)

    def readline(self, size: int = -1) -> bytes:
        if self.error is not None:
            raise self.error
        return self.file.readline(size)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self.file.seek(offset, whence)

    def tell(self) -> int:
        return self.file.tell()

    def close(self) -> None:
        self.file.close()

    @property
    def closed(self) -> bool:
        return self.file.closed

    def __getattr__(self, name):
        if name == "file":
            raise AttributeError(name)
        return getattr(self.file, name)

    # -- what Storage.save() calls ------------------------------------------------------------

    @property
    def sha256(self) -> str:
        self._wait_for_hash()
        return self._digest.hexdigest()

    def whole(self) -> bool:
        """On disk, written in order, not filed yet: ready to be linked in place."""
        return not isinstance(self.file, io.BytesIO) and self._in_order and not self.filed

    def link(self, folder: str) -> str | None:
        """Give the anonymous file a temporary name in `folder`; None without /proc."""
        try:
            # linkat(AT_SYMLINK_FOLLOW) through /proc: a plain link() (what os.link does
            # without a directory descriptor) would try to link the magic link itself.
            descriptors = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return None
        try:
            while True:
                path = os.path.join(folder, f"tmp{secrets.token_hex(8)}")
                try:
                    os.link(str(self.file.fileno()), path, src_dir_fd=descriptors)
                except FileExistsError:
                    continue
                except OSError as error:
                    if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO):
                        raise
                    return None  # e.g. TMPDIR's file on another disk (EXDEV)
                return path
        finally:
            os.close(descriptors)


def _write_all(out, data) -> None:
    view = memoryview(data)
    while view:
        view = view[out.write(view) :]


class _FormDataParser(FormDataParser):
    def _parse_multipart(self, stream, mimetype, content_length, options):
        parser = MultiPartParser(
            stream_factory=self.stream_factory,
            max_form_memory_size=self.max_form_memory_size,
            max_form_parts=self.max_form_parts,
            cls=self.cls,
            buffer_size=min(_PARSE_CHUNK, (self.max_form_memory_size or 1 << 30) // 2),
        )
        boundary = options.get("boundary", "").encode("ascii")
        if not boundary:
            raise ValueError("Missing boundary")
        form, files = parser.parse(_LargeReads(stream.read), boundary, content_length)
        return stream, form, files


class _LargeReads:
    """Hands the form parser its pieces out of mebibyte reads of the body.

    gunicorn receives a mebibyte at once and, asked for less, copies what is left back into
    its buffer on every read; the parser may not ask for more (its piece is bounded by
    MAX_FORM_MEMORY_SIZE). Reading what gunicorn received whole and cutting it up here
    copies each byte once instead.
    """

    def __init__(self, read):
        self._read = read
        self._data = b""
        self._at = 0

    def read(self, size: int) -> bytes:
        if self._at >= len(self._data):
            self._data = self._read(_BODY_READ)
            self._at = 0
        piece = self._data[self._at : self._at + size]
        self._at += len(piece)
        return piece


class UploadRequest(Request):
    """The app's request: file parts go straight into the upload folder (Spool), read from
    the body a mebibyte at a time. Without O_TMPFILE, Werkzeug's spool in TMPDIR as before."""

    form_data_parser_class = _FormDataParser

    def _get_file_stream(
        self, total_content_length, content_type, filename=None, content_length=None
    ):
        files = current_app.extensions.get("reports_storage") if has_app_context() else None
        try:
            spool = files.spool() if files is not None else None
        except OSError:
            spool = None  # the folder is gone or out of descriptors: TMPDIR, as ever
        if spool is None:
            return super()._get_file_stream(
                total_content_length, content_type, filename, content_length
            )
        return spool


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
