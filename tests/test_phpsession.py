"""Reading the portal's PHP sessions: real PHP's own bytes in, plain data out, nothing else."""

import os
import subprocess
import time

import pytest

import phpsession
from phpsession import BadSession, FileStore, RedisStore, StoreUnavailable, decode, read_session

IN_CI = os.environ.get("CI", "").lower() == "true"
SID = "t3stSessionId0123456789abcdef"

# A portal's $_SESSION with every kind of plain value PHP keeps, Thai included.
RICH_SESSION = r"""
$_SESSION["username"] = "somchai";
$_SESSION["fullname"] = "สมชาย ใจดี";
$_SESSION["position"] = "กลุ่มนโยบายและแผน";
$_SESSION["level"] = 3;
$_SESSION["negative"] = -42;
$_SESSION["admin"] = false;
$_SESSION["verified"] = true;
$_SESSION["nothing"] = null;
$_SESSION["score"] = 2.5;
$_SESSION["note"] = 'a|b;c"d}s:1:"x";';
$_SESSION["user"] = [
    "login" => "malee",
    "name" => "มาลี ศรีสุข",
    "groups" => ["กลุ่มบริหารงานบุคคล", "ict"],
    7 => "seven",
];
$_SESSION["empty"] = [];
"""
RICH_DATA = {
    "username": "somchai",
    "fullname": "สมชาย ใจดี",
    "position": "กลุ่มนโยบายและแผน",
    "level": 3,
    "negative": -42,
    "admin": False,
    "verified": True,
    "nothing": None,
    "score": 2.5,
    "note": 'a|b;c"d}s:1:"x";',
    "user": {
        "login": "malee",
        "name": "มาลี ศรีสุข",
        "groups": {0: "กลุ่มบริหารงานบุคคล", 1: "ict"},
        7: "seven",
    },
    "empty": {},
}


def run_php(php, code: str, tmp_path, handler="php", save_path=None, sid=SID) -> bytes:
    """Run `code` inside a started PHP session; what it prints comes back as bytes."""
    ini = {
        "session.save_handler": "files",
        "session.save_path": save_path or str(tmp_path),
        "session.serialize_handler": handler,
        "session.use_cookies": "0",
        "session.use_strict_mode": "0",
        "session.gc_probability": "0",
    }
    args = [php]
    for key, value in ini.items():
        args += ["-d", f'{key}="{value}"']  # quoted: ';' starts an ini comment
    script = f"session_id($argv[1]); session_start(); {code}"
    result = subprocess.run(
        [*args, "-r", script, "--", sid], capture_output=True, timeout=20, check=False
    )
    assert result.returncode == 0 and not result.stderr, result.stderr.decode(errors="replace")
    return result.stdout


def php_encode(php, tmp_path, handler: str, code: str) -> bytes:
    """The bytes PHP itself stores for this $_SESSION under this serialize_handler."""
    return run_php(php, code + " echo session_encode(); session_abort();", tmp_path, handler)


def php_write(php, tmp_path, handler: str, code: str, save_path=None, sid=SID) -> None:
    run_php(php, code + " session_write_close();", tmp_path, handler, save_path, sid)


@pytest.mark.parametrize("handler", phpsession.HANDLERS)
def test_real_php_session_reads_as_plain_data(php, tmp_path, handler):
    """Thai names, numbers, booleans and nested arrays read back as PHP stored them."""
    data = php_encode(php, tmp_path, handler, RICH_SESSION)

    assert decode(data, handler) == RICH_DATA


@pytest.mark.parametrize("handler", phpsession.HANDLERS)
def test_every_truncation_of_real_data_is_refused_or_a_clean_prefix(php, tmp_path, handler):
    """A half-written session file never crashes the reader: it is refused or read in part."""
    data = php_encode(php, tmp_path, handler, RICH_SESSION)

    for end in range(len(data)):
        try:
            partial = decode(data[:end], handler)
        except BadSession:
            continue
        assert isinstance(partial, dict)
        for key, value in partial.items():
            assert RICH_DATA[key] == value, (end, key)


def test_tis620_portal_session_reads_as_thai(php, tmp_path):
    """An older portal writing TIS-620 still shows the right Thai name."""
    code = '$_SESSION["fullname"] = iconv("UTF-8", "TIS-620", "สมชาย ใจดี");'
    data = php_encode(php, tmp_path, "php", code)

    assert "สมชาย".encode() not in data  # really TIS-620 bytes, not UTF-8
    assert decode(data, "php", "tis-620") == {"fullname": "สมชาย ใจดี"}


@pytest.mark.parametrize("handler", phpsession.HANDLERS)
def test_real_php_session_holding_an_object_is_refused(php, tmp_path, handler):
    """A session with an object in it is not half-read: the user counts as logged out."""
    code = '$_SESSION["username"] = "somchai"; $_SESSION["obj"] = new ArrayObject([1]);'
    data = php_encode(php, tmp_path, handler, code)
    assert b"ArrayObject" in data

    with pytest.raises(BadSession):
        decode(data, handler)


