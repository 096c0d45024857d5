"""Read the portal's personnel export (CSV or .xlsx) into staff rows: parsing only, no database.

A problem with the file as a whole (its type, encoding, columns, size) raises RuleError with a
Thai message; a problem with one line rejects that line with a Thai reason and the rest is kept.
"""

import csv
import io
import re
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, time

from flask_babel import lazy_gettext as _l

from errors import RuleError
from models import User
from text import USERNAME, clean_text

MAX_FILE_BYTES = 5 * 1024 * 1024  # a 5,000-person export is well under 1 MB
MAX_ROWS = 5000  # staff lines; an office has hundreds
# What a .xlsx may unpack to, checked before openpyxl reads a byte of it (zip bombs). zipfile
# never inflates a member past the size its directory declares, so the declared sum is a bound.
# A 5,000-person export unpacks to well under 1 MB.
MAX_XLSX_UNCOMPRESSED = 10 * 1024 * 1024
# openpyxl yields every row up to a row number the file names (<row r="...">), blank ones in
# between included, one by one: without a bound a few bytes cost hours.
MAX_XLSX_ROW = 100_000
MAX_XLSX_COLUMNS = 64  # an export's columns; cells further right are never read
HEADER_SEARCH = 10  # non-blank rows that may stand above the header (a title, the export date)
NAME_MAX = User.__table__.c.full_name.type.length
POSITION_MAX = User.__table__.c.position.type.length
DELIMITERS = (",", ";", "\t")

USERNAME_HINT = "A-Z a-z 0-9 . _ @ -"

# Header names, compared after _key(): case, spaces and punctuation do not matter.
_USERNAME = {"username", "user", "login", "loginname", "ชื่อผู้ใช้", "ชื่อผู้ใช้งาน", "รหัสผู้ใช้"}
_FULL_NAME = {"fullname", "displayname", "ชื่อสกุล", "ชื่อนามสกุล"}
# A full name on its own, a first name when the file also has a surname column.
_NAME = {"name", "ชื่อ"}
_FIRST_NAME = {"firstname", "givenname", "ชื่อจริง"}
_SURNAME = {"surname", "lastname", "familyname", "นามสกุล"}
# Both may be present; the group wins, as User.position holds the work group (กลุ่มงาน).
_GROUP = {"group", "workgroup", "กลุ่ม", "กลุ่มงาน"}
_POSITION = {"position", "ตำแหน่ง"}
_ROLES = (
    ("username", _USERNAME),
    ("full", _FULL_NAME),
    ("name", _NAME),
    ("first", _FIRST_NAME),
    ("surname", _SURNAME),
    ("group", _GROUP),
    ("position", _POSITION),
)
_PUNCTUATION = re.compile(r"[\s_\-\u2010-\u2015.:/()*]+")

USERNAME_COLUMN = _l("ชื่อผู้ใช้ (username)")
NAME_COLUMN = _l("ชื่อ-นามสกุล (full name)")


@dataclass(frozen=True)
class Row:
    line: int  # the CSV line or the worksheet row, as the admin sees it in their program
    username: str
    full_name: str
    position: str | None  # None: the file has no position column, so nothing is changed


@dataclass(frozen=True)
class Rejected:
    line: int
    reason: str


@dataclass(frozen=True)
class ParseResult:
    rows: tuple[Row, ...]
    rejected: tuple[Rejected, ...]
    has_position: bool
    # Every valid username of the file, accepted or rejected: a person whose line was
    # rejected (a name too long, say) is still in the export and must never count as missing.
    mentioned: frozenset[str]


@dataclass(frozen=True)
class _Columns:
    username: int
    name: tuple[int, ...]  # one column, or first name and surname joined by a space
    position: int | None


def parse(data: bytes, filename: str) -> ParseResult:
    """The staff lines of an export; RuleError (4xx, Thai) when the file cannot be used."""
    if len(data) > MAX_FILE_BYTES:
        raise RuleError(
            _l("ไฟล์ใหญ่เกิน %(mb)s MB กรุณาตรวจสอบว่าเป็นไฟล์รายชื่อบุคลากร", mb=MAX_FILE_BYTES >> 20),
            status=413,
        )
    _stem, dot, ext = (filename or "").rpartition(".")
    ext = ext.lower() if dot else ""
    if ext == "xlsx":
        records = _xlsx_records(data)
    elif ext == "csv":
        records = _csv_records(_decode(data))
    elif ext == "xls":
        raise RuleError(
            _l("ไฟล์ Excel แบบเก่า (.xls) อ่านไม่ได้ กรุณาบันทึกเป็น .xlsx หรือ CSV แล้วส่งใหม่"), status=400
        )
    else:
        raise RuleError(_l("ไม่รับไฟล์ชนิดนี้ กรุณาส่งไฟล์ .csv หรือ .xlsx"), status=400)
    return _read(records)


# --- reading the file ----------------------------------------------------------------------


