"""The hostile-input corpus (tests/data/hostile/) and the bytes of files whose content lies.

The corpus is JSON so that NUL, CR/LF, bidirectional overrides and lone surrogates are stored
exactly; a 10 000-character value is written as {"repeat", "times", "prefix", "suffix"} so the
files stay readable. Text families go into every form field; name families are upload names.
"""

import io
import json
import os
import zipfile

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "hostile")
TEXT_FAMILIES = (
    "control_characters",
    "nul",
    "crlf",
    "rtl_override",
    "long_strings",
    "sql_injection",
    "template_injection",
    "html_script",
    "thai_combining",
    "emoji",
)
NAME_FAMILIES = (
    "dot_dot_paths",
    "absolute_paths",
    "windows_reserved",
    "only_dots",
    "long_names_300_bytes",
    "trailing_spaces_dots",
)
MIN_PER_FAMILY = 20


def _value(item) -> str:
    if isinstance(item, str):
        return item
    return item.get("prefix", "") + item["repeat"] * item["times"] + item.get("suffix", "")


def families() -> list[str]:
    return sorted(name[:-5] for name in os.listdir(HERE) if name.endswith(".json"))


def load(family: str) -> list[str]:
    with open(os.path.join(HERE, family + ".json"), encoding="utf-8") as f:
        data = json.load(f)
    assert data["family"] == family
    return [_value(item) for item in data["values"]]


def encode(value: str) -> bytes:
    """As a hostile client sends it: a lone surrogate becomes the invalid UTF-8 it would be."""
    return value.encode("utf-8", "surrogatepass")


# --- contents that lie ----------------------------------------------------------------------

HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
    b"<script>alert(2)</script></svg>"
)
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 200
PE = (
    b"MZ\x90\x00"
    + b"\x00" * 56
    + b"\x80\x00\x00\x00"
    + b"\x00" * 64
    + b"PE\x00\x00"
    + b"\x00" * 200
)


def _zip(members: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method, compresslevel=9) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


_bombs: dict[str, bytes] = {}


def zip_bomb(looks_like_xlsx: bool) -> bytes:
    """100 MB of zeros in a ~100 KB archive; as an .xlsx, the workbook part itself is the bomb."""
    key = "xlsx" if looks_like_xlsx else "plain"
    if key not in _bombs:
        zeros = bytes(100 * 1024 * 1024)
        members = {"xl/workbook.xml": zeros} if looks_like_xlsx else {"zeros.bin": zeros}
        if looks_like_xlsx:
            members = {"[Content_Types].xml": b"<Types/>", **members}
        _bombs[key] = _zip(members)
    return _bombs[key]


def lying_contents() -> list[tuple[str, str, bytes]]:
    """(id, file name, content): every one claims to be something it is not, or is empty."""
    pdf_polyglot = b"%PDF-1.4\n%<html><script>alert(1)</script>\n1 0 obj<<>>endobj\n%%EOF\n"
    return [
        ("html_named_pdf", "report.pdf", HTML),
        ("html_bom_named_pdf", "report.pdf", b"\xef\xbb\xbf" + HTML),
        ("html_named_docx", "report.docx", HTML),
        ("html_named_txt", "report.txt", HTML),
        ("svg_script_named_pdf", "<svg onload=alert(1)>.pdf", SVG),
        ("svg_script_named_png", "image.png", SVG),
        ("svg_script_named_jpg", "image.jpg", SVG),
        ("svg_named_svg", "image.svg", SVG),
        ("elf_named_docx", "report.docx", ELF),
        ("pe_named_docx", "report.docx", PE),
        ("pe_named_pdf", "setup.pdf", PE),
        ("elf_named_xlsx", "sheet.xlsx", ELF),
        ("zip_bomb_named_xlsx", "sheet.xlsx", zip_bomb(True)),
        ("zip_bomb_plain_named_xlsx", "sheet.xlsx", zip_bomb(False)),
        ("zip_bomb_named_zip", "archive.zip", zip_bomb(False)),
        ("zip_named_docx", "report.docx", _zip({"readme.txt": b"not a document"})),
        ("docm_macro_named_docx", "report.docx", _zip({"word/vbaProject.bin": PE})),
        ("pdf_html_polyglot", "report.pdf", pdf_polyglot),
        ("png_magic_then_html", "image.png", bytes.fromhex("89504e470d0a1a0a") + HTML),
        ("jpeg_magic_then_php", "image.jpg", b"\xff\xd8\xff\xe0<?php system($_GET[1]); ?>"),
        ("ole_header_only_doc", "report.doc", bytes.fromhex("d0cf11e0a1b11ae1") + b"\x00" * 8),
        ("empty_pdf", "report.pdf", b""),
        ("empty_docx", "report.docx", b""),
        ("csv_formula", "data.csv", b"=cmd|' /C calc'!A0,@SUM(1+1)\n+1,-1\n"),
    ]
