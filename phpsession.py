"""Reading the portal's own PHP session: find it by its id, decode it, never trust its shape.

The id comes from a cookie, so it is checked against the characters and lengths PHP itself
generates before it becomes part of a file name or a Redis key. The data is decoded with
phpserialize without an object hook, so a session holding any object (which in PHP could
run code on unserialize) is refused outright rather than half-read.
"""

import io
import os
import re
import stat
import time

import phpserialize

# PHP's ids: session.sid_length 22..256 of [0-9a-zA-Z,-] (sid_bits_per_character 4, 5 or 6).
SESSION_ID = re.compile(r"[0-9A-Za-z,-]{22,256}")
HANDLERS = ("php", "php_binary", "php_serialize")
MAX_SESSION_BYTES = 1024 * 1024  # a login session is a few hundred bytes; refuse a flood


class BadSession(ValueError):
    """The stored session cannot be read as plain data; treat the user as logged out."""


def valid_session_id(sid: str | None) -> bool:
    return bool(sid) and SESSION_ID.fullmatch(sid) is not None


def decode(data: bytes, handler: str, charset: str = "utf-8") -> dict:
    """$_SESSION as a dict, for each of PHP's session.serialize_handler formats.

    charset: what the portal's pages are written in; older Thai portals use TIS-620.
    """
    try:
        if handler == "php_serialize":
            value = _load_one(io.BytesIO(data), charset)
            if not isinstance(value, dict):
                raise BadSession("php_serialize data is not an array")
            return value
        if handler == "php":
            return _decode_php(data, charset)
        if handler == "php_binary":
            return _decode_php_binary(data, charset)
    except BadSession:
        raise
    except (ValueError, TypeError, KeyError, IndexError, LookupError, RecursionError) as error:
        raise BadSession(str(error)) from None
    raise BadSession(f"unknown serialize handler {handler!r}")


def _load_one(stream: io.BytesIO, charset: str):
    # No object_hook: phpserialize raises on "O:" and does not know "C:", "r:" or "E:" at all.
    # errors="strict": bytes that are not the charset are refused, not smuggled in as
    # surrogates that the database would choke on.
    return phpserialize.load(
        stream, charset=charset, errors="strict", decode_strings=True, array_hook=dict
    )


def _decode_php(data: bytes, charset: str) -> dict:
    """'name|<serialized>name|<serialized>...': phpserialize reads one value at a time."""
    stream = io.BytesIO(data)
    result = {}
    while stream.tell() < len(data):
        start = stream.tell()
        bar = data.find(b"|", start)
        if bar < 0:
            raise BadSession("php session data: name without a value")
        name = data[start:bar].decode(charset)
        stream.seek(bar + 1)
        result[name] = _load_one(stream, charset)
    return result


def _decode_php_binary(data: bytes, charset: str) -> dict:
    """A length byte, the name, then its serialized value; names are at most 127 bytes."""
    stream = io.BytesIO(data)
    result = {}
    while stream.tell() < len(data):
        length = data[stream.tell()]
        if length > 127:  # PHP's "undefined" flag: a name without a value
            raise BadSession("php_binary session data: undefined variable")
        start = stream.tell() + 1
        name = data[start : start + length].decode(charset)
        stream.seek(start + length)
        result[name] = _load_one(stream, charset)
    return result


def lookup(session: dict, dotted_key: str):
    """$_SESSION['user']['login'] as 'user.login'; None when any step is missing."""
    value = session
    for part in dotted_key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


class FileStore:
    """session.save_handler = files: '<save_path>/sess_<id>', or 'N;/path' with N levels."""

    def __init__(self, save_path: str, max_age: int):
        depth, _semi, path = save_path.rpartition(";")
        levels = depth.split(";", 1)[0]
        self.depth = int(levels) if levels.isdigit() else 0
        self.root = path
        self.max_age = max_age

    def read(self, sid: str) -> bytes | None:
        parts = [sid[i] for i in range(self.depth)] + ["sess_" + sid]
        path = os.path.join(self.root, *parts)
        try:
            # Anyone on the server may create files in PHP's sessions folder (mode 1733): a
            # symlink must not lead us elsewhere (O_NOFOLLOW), a FIFO must not hang the
            # worker (O_NONBLOCK), and only a regular file counts.
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as error:  # ELOOP from a symlink, EACCES from wrong permissions
            raise StoreUnavailable(str(error)) from error
        info = os.fstat(fd)
        # PHP writes sess_<id> 0600 as the pool's user, which we run as. Anyone else's file
        # there was planted: a local user could otherwise write "username|s:5:\"admin\"".
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
            os.close(fd)
            raise StoreUnavailable(f"{path} is not a session file PHP wrote for us")
        with os.fdopen(fd, "rb") as f:
            if self.max_age and time.time() - info.st_mtime > self.max_age:
                return None
            try:
                return f.read(MAX_SESSION_BYTES + 1)
            except OSError as error:
                raise StoreUnavailable(str(error)) from error


class RedisStore:
    """session.save_handler = redis (phpredis): key '<prefix><id>', expired by Redis itself."""

    def __init__(self, url: str, prefix: str):
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.prefix = prefix

    def read(self, sid: str) -> bytes | None:
        import redis

        try:
            return self.client.get(self.prefix + sid)
        except redis.RedisError as error:
            raise StoreUnavailable(str(error)) from error


class StoreUnavailable(RuntimeError):
    """The session store could not be asked (Redis down, folder unreadable): not 'logged out'."""


def read_session(store, sid: str | None, handler: str, charset: str = "utf-8") -> dict | None:
    """The portal's $_SESSION for this id, or None for a bad id, no session or bad data."""
    if not valid_session_id(sid):
        return None
    data = store.read(sid)
    if not data or len(data) > MAX_SESSION_BYTES:
        return None
    try:
        return decode(data, handler, charset)
    except BadSession:
        return None