@pytest.mark.parametrize("handler", phpsession.HANDLERS)
def test_real_php_session_holding_a_reference_is_refused(php, tmp_path, handler):
    """PHP references (R:/r:) are not plain data; the session is refused, not guessed at."""
    code = '$u = ["login" => "somchai"]; $_SESSION["a"] = &$u; $_SESSION["b"] = &$u;'
    data = php_encode(php, tmp_path, handler, code)
    assert b"R:" in data or b"r:" in data

    with pytest.raises(BadSession):
        decode(data, handler)


# Hand-written values no plain-data session may hold, each placed under every handler.
MALICIOUS_VALUES = {
    "object": b'O:8:"stdClass":1:{s:8:"username";s:5:"admin";}',
    "custom serialized": b'C:11:"ArrayObject":21:{x:i:0;a:0:{};m:a:0:{}}',
    "reference": b'a:2:{i:0;s:5:"admin";i:1;R:2;}',
    "object reference": b"a:2:{i:0;a:0:{}i:1;r:2;}",
    "enum": b'E:11:"Role:Admin";',
    "string longer than the data": b's:999999999999:"admin";',
    "array longer than the data": b"a:999999999999:{i:0;i:1;}",
    "negative length": b's:-1:"";',
    "truncated array": b'a:2:{s:8:"username";s:5:"admin";',
    "truncated string": b's:5:"adm',
    "unknown type": b"X:1;",
    "nothing": b"",
}


def place(handler: str, value: bytes) -> bytes:
    """`value` as the content of $_SESSION['username'] in this handler's layout."""
    if handler == "php":
        return b"username|" + value
    if handler == "php_binary":
        return bytes([len(b"username")]) + b"username" + value
    return b'a:1:{s:8:"username";' + value + b"}"


@pytest.mark.parametrize("handler", phpsession.HANDLERS)
@pytest.mark.parametrize("name", list(MALICIOUS_VALUES))
def test_malicious_session_value_is_refused(handler, name):
    """Objects, references and lying lengths: the user is simply not logged in."""
    started = time.monotonic()

    with pytest.raises(BadSession):
        decode(place(handler, MALICIOUS_VALUES[name]), handler)

    assert time.monotonic() - started < 1  # a huge length is not read or allocated


def test_php_binary_length_byte_above_127_is_refused():
    """PHP's 'undefined variable' flag (length byte >= 128) is refused, not read as a name."""
    name = b"username"
    data = bytes([128 + len(name)]) + name + b's:5:"admin";'

    with pytest.raises(BadSession):
        decode(data, "php_binary")


def test_php_binary_name_longer_than_the_data_is_refused():
    """A length byte promising more name than there is data is refused."""
    with pytest.raises(BadSession):
        decode(bytes([100]) + b"username", "php_binary")


def test_php_handler_name_without_a_value_is_refused():
    """'name' with no '|value' after it is not a session."""
    with pytest.raises(BadSession):
        decode(b'username|s:7:"somchai";fullname', "php")


def test_php_serialize_data_that_is_not_an_array_is_refused():
    """php_serialize stores one array; a bare string is not a session."""
    with pytest.raises(BadSession):
        decode(b's:7:"somchai";', "php_serialize")


def test_bytes_that_are_not_the_charset_are_refused():
    """A value that is not valid UTF-8 is refused rather than passed on half-decoded."""
    with pytest.raises(BadSession):
        decode(b'username|s:2:"\xff\xfe";', "php")


def test_unknown_serialize_handler_is_refused():
    """igbinary and other handlers the module does not read give no login at all."""
    with pytest.raises(BadSession):
        decode(b'username|s:7:"somchai";', "igbinary")


@pytest.mark.parametrize("handler", phpsession.HANDLERS)
def test_deeply_nested_array_is_refused_not_a_crash(handler):
    """A session nested thousands of arrays deep is refused like any other bad session."""
    depth = 5000
    value = b"a:1:{i:0;" * depth + b"i:1;" + b"}" * depth

    with pytest.raises(BadSession):
        decode(place(handler, value), handler)


@pytest.mark.parametrize(
    "sid",
    [
        "a" * 22,
        "Z" * 256,
        "abcDEF0123456789,-abcdef",
        "t3stSessionId0123456789abcdef",
    ],
)
def test_session_ids_php_generates_are_accepted(sid):
    """Every id shape PHP's session.sid_length/sid_bits_per_character can produce is read."""
    assert phpsession.valid_session_id(sid)


@pytest.mark.parametrize(
    "sid",
    [
        None,
        "",
        "a" * 21,
        "a" * 257,
        "../" + "a" * 22,
        "a" * 22 + "/..",
        "a" * 22 + "\n",
        "a" * 22 + "\x00",
        "a" * 22 + " ",
        "a" * 22 + ".",
        "a" * 22 + "%2F",
        "๑" * 22,  # Thai digits are \d in Python, not in PHP's ids
        "ａ" * 22,  # fullwidth letters likewise
    ],
)
def test_session_ids_php_never_generates_are_refused(sid):
    """An id that could be a path, or is not PHP's shape, is refused before any lookup."""
    assert not phpsession.valid_session_id(sid)


