"""Decide whether an uploaded file really is what its extension claims, and clean its name."""

import codecs
import os
import re
import struct
import unicodedata
import zipfile

from flask_babel import lazy_gettext as _l

ALLOWED_EXTENSIONS: dict[str, str] = {
    "pdf": "application/pdf",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt": "application/vnd.ms-powerpoint",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "odp": "application/vnd.oasis.opendocument.presentation",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "zip": "application/zip",
    # detect() appends the charset it found: serving cp874 text as UTF-8 would garble the Thai.
    "txt": "text/plain",
    "csv": "text/csv",
}

_LABELS = {
    "pdf": _l("ไฟล์ PDF"),
    "doc": _l("เอกสาร Word (.doc)"),
    "docx": _l("เอกสาร Word (.docx)"),
    "xls": _l("ไฟล์ Excel (.xls)"),
    "xlsx": _l("ไฟล์ Excel (.xlsx)"),
    "ppt": _l("ไฟล์ PowerPoint (.ppt)"),
    "pptx": _l("ไฟล์ PowerPoint (.pptx)"),
    "odt": _l("เอกสาร OpenDocument (.odt)"),
    "ods": _l("ตารางคำนวณ OpenDocument (.ods)"),
    "odp": _l("งานนำเสนอ OpenDocument (.odp)"),
    "jpg": _l("รูปภาพ JPEG"),
    "jpeg": _l("รูปภาพ JPEG"),
    "png": _l("รูปภาพ PNG"),
    "zip": _l("ไฟล์ ZIP"),
    "txt": _l("ไฟล์ข้อความ (.txt)"),
    "csv": _l("ไฟล์ CSV"),
}
_EMPTY = _l("ไฟล์ว่างเปล่า กรุณาเลือกไฟล์ที่มีเนื้อหาแล้วส่งใหม่")
_ENCRYPTED = _l("ไฟล์นี้ตั้งรหัสผ่านไว้ ผู้รับจะเปิดไม่ได้ กรุณายกเลิกรหัสผ่านแล้วส่งใหม่")

_HEAD = 1024  # PDF readers accept the %PDF- marker anywhere in the first kilobyte
_CHUNK = 1 << 20
_TEXT = ("txt", "csv")
_OLE_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")
_PNG_MAGIC = bytes.fromhex("89504e470d0a1a0a")
_ZIP_STARTS = (b"PK\x03\x04", b"PK\x05\x06")  # a member, or the end record of an empty archive
_OOXML_PARTS = (
    ("word/document.xml", "docx"),
    ("xl/workbook.xml", "xlsx"),
    ("ppt/presentation.xml", "pptx"),
)
_ODF_TYPES = {
    b"application/vnd.oasis.opendocument.text": "odt",
    b"application/vnd.oasis.opendocument.spreadsheet": "ods",
    b"application/vnd.oasis.opendocument.presentation": "odp",
}
# Root-level streams; a password-protected .docx/.xlsx/.pptx is an OLE2 file holding
# EncryptedPackage, and deserves its own message rather than "not an Excel file".
_OLE_STREAMS = (
    ("WordDocument", "doc"),
    ("Workbook", "xls"),
    ("Book", "xls"),
    ("PowerPoint Document", "ppt"),
    ("EncryptedPackage", "encrypted"),
)
# zipfile raises any of these on hostile input; none of them may reach the user as a 500.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    RuntimeError,
    struct.error,
)