def _decode(data: bytes) -> str:
    """BOM: UTF-8; else strict UTF-8; else Windows-874 (TIS-620 plus a few symbols)."""
    if b"\0" in data:  # no text export has NUL; a binary file might still decode as cp874
        raise RuleError(_UNREADABLE_CSV, status=400)
    if data.startswith(b"\xef\xbb\xbf"):
        encodings = ("utf-8-sig",)
    else:
        encodings = ("utf-8", "cp874")
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RuleError(_UNREADABLE_CSV, status=400)


_UNREADABLE_CSV = _l(
    "อ่านไฟล์ CSV นี้ไม่ได้ รองรับเฉพาะ UTF-8 และ TIS-620 (Windows-874) "
    "กรุณาบันทึกเป็น CSV UTF-8 หรือ .xlsx แล้วส่งใหม่"
)


def _csv_records(text: str) -> list[tuple[int, list[str]]]:
    """(line, cells) of the non-blank records, split on the delimiter that finds the header."""
    delimiter = max(DELIMITERS, key=lambda d: _header_score(_csv_rows(text, d, HEADER_SEARCH)))
    return _csv_rows(text, delimiter, HEADER_SEARCH + MAX_ROWS + 1)


def _csv_rows(text: str, delimiter: str, limit: int) -> list[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records, end = [], 0
    try:
        for cells in reader:
            line, end = end + 1, reader.line_num  # a quoted field may span lines
            if any(cell.strip() for cell in cells):
                records.append((line, cells))
                if len(records) >= limit:
                    break
    except csv.Error:  # a field beyond csv's size limit: not an export of names
        raise RuleError(_UNREADABLE_CSV, status=400) from None
    return records


def _xlsx_records(data: bytes) -> list[tuple[int, list[str]]]:
    """(row number, cells) of the first worksheet's non-blank rows, bomb-checked first."""
    import openpyxl  # only imports pay for it

    if not data.startswith(b"PK\x03\x04"):
        raise RuleError(_UNREADABLE_XLSX, status=400)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        raise RuleError(_UNREADABLE_XLSX, status=400) from None
    if unpacked > MAX_XLSX_UNCOMPRESSED:
        raise RuleError(
            _l("ไฟล์ Excel นี้เมื่อแตกออกมีขนาดใหญ่ผิดปกติ จึงไม่เปิดอ่าน กรุณาบันทึกเป็น CSV แล้วส่งใหม่"),
            status=400,
        )
    records = []
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            if not workbook.worksheets:
                raise RuleError(_EMPTY, status=400)
            sheet = workbook.worksheets[0]
            # The sheet's own <dimension> (any size the file likes, A1:XFD1048576 in a few KB)
            # would have openpyxl pad every row to its width, the blank rows it yields up to
            # the last one too: 16,384 cells a row. Our own column cap and row bound instead.
            sheet.reset_dimensions()
            rows = sheet.iter_rows(values_only=True, max_col=MAX_XLSX_COLUMNS)
            for line, values in enumerate(rows, start=1):
                if line > MAX_XLSX_ROW:
                    raise RuleError(_TOO_FAR_DOWN, status=400)
                if values.count(None) == len(values):  # cheap, for the blank rows between
                    continue
                cells = [_cell_text(value) for value in values]
                if any(cell.strip() for cell in cells):
                    records.append((line, cells))
                    if len(records) > HEADER_SEARCH + MAX_ROWS:
                        break
        finally:
            workbook.close()
    except RuleError:
        raise
    except Exception:  # hostile or broken workbooks raise anything at all; never a 500
        raise RuleError(_UNREADABLE_XLSX, status=400) from None
    return records


_UNREADABLE_XLSX = _l(
    "เปิดไฟล์ Excel นี้ไม่ได้ ไฟล์อาจเสียหาย ไม่ใช่ .xlsx หรือตั้งรหัสผ่านไว้ "
    "กรุณาบันทึกใหม่เป็น .xlsx หรือ CSV แล้วส่งอีกครั้ง"
)
_EMPTY = _l("ไม่พบรายชื่อบุคลากรในไฟล์ กรุณาตรวจสอบว่าเลือกไฟล์ถูกต้อง")
_TOO_FAR_DOWN = _l(
    "แผ่นงานแรกของไฟล์ Excel นี้มีข้อมูลเลยแถวที่ %(n)s กรุณาลบแถวท้ายตารางที่ไม่ใช่รายชื่อ หรือบันทึกเป็น CSV แล้วส่งใหม่",
    n=f"{MAX_XLSX_ROW:,}",
)


def _cell_text(value) -> str:
    """A worksheet value as the admin sees it: 1001, not 1001.0."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


# --- the header ----------------------------------------------------------------------------


def _key(text: str) -> str:
    return _PUNCTUATION.sub("", clean_text(text).casefold())


def _roles(cells: list[str]) -> dict[str, int]:
    """Which known column each role is in (the first one, if a name appears twice)."""
    found: dict[str, int] = {}
    for index, cell in enumerate(cells):
        key = _key(cell)
        for role, names in _ROLES:
            if key in names:
                found.setdefault(role, index)
    return found


def _columns(roles: dict[str, int]) -> _Columns | None:
    if "username" not in roles:
        return None
    if "full" in roles:
        name = (roles["full"],)
    elif "surname" in roles and ("first" in roles or "name" in roles):
        name = (roles.get("first", roles.get("name")), roles["surname"])
    elif "name" in roles or "first" in roles:
        name = (roles.get("name", roles.get("first")),)
    else:
        return None
    position = roles.get("group", roles.get("position"))
    return _Columns(roles["username"], name, position)


def _missing_columns(roles: dict[str, int]) -> list[str]:
    missing = [] if "username" in roles else [str(USERNAME_COLUMN)]
    if not {"full", "name", "first"} & set(roles):
        missing.append(str(NAME_COLUMN))
    return missing


def _header_score(records) -> tuple[int, int]:
    """How well the best header candidate matches: required columns first, then all known."""
    best = (0, 0)
    for _line, cells in records[:HEADER_SEARCH]:
        roles = _roles(cells)
        required = ("username" in roles) + bool({"full", "name", "first"} & set(roles))
        best = max(best, (required, len(roles)))
    return best


def _find_header(records) -> tuple[int, _Columns]:
    """The index of the header record and its columns; RuleError naming what is missing."""
    best_roles: dict[str, int] = {}
    for index, (_line, cells) in enumerate(records[:HEADER_SEARCH]):
        roles = _roles(cells)
        columns = _columns(roles)
        if columns is not None:
            return index, columns
        if len(roles) > len(best_roles):
            best_roles = roles
    raise RuleError(
        _l(
            "ไม่พบคอลัมน์ %(columns)s ในแถวหัวตาราง กรุณาใส่หัวคอลัมน์ เช่น username, "
            "ชื่อ-นามสกุล, ตำแหน่ง ในแถวแรกของไฟล์",
            columns=", ".join(_missing_columns(best_roles)),
        ),
        status=400,
    )


# --- the lines -----------------------------------------------------------------------------


def _clean(text: str) -> str:
    """NFC, no control characters, one space between words (exports often pad names)."""
    return " ".join(clean_text(text).split())


def _cell(cells: list[str], index: int | None) -> str:
    return cells[index] if index is not None and index < len(cells) else ""


def _read(records: list[tuple[int, list[str]]]) -> ParseResult:
    if not records:
        raise RuleError(_EMPTY, status=400)
    header, columns = _find_header(records)
    lines = records[header + 1 :]
    if len(lines) > MAX_ROWS:
        raise RuleError(
            _l("ไฟล์มีรายชื่อเกิน %(n)s บรรทัด กรุณาแบ่งเป็นหลายไฟล์แล้วนำเข้าทีละไฟล์", n=MAX_ROWS),
            status=400,
        )
    rows, rejected, first_line = [], [], {}
    for line, cells in lines:
        raw_username = _cell(cells, columns.username).strip()
        full_name = _clean(" ".join(_cell(cells, i) for i in columns.name))
        position = _clean(_cell(cells, columns.position))
        if not (raw_username or full_name or position):
            continue  # only columns we do not read (a running number, say): a blank line
        reason = None
        if not raw_username:
            reason = _l("ไม่มีชื่อผู้ใช้")
        elif not USERNAME.fullmatch(raw_username):
            reason = _l(
                "ชื่อผู้ใช้ %(username)s ไม่ถูกต้อง ใช้ได้เฉพาะ %(allowed)s ไม่เกิน 64 ตัวอักษร",
                username=raw_username[:40],
                allowed=USERNAME_HINT,
            )
        username = raw_username.lower()
        if reason is None:
            if username in first_line:
                reason = _l(
                    "ชื่อผู้ใช้ %(username)s ซ้ำกับบรรทัดที่ %(line)s",
                    username=username,
                    line=first_line[username],
                )
            else:
                first_line[username] = line
        if reason is None:
            if not full_name:
                reason = _l("ไม่มีชื่อ-นามสกุล")
            elif len(full_name) > NAME_MAX:
                reason = _l("ชื่อ-นามสกุลยาวเกิน %(n)s ตัวอักษร", n=NAME_MAX)
            elif len(position) > POSITION_MAX:
                reason = _l("ตำแหน่ง/กลุ่มงานยาวเกิน %(n)s ตัวอักษร", n=POSITION_MAX)
        if reason is not None:
            rejected.append(Rejected(line, str(reason)))
            continue
        has_position = columns.position is not None
        rows.append(Row(line, username, full_name, position if has_position else None))
    if not rows and not rejected:
        raise RuleError(_EMPTY, status=400)
    return ParseResult(
        tuple(rows), tuple(rejected), columns.position is not None, frozenset(first_line)
    )
