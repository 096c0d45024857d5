"""Tiny but genuinely valid files of every allowed type, built in code for upload tests."""

import io
import struct
import zipfile
import zlib

SAMPLE_EXTENSIONS = [
    "pdf",
    "doc",
    "docx",
    "xls",
    "xlsx",
    "ppt",
    "pptx",
    "odt",
    "ods",
    "odp",
    "jpg",
    "png",
    "zip",
    "txt",
    "csv",
]

THAI_TEXT = "รายงานผลการดำเนินงานตามตัวชี้วัด 1.1.1 รอบ 6 เดือน\n"
THAI_CSV = "ตัวชี้วัด,รอบ,ผลการดำเนินงาน\n1.1.1,6 เดือน,ผ่านเกณฑ์\n"


def _pdf() -> bytes:
    """One page saying "Report", with an xref table whose offsets are computed, not typed."""
    content = b"BT /F1 24 Tf 20 40 Td (Report) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


MINIMAL_PDF = _pdf()


def _png() -> bytes:
    """A 1x1 white greyscale pixel."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff"))
        + chunk(b"IEND", b"")
    )


def _jpg() -> bytes:
    """A 1x1 grey baseline JPEG: one-code Huffman tables, one block of DC 0 and end-of-block."""

    def segment(marker: int, payload: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload

    one_code = bytes([1] + [0] * 15) + b"\x00"  # a single 1-bit code "0" for symbol 0
    return (
        b"\xff\xd8"
        + segment(0xDB, b"\x00" + b"\x01" * 64)
        + segment(0xC0, struct.pack(">BHHB", 8, 1, 1, 1) + b"\x01\x11\x00")
        + segment(0xC4, b"\x00" + one_code)
        + segment(0xC4, b"\x10" + one_code)
        + segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
        + b"\x3f"  # bits 0 (DC category 0) and 0 (EOB), padded with ones
        + b"\xff\xd9"
    )


def _zip(members: dict[str, bytes | str], first_stored: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            # A fixed date keeps the bytes identical from run to run.
            info = zipfile.ZipInfo(name, date_time=(2024, 10, 1, 0, 0, 0))
            stored = name == first_stored
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_PACKAGE = "http://schemas.openxmlformats.org/package/2006"
_OFFICE = "http://schemas.openxmlformats.org/officeDocument/2006"
_OOXML_MAIN = {
    "docx": ("word/document.xml", "wordprocessingml.document.main+xml"),
    "xlsx": ("xl/workbook.xml", "spreadsheetml.sheet.main+xml"),
    "pptx": ("ppt/presentation.xml", "presentationml.presentation.main+xml"),
}
_OOXML_BODY = {
    "docx": '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
    f"<w:body><w:p><w:r><w:t>{THAI_TEXT.strip()}</w:t></w:r></w:p></w:body></w:document>",
    "xlsx": '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    f' xmlns:r="{_OFFICE}/relationships"><sheets>'
    '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "pptx": '<p:presentation xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main">'
    '<p:sldSz cx="9144000" cy="6858000"/><p:notesSz cx="6858000" cy="9144000"/>'
    "</p:presentation>",
}


def _relationships(*targets: tuple[str, str]) -> str:
    links = "".join(
        f'<Relationship Id="rId{number}" Type="{_OFFICE}/relationships/{kind}" Target="{target}"/>'
        for number, (kind, target) in enumerate(targets, 1)
    )
    return f'{_XML}<Relationships xmlns="{_PACKAGE}/relationships">{links}</Relationships>'


def _ooxml(ext: str) -> bytes:
    """The smallest package of its kind: content types, package relationships, main part."""
    main, main_type = _OOXML_MAIN[ext]
    overrides = {main: main_type}
    parts = {main: _XML + _OOXML_BODY[ext]}
    if ext == "xlsx":
        # Excel refuses a workbook without a sheet.
        overrides["xl/worksheets/sheet1.xml"] = "spreadsheetml.worksheet+xml"
        parts["xl/_rels/workbook.xml.rels"] = _relationships(("worksheet", "worksheets/sheet1.xml"))
        parts["xl/worksheets/sheet1.xml"] = (
            f'{_XML}<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            "<sheetData/></worksheet>"
        )
    types = "".join(
        f'<Override PartName="/{name}"'
        f' ContentType="application/vnd.openxmlformats-officedocument.{kind}"/>'
        for name, kind in overrides.items()
    )
    content_types = (
        f'{_XML}<Types xmlns="{_PACKAGE}/content-types">'
        '<Default Extension="rels"'
        ' ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        f'<Default Extension="xml" ContentType="application/xml"/>{types}</Types>'
    )
    return _zip(
        {
            "[Content_Types].xml": content_types,
            "_rels/.rels": _relationships(("officeDocument", main)),
            **parts,
        }
    )


_ODF_BODY = {
    "odt": ("text", f"<text:p>{THAI_TEXT.strip()}</text:p>"),
    "ods": (
        "spreadsheet",
        '<table:table table:name="Sheet1"><table:table-row><table:table-cell/>'
        "</table:table-row></table:table>",
    ),
    "odp": ("presentation", '<draw:page draw:name="page1" draw:master-page-name="Default"/>'),
}


def _odf(ext: str) -> bytes:
    """mimetype first and uncompressed, as the ODF spec requires, then manifest and content."""
    kind, body = _ODF_BODY[ext]
    mimetype = f"application/vnd.oasis.opendocument.{kind}"
    ns = "urn:oasis:names:tc:opendocument:xmlns"
    manifest = (
        f'{_XML}<manifest:manifest xmlns:manifest="{ns}:manifest:1.0" manifest:version="1.2">'
        f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{mimetype}"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    content = (
        f'{_XML}<office:document-content xmlns:office="{ns}:office:1.0"'
        f' xmlns:text="{ns}:text:1.0" xmlns:table="{ns}:table:1.0"'
        f' xmlns:draw="{ns}:drawing:1.0" office:version="1.2">'
        f"<office:body><office:{kind}>{body}</office:{kind}></office:body>"
        "</office:document-content>"
    )
    return _zip(
        {"mimetype": mimetype, "META-INF/manifest.xml": manifest, "content.xml": content},
        first_stored="mimetype",
    )


_SECTOR = 512
_FREESECT, _ENDOFCHAIN, _FATSECT, _DIFSECT = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFC


def _directory_entry(name: str, kind: int, *, right=_FREESECT, child=_FREESECT, start=0, size=0):
    encoded = (name + "\0").encode("utf-16-le") if name else b""
    return struct.pack(
        "<64sHBBIII16sIQQIQ",
        encoded,
        len(encoded),
        kind,
        1,  # black
        _FREESECT,
        right,
        child,
        b"",
        0,
        0,
        0,
        start,
        size,
    )


def compound_file(stream_names, *, stream_size: int = 4096, padding_sectors: int = 0) -> bytes:
    """A version-3 OLE2 compound file whose root holds the named zero-filled streams.

    Sectors: FAT, then DIFAT, then `padding_sectors` free ones, the directory, the streams.
    Enough padding pushes the directory past what the header's 109 FAT locations cover,
    so a reader must follow the DIFAT chain to find it.
    """
    # Streams under 4096 bytes belong in the mini stream, which this writer does not build.
    assert stream_size == 0 or stream_size >= 4096
    per_sector = _SECTOR // 4
    names = sorted(stream_names, key=lambda name: (len(name), name.upper()))  # the CFB order
    dir_sectors = -(-(len(names) + 1) // 4)
    data_sectors = -(-stream_size // _SECTOR)
    body = padding_sectors + dir_sectors + data_sectors * len(names)
    n_fat = n_difat = 0
    while True:  # the FAT must also map its own sectors and the DIFAT's
        fat = -(-(n_fat + n_difat + body) // per_sector)
        difat = -(-max(0, fat - 109) // (per_sector - 1))
        if (fat, difat) == (n_fat, n_difat):
            break
        n_fat, n_difat = fat, difat

    table = [_FREESECT] * (n_fat * per_sector)
    table[:n_fat] = [_FATSECT] * n_fat
    table[n_fat : n_fat + n_difat] = [_DIFSECT] * n_difat

    def chain(start: int, count: int) -> int:
        for index in range(start, start + count):
            table[index] = index + 1 if index + 1 < start + count else _ENDOFCHAIN
        return start if count else _ENDOFCHAIN

    first_dir = chain(n_fat + n_difat + padding_sectors, dir_sectors)
    entries = [
        _directory_entry("Root Entry", 5, child=1 if names else _FREESECT, start=_ENDOFCHAIN)
    ]
    next_free = first_dir + dir_sectors
    for number, name in enumerate(names, 1):
        start = chain(next_free, data_sectors)
        next_free += data_sectors
        right = number + 1 if number < len(names) else _FREESECT
        entries.append(_directory_entry(name, 2, right=right, start=start, size=stream_size))
    unused = _directory_entry("", 0)
    entries += [unused] * (dir_sectors * 4 - len(entries))

    locations = list(range(n_fat))
    difat_sectors = []
    for number in range(n_difat):
        listed = locations[109 + number * 127 : 109 + (number + 1) * 127]
        following = n_fat + number + 1 if number + 1 < n_difat else _ENDOFCHAIN
        slots = listed + [_FREESECT] * (127 - len(listed)) + [following]
        difat_sectors.append(struct.pack(f"<{per_sector}I", *slots))
    header_difat = locations[:109] + [_FREESECT] * (109 - min(n_fat, 109))
    header = struct.pack(
        "<8s16s5H6s9I109I",
        bytes.fromhex("d0cf11e0a1b11ae1"),
        b"",
        0x3E,
        3,
        0xFFFE,
        9,
        6,
        b"",
        0,
        n_fat,
        first_dir,
        0,
        4096,
        _ENDOFCHAIN,
        0,
        n_fat if n_difat else _ENDOFCHAIN,
        n_difat,
        *header_difat,
    )
    return b"".join(
        [
            header,
            struct.pack(f"<{len(table)}I", *table),
            *difat_sectors,
            bytes(padding_sectors * _SECTOR),
            *entries,
            bytes(data_sectors * len(names) * _SECTOR),
        ]
    )


_OLE_STREAM = {"doc": "WordDocument", "xls": "Workbook", "ppt": "PowerPoint Document"}


def sample_bytes(ext: str) -> bytes:
    """A minimal valid file for `ext` (any of SAMPLE_EXTENSIONS, "jpeg", or "csv-cp874")."""
    if ext == "pdf":
        return MINIMAL_PDF
    if ext in _OLE_STREAM:
        return compound_file([_OLE_STREAM[ext]])
    if ext in _OOXML_MAIN:
        return _ooxml(ext)
    if ext in _ODF_BODY:
        return _odf(ext)
    if ext in ("jpg", "jpeg"):
        return _jpg()
    if ext == "png":
        return _png()
    if ext == "zip":
        return _zip({"อ่านก่อน.txt": THAI_TEXT})
    if ext == "txt":
        return THAI_TEXT.encode()
    if ext == "csv":
        return THAI_CSV.encode("utf-8-sig")  # Excel's "CSV UTF-8" starts with a BOM
    if ext == "csv-cp874":
        return THAI_CSV.encode("cp874")
    raise KeyError(ext)