class RejectedFile(ValueError):
    """The upload is refused; `message` is lazy Thai text the page shows to the user as is."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def detect(path: str, extension: str) -> str:
    """The content type to store for the file at `path`; RejectedFile unless it is `extension`."""
    ext = extension.lower()
    if ext not in ALLOWED_EXTENSIONS:
        accepted = ", ".join(f".{name}" for name in ALLOWED_EXTENSIONS)
        raise RejectedFile(_l("ไม่รับไฟล์ชนิดนี้ กรุณาส่งไฟล์นามสกุล %(accepted)s", accepted=accepted))
    with open(path, "rb") as f:
        head = f.read(_HEAD)
        if not head:
            raise RejectedFile(_EMPTY)
        actual = _sniff(f, head)
        if ext in _TEXT and actual is None:
            charset = _text_charset(f)
            if charset is None:
                raise RejectedFile(
                    _l(
                        "ไฟล์นี้ไม่ใช่%(claimed)s ที่อ่านได้ กรุณาบันทึกใหม่แบบ UTF-8 แล้วส่งอีกครั้ง",
                        claimed=_LABELS[ext],
                    )
                )
            return f"{ALLOWED_EXTENSIONS[ext]}; charset={charset}"
    if actual == ("jpg" if ext == "jpeg" else ext):
        return ALLOWED_EXTENSIONS[ext]
    if actual == "encrypted":
        raise RejectedFile(_ENCRYPTED)
    if actual is None:
        raise RejectedFile(
            _l(
                "ไฟล์นี้ไม่ใช่%(claimed)s หรือไฟล์อาจเสียหาย กรุณาตรวจสอบไฟล์แล้วส่งใหม่",
                claimed=_LABELS[ext],
            )
        )
    raise RejectedFile(
        _l(
            "ไฟล์นี้ไม่ใช่%(claimed)s แต่เป็น%(actual)s กรุณาแก้นามสกุลไฟล์เป็น .%(suggested)s แล้วส่งใหม่",
            claimed=_LABELS[ext],
            actual=_LABELS[actual],
            suggested=actual,
        )
    )


def _sniff(f, head: bytes) -> str | None:
    """What the content is (an extension, or "encrypted"), or None when it is none we know."""
    if head.startswith(_OLE_MAGIC):
        try:
            return _ole_kind(f)
        except _Corrupt:
            return None
    if head.startswith(_PNG_MAGIC):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if b"%PDF-" in head:
        return "pdf"
    # Requiring the header at offset 0 refuses a program with a zip appended (self-extractor),
    # which zipfile.is_zipfile alone would call a zip.
    if head[:4] in _ZIP_STARTS:
        try:
            return _zip_kind(f)
        except _ZIP_ERRORS:
            return None
    return None


def _zip_kind(f) -> str:
    with zipfile.ZipFile(f) as archive:
        members = archive.infolist()
        names = {member.filename for member in members}
        if "[Content_Types].xml" in names:
            for part, kind in _OOXML_PARTS:
                if part in names:
                    return kind
        if members and members[0].filename == "mimetype":
            with archive.open(members[0]) as member:
                kind = _ODF_TYPES.get(member.read(100))
            if kind:
                return kind
    return "zip"


def _text_charset(f) -> str | None:
    """The charset the whole file decodes in (UTF-8 first), or None for binary or other text."""
    for encoding, charset in (("utf-8-sig", "utf-8"), ("cp874", "windows-874")):
        f.seek(0)
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            while chunk := f.read(_CHUNK):
                if b"\0" in chunk:
                    return None
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return charset
    return None


class _Corrupt(Exception):
    """The compound file contradicts itself; the caller refuses it."""


_ENDOFCHAIN = 0xFFFFFFFE
_NOSTREAM = 0xFFFFFFFF
_STREAM, _ROOT = 2, 5
_HEADER_DIFAT = 109  # FAT sector locations the header itself lists


def _ole_kind(f) -> str | None:
    """Read an OLE2 compound file's directory; every loop is bounded by the file's sector count."""
    f.seek(0)
    header = f.read(512)
    if len(header) < 512:
        raise _Corrupt
    byte_order, shift = struct.unpack_from("<HH", header, 28)
    if byte_order != 0xFFFE or shift not in (9, 12):
        raise _Corrupt
    sector_size = 1 << shift
    n_fat, first_dir = struct.unpack_from("<II", header, 44)
    first_difat = struct.unpack_from("<I", header, 68)[0]
    size = os.fstat(f.fileno()).st_size
    # Sector 0 starts after the header sector; a short last sector is tolerated as writers differ.
    n_sectors = max(0, -(-(size - sector_size) // sector_size))
    per_sector = sector_size // 4

    def sector(index: int) -> bytes:
        if index >= n_sectors:
            raise _Corrupt
        f.seek((index + 1) * sector_size)
        return f.read(sector_size).ljust(sector_size, b"\0")

    if n_fat > n_sectors:
        raise _Corrupt
    fat_sectors = list(struct.unpack_from(f"<{_HEADER_DIFAT}I", header, 76)[:n_fat])
    difat, seen = first_difat, set()
    while len(fat_sectors) < n_fat:
        if difat in seen:
            raise _Corrupt
        seen.add(difat)
        *locations, difat = struct.unpack(f"<{per_sector}I", sector(difat))
        fat_sectors.extend(locations[: n_fat - len(fat_sectors)])

    fat_cache: dict[int, tuple[int, ...]] = {}

    def next_sector(index: int) -> int:
        which, slot = divmod(index, per_sector)
        if which >= len(fat_sectors):
            raise _Corrupt
        if which not in fat_cache:
            fat_cache[which] = struct.unpack(f"<{per_sector}I", sector(fat_sectors[which]))
        return fat_cache[which][slot]

    directory, seen = bytearray(), set()
    current = first_dir
    while current != _ENDOFCHAIN:
        if current in seen:
            raise _Corrupt
        seen.add(current)
        directory += sector(current)
        current = next_sector(current)

    n_entries = len(directory) // 128
    if n_entries == 0 or directory[66] != _ROOT:
        raise _Corrupt
    names, visited = set(), set()
    pending = [struct.unpack_from("<I", directory, 76)[0]]  # the root's children form a tree
    while pending:
        entry = pending.pop()
        if entry == _NOSTREAM:
            continue
        if entry >= n_entries or entry in visited:
            raise _Corrupt
        visited.add(entry)
        offset = entry * 128
        name_length, kind = struct.unpack_from("<HB", directory, offset + 64)
        left, right = struct.unpack_from("<II", directory, offset + 68)
        if name_length > 64 or name_length % 2:
            raise _Corrupt
        if kind == _STREAM:
            raw = directory[offset : offset + max(name_length - 2, 0)]
            names.add(raw.decode("utf-16-le", "replace"))
        pending += (left, right)
    return next((kind for name, kind in _OLE_STREAMS if name in names), None)


_FALLBACK_STEM = "ไฟล์แนบ"
_MAX_NAME_BYTES = 255
_MAX_SUFFIX_BYTES = 32  # longer is no real extension; keeping it would leave no room for the stem
_PATH_SEPARATOR = re.compile(r"[/\\]")
_EDGES = re.compile(r"^[\s.]+|[\s.]+$")
_TAIL = re.compile(r"[\s.]+$")


def clean_filename(name: str) -> str:
    """The client's file name made safe to keep and show: Thai intact, no path, <= 255 bytes."""
    name = unicodedata.normalize("NFC", name or "")
    # Category C covers NUL, CR/LF, bidi overrides that disguise "exe.pdf", and lone surrogates.
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C"))
    # Leading dots go with the stem, so ".pdf" still keeps its extension.
    name = _TAIL.sub("", _PATH_SEPARATOR.split(name)[-1]).lstrip()
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext.encode()) > _MAX_SUFFIX_BYTES:
        stem, dot, ext = name, "", ""
    stem = _truncate(_EDGES.sub("", stem), _MAX_NAME_BYTES - len((dot + ext).encode()))
    return (stem or _FALLBACK_STEM) + dot + ext


def _truncate(text: str, max_bytes: int) -> str:
    if len(text.encode()) <= max_bytes:
        return text
    # Cut on a code point, then back off over combining marks so no Thai vowel or tone mark is
    # separated from its consonant.
    keep = len(text.encode()[:max_bytes].decode("utf-8", "ignore"))
    while 0 < keep and unicodedata.category(text[keep]).startswith("M"):
        keep -= 1
    cut = unicodedata.normalize("NFC", text[:keep])
    while len(cut.encode()) > max_bytes:
        cut = unicodedata.normalize("NFC", cut[:-1])
    return _EDGES.sub("", cut)
