"""The one place that writes, reads and deletes uploaded files."""

import contextlib
import hashlib
import os
import re
import secrets
import tempfile
from dataclasses import dataclass

from filetypes import clean_filename, detect

_CHUNK = 1 << 16
# Only names save() generates: 32 hex digits and a short extension, so no database value can
# climb out of the root. Deliberately not tied to ALLOWED_EXTENSIONS: narrowing that list later
# must not make files already stored unreadable.
_STORED_NAME = re.compile(r"[0-9a-f]{32}\.[a-z0-9]{1,8}")


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
        self.incoming = os.path.join(self.root, ".incoming")
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
        if not isinstance(stored_name, str) or not _STORED_NAME.fullmatch(stored_name):
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
        """Remove the file; already gone is fine, so a retried cleanup never fails."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(stored_name))


def _fsync_directory(path: str) -> None:
    # Without this a power cut right after the commit can lose the rename, leaving a row
    # whose file never existed.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
