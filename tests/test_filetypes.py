"""What detect() accepts and refuses, and what clean_filename() makes of a client's file name."""

import io
import random
import struct
import threading
import unicodedata
import zipfile

import pytest
from flask_babel.speaklater import LazyString
from samples import MINIMAL_PDF, SAMPLE_EXTENSIONS, compound_file, sample_bytes

from filetypes import ALLOWED_EXTENSIONS, RejectedFile, clean_filename, detect

SAME_KIND = ({"txt", "csv"}, {"jpg", "jpeg"})


def same_kind(a: str, b: str) -> bool:
    return a == b or any({a, b} <= pair for pair in SAME_KIND)


def write(tmp_path, data: bytes) -> str:
    path = tmp_path / "upload"
    path.write_bytes(data)
    return str(path)


def refusal(tmp_path, data: bytes, ext: str) -> str:
    with pytest.raises(RejectedFile) as caught:
        detect(write(tmp_path, data), ext)
    assert isinstance(caught.value.message, LazyString)
    return str(caught.value.message)


def zip_of(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("ext", SAMPLE_EXTENSIONS)
def test_every_sample_is_accepted_under_its_own_extension(tmp_path, ext):
    content_type = detect(write(tmp_path, sample_bytes(ext)), ext)
    assert content_type.split(";")[0] == ALLOWED_EXTENSIONS[ext]


@pytest.mark.parametrize(
    ("ext", "claimed"),
    [(ext, claimed) for ext in SAMPLE_EXTENSIONS for claimed in ALLOWED_EXTENSIONS],
)
def test_every_sample_is_refused_under_every_other_extension(tmp_path, ext, claimed):
    if same_kind(ext, claimed):
        assert detect(write(tmp_path, sample_bytes(ext)), claimed)
    else:
        refusal(tmp_path, sample_bytes(ext), claimed)


def test_refusal_says_what_the_file_really_is(tmp_path):
    message = refusal(tmp_path, sample_bytes("png"), "pdf")
    assert "ไม่ใช่ไฟล์ PDF" in message and "PNG" in message


def test_office_document_sent_as_zip_is_told_its_real_extension(tmp_path):
    assert ".docx" in refusal(tmp_path, sample_bytes("docx"), "zip")
    assert ".ods" in refusal(tmp_path, sample_bytes("ods"), "zip")


def test_unknown_extension_is_refused_naming_the_accepted_ones(tmp_path):
    message = refusal(tmp_path, MINIMAL_PDF, "exe")
    assert "ไม่รับไฟล์ชนิดนี้" in message and ".pdf" in message and ".xlsx" in message


def test_empty_file_is_refused(tmp_path):
    assert "ไฟล์ว่างเปล่า" in refusal(tmp_path, b"", "pdf")


def test_extension_is_matched_case_insensitively(tmp_path):
    assert detect(write(tmp_path, MINIMAL_PDF), "PDF") == "application/pdf"


def test_pdf_marker_may_sit_anywhere_in_the_first_kilobyte(tmp_path):
    assert detect(write(tmp_path, b"\r\n" * 500 + MINIMAL_PDF), "pdf") == "application/pdf"
    refusal(tmp_path, b"\r\n" * 600 + MINIMAL_PDF, "pdf")


@pytest.mark.parametrize(
    "data",
    [
        sample_bytes("docx")[: len(sample_bytes("docx")) // 2],
        sample_bytes("docx")[:-10],
        b"PK\x03\x04" + bytes(range(256)) * 4,
        b"PK\x05\x06" + b"\xff" * 18,
    ],
    ids=["first half", "end record cut", "garbage after signature", "bad end record"],
)
def test_corrupt_zip_named_docx_is_refused(tmp_path, data):
    assert "เสียหาย" in refusal(tmp_path, data, "docx")


def test_ooxml_needs_content_types_and_its_main_part(tmp_path):
    body = b"<w:document/>"
    refusal(tmp_path, zip_of([("word/document.xml", body)]), "docx")
    refusal(tmp_path, zip_of([("[Content_Types].xml", b"<Types/>")]), "docx")
    package = zip_of([("[Content_Types].xml", b"<Types/>"), ("word/document.xml", body)])
    assert detect(write(tmp_path, package), "docx")


def test_odf_needs_its_exact_mimetype_as_first_member(tmp_path):
    mimetype = b"application/vnd.oasis.opendocument.text"
    assert detect(write(tmp_path, zip_of([("mimetype", mimetype)])), "odt")
    refusal(tmp_path, zip_of([("content.xml", b"<x/>"), ("mimetype", mimetype)]), "odt")
    refusal(tmp_path, zip_of([("mimetype", mimetype + b"-template")]), "odt")


def test_empty_zip_archive_is_accepted(tmp_path):
    assert detect(write(tmp_path, zip_of([])), "zip") == "application/zip"


def test_program_with_a_zip_appended_is_not_a_zip(tmp_path):
    refusal(tmp_path, b"MZ" + bytes(510) + sample_bytes("zip"), "zip")


def test_thai_utf8_text_is_accepted_with_its_charset(tmp_path):
    data = "รายงานผลการดำเนินงาน\n".encode()
    assert detect(write(tmp_path, data), "txt") == "text/plain; charset=utf-8"


def test_thai_cp874_csv_is_accepted_with_its_charset(tmp_path):
    data = sample_bytes("csv-cp874")
    assert detect(write(tmp_path, data), "csv") == "text/csv; charset=windows-874"


def test_long_utf8_text_is_decoded_across_read_boundaries(tmp_path):
    # Thai letters are 3 bytes, so some fall across every 1 MiB read.
    data = "ก".encode() * 800_000
    assert detect(write(tmp_path, data), "txt") == "text/plain; charset=utf-8"


def test_text_with_a_nul_byte_is_refused(tmp_path):
    refusal(tmp_path, "รายงาน\0ผล".encode(), "txt")
    refusal(tmp_path, "รายงาน".encode("utf-16"), "txt")


def test_text_in_neither_utf8_nor_cp874_is_refused(tmp_path):
    refusal(tmp_path, b"report \x81\x82\xfe", "csv")


def test_legacy_office_file_with_unknown_streams_is_refused(tmp_path):
    refusal(tmp_path, compound_file(["Contents"]), "doc")


def test_password_protected_office_file_gets_its_own_message(tmp_path):
    data = compound_file(["EncryptedPackage", "EncryptionInfo"])
    assert "รหัสผ่าน" in refusal(tmp_path, data, "xlsx")


def test_large_compound_file_found_through_the_difat_chain(tmp_path):
    # 14,000 free sectors put the directory beyond what the header's 109 FAT locations cover.
    data = compound_file(["PowerPoint Document"], padding_sectors=14_000)
    assert detect(write(tmp_path, data), "ppt") == "application/vnd.ms-powerpoint"


def broken_compound_files() -> dict[str, bytes]:
    doc = sample_bytes("doc")
    first_dir = struct.unpack_from("<I", doc, 48)[0]
    fat_at = 512 * (1 + struct.unpack_from("<I", doc, 76)[0])
    dir_at = 512 * (1 + first_dir)
    noise = random.Random(0).randbytes

    def patched(offset: int, value: int, fmt: str = "<I") -> bytes:
        data = bytearray(doc)
        struct.pack_into(fmt, data, offset, value)
        return bytes(data)

    return {
        "header only": doc[:512],
        "directory chain loops": patched(fat_at + 4 * first_dir, first_dir),
        "directory past the end": patched(48, 0xFFFFFF00),
        "absurd FAT count": patched(44, 0xFFFFFFFF),
        "tiny sector size": patched(30, 0, "<H"),
        "huge sector size": patched(30, 30, "<H"),
        "tree loops": patched(dir_at + 128 + 72, 1),
        "first entry not the root": patched(dir_at + 66, 2, "<B"),
        "garbage directory": doc[:dir_at] + noise(512) + doc[dir_at + 512 :],
        "garbage after signature": doc[:8] + noise(8192),
    }


@pytest.mark.parametrize("name", broken_compound_files())
def test_broken_compound_file_is_refused_without_hanging(tmp_path, name):
    path = write(tmp_path, broken_compound_files()[name])
    outcome = {}

    def run():
        try:
            outcome["result"] = detect(path, "doc")
        except Exception as error:
            outcome["error"] = error

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "detect() hung"
    assert isinstance(outcome.get("error"), RejectedFile), outcome


def test_clean_filename_keeps_thai_byte_exact():
    name = "รายงานผลการดำเนินงาน ตัวชี้วัดที่ 1.1 (ฉบับแก้ไข).pdf"
    assert clean_filename(name).encode() == name.encode()


def test_clean_filename_composes_decomposed_input():
    assert clean_filename("Cafe\u0301 สรุป.pdf") == "Caf\u00e9 สรุป.pdf"


def test_clean_filename_removes_control_and_bidi_characters():
    assert clean_filename("รายงาน\x00\r\n\t\u202efdp.exe") == "รายงานfdp.exe"


@pytest.mark.parametrize(
    ("name", "cleaned"),
    [
        ("..\\..\\a.pdf", "a.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\สมชาย\\รายงาน.pdf", "รายงาน.pdf"),
        ("  รายงาน.pdf. ", "รายงาน.pdf"),
    ],
)
def test_clean_filename_drops_path_and_surrounding_dots_and_spaces(name, cleaned):
    assert clean_filename(name) == cleaned


def test_clean_filename_cuts_a_long_thai_name_keeping_the_extension():
    name = "ก" * 100 + ".pdf"  # 304 bytes
    cleaned = clean_filename(name)
    assert len(cleaned.encode()) <= 255
    assert cleaned.endswith(".pdf") and name.startswith(cleaned[:-4])
    assert unicodedata.is_normalized("NFC", cleaned)


def test_clean_filename_never_parts_a_consonant_from_its_vowel_mark():
    # 3 + 3 bytes a pair: the byte budget would fit one more "ก" without its "ิ".
    cleaned = clean_filename("กิ" * 60 + ".pdf")
    assert cleaned == "กิ" * 41 + ".pdf"


@pytest.mark.parametrize(
    ("name", "cleaned"),
    [("", "ไฟล์แนบ"), ("\u202e", "ไฟล์แนบ"), ("../", "ไฟล์แนบ"), (".pdf", "ไฟล์แนบ.pdf")],
)
def test_clean_filename_falls_back_when_nothing_remains(name, cleaned):
    assert clean_filename(name) == cleaned