class CountingStore:
    """A store answering from a dict, counting what it is asked (a real object, no mock)."""

    def __init__(self, sessions):
        self.sessions = sessions
        self.asked = []

    def read(self, sid):
        self.asked.append(sid)
        return self.sessions.get(sid)


def test_read_session_with_a_bad_id_never_asks_the_store():
    """A forged cookie is refused before it becomes a file name or a Redis key."""
    store = CountingStore({"../etc/passwd": b'username|s:5:"admin";'})

    assert read_session(store, "../etc/passwd", "php") is None
    assert store.asked == []


def test_read_session_refuses_missing_empty_bad_and_oversized_data():
    """No session, an empty one, unreadable data or a flood: all mean 'not logged in'."""
    huge = b'username|s:7:"somchai";pad|s:%d:"%s";' % (
        phpsession.MAX_SESSION_BYTES,
        b"x" * phpsession.MAX_SESSION_BYTES,
    )
    store = CountingStore(
        {
            "a" * 22: b"",
            "b" * 22: b'username|O:8:"stdClass":0:{}',
            "c" * 22: huge,
            "d" * 22: b'username|s:7:"somchai";',
        }
    )

    for sid in ("a" * 22, "b" * 22, "c" * 22, "z" * 22):
        assert read_session(store, sid, "php") is None, sid
    assert read_session(store, "d" * 22, "php") == {"username": "somchai"}


def test_lookup_reaches_into_nested_arrays():
    """'user.login' finds $_SESSION['user']['login']; a missing step gives None."""
    session = {"user": {"login": "somchai", "ids": {0: "x"}}, "flat": "value"}

    assert phpsession.lookup(session, "user.login") == "somchai"
    assert phpsession.lookup(session, "flat") == "value"
    assert phpsession.lookup(session, "user.missing") is None
    assert phpsession.lookup(session, "flat.deeper") is None
    assert phpsession.lookup(session, "user.ids.0") is None  # keys are PHP's ints, not "0"


@pytest.mark.parametrize("handler", phpsession.HANDLERS)
def test_file_store_reads_what_php_wrote(php, tmp_path, handler):
    """A session file written by PHP is found by its id and decoded."""
    php_write(php, tmp_path, handler, RICH_SESSION)
    store = FileStore(str(tmp_path), max_age=1440)

    assert read_session(store, SID, handler) == RICH_DATA


@pytest.mark.parametrize("save_path", ["2;{dir}", "2;0600;{dir}"])
def test_file_store_follows_phps_directory_levels(php, tmp_path, save_path):
    """session.save_path 'N;/path' (and 'N;MODE;/path') finds the file N folders down."""
    root = tmp_path / "sessions"
    (root / SID[0] / SID[1]).mkdir(parents=True)  # PHP needs them made, as its docs say
    save_path = save_path.format(dir=root)
    php_write(php, tmp_path, "php", '$_SESSION["username"] = "somchai";', save_path=save_path)
    assert (root / SID[0] / SID[1] / f"sess_{SID}").is_file()

    assert FileStore(save_path, 1440).read(SID) == b'username|s:7:"somchai";'
    assert FileStore(str(root), 1440).read(SID) is None  # not at the top level


def test_file_store_ignores_a_session_php_would_have_expired(php, tmp_path):
    """A file untouched longer than gc_maxlifetime is not a login any more."""
    php_write(php, tmp_path, "php", '$_SESSION["username"] = "somchai";')
    path = tmp_path / f"sess_{SID}"
    old = time.time() - 1500
    os.utime(path, (old, old))

    assert FileStore(str(tmp_path), max_age=1440).read(SID) is None
    assert FileStore(str(tmp_path), max_age=0).read(SID) == b'username|s:7:"somchai";'


def test_file_store_missing_file_is_no_session(tmp_path):
    """After the portal's logout deletes the file, the id reads as no session."""
    assert FileStore(str(tmp_path), 1440).read(SID) is None
    assert FileStore(str(tmp_path / "gone"), 1440).read(SID) is None


def test_file_store_refuses_a_planted_symlink(php, tmp_path):
    """A symlink named like a session is never followed, even to a valid session."""
    php_write(php, tmp_path, "php", '$_SESSION["username"] = "admin";')
    other = "s" * 26
    os.symlink(tmp_path / f"sess_{SID}", tmp_path / f"sess_{other}")

    with pytest.raises(StoreUnavailable):
        FileStore(str(tmp_path), 1440).read(other)


def test_unreachable_redis_is_store_unavailable_not_logged_out():
    """Redis down is 'cannot tell', which the app shows as a temporary error."""
    store = RedisStore("redis://127.0.0.1:1/0", "PHPREDIS_SESSION:")

    with pytest.raises(StoreUnavailable):
        store.read(SID)
