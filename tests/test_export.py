"""Hand-over export: the round's zip (names, manifest, content), first downloads, the สพฐ. mark,
and the year's .xlsx status report read back with openpyxl."""

import csv
import hashlib
import io
import os
import unicodedata
import zipfile

import pytest
from openpyxl import load_workbook

import audit
from blueprints.receive import handover
from blueprints.receive.services import return_document, store_document
from extensions import db, storage
from models import AuditEntry, Download, Round
from tests.samples import sample_bytes
from thai import now_utc, thai_date


def unzip(response) -> zipfile.ZipFile:
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    assert response.mimetype == "application/zip"
    return zipfile.ZipFile(io.BytesIO(response.get_data()))


def manifest_rows(archive) -> list[list[str]]:
    raw = archive.read("manifest.csv")
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(raw[3:].decode("utf-8"))))


def pdf(tag: str) -> bytes:
    return sample_bytes("pdf") + f"\n% {tag}\n".encode()


def downloads(user) -> set[int]:
    rows = db.session.scalars(db.select(Download.document_id).filter_by(user_id=user.id))
    return set(rows)


def exports(actor) -> list[AuditEntry]:
    stmt = db.select(AuditEntry).filter_by(actor_id=actor.id, action="round_exported")
    return list(db.session.scalars(stmt))


@pytest.fixture
def round_files(world, make_document):
    """Three documents on world.indicator, round 6: two with the same Thai name, one received;
    a returned one (left out) and one of round 9 (another round)."""
    w = world
    first = make_document(w.indicator, w.reporter, data=pdf("1"), filename="รายงานผล.pdf")
    second = make_document(w.indicator, w.reporter, data=pdf("2"), filename="รายงานผล.pdf")
    third = make_document(w.indicator, w.reporter, data=pdf("3"), filename="ภาคผนวก.pdf")
    store_document(w.receiver, third)
    returned = make_document(w.indicator, w.reporter, data=pdf("4"), filename="ผิด.pdf")
    return_document(w.receiver, returned, "ไม่ครบ")
    make_document(w.indicator, w.reporter, months=9, data=pdf("5"), filename="รอบเก้า.pdf")
    return [first, second, third]


def test_round_zip_holds_the_current_documents_byte_for_byte(world, login_as, round_files):
    year = world.indicator.fiscal_year
    response = login_as(world.receiver).get("receive.export_round", year=year, months=6)

    archive = unzip(response)
    folder = f"{world.indicator.code} {world.indicator.name}"
    assert archive.namelist() == [
        "manifest.csv",
        f"{folder}/รายงานผล.pdf",
        f"{folder}/รายงานผล (2).pdf",
        f"{folder}/ภาคผนวก.pdf",
    ]
    for info, document in zip(archive.infolist()[1:], round_files, strict=True):
        assert info.flag_bits & 0x800  # UTF-8 names
        with storage().open(document.stored_name) as stored:
            assert archive.read(info) == stored.read()
        assert hashlib.sha256(archive.read(info)).hexdigest() == document.sha256
    assert archive.testzip() is None
    assert "Content-Length" not in response.headers
    disposition = response.headers["Content-Disposition"]
    assert f'filename="round-6-{year}.zip"' in disposition
    assert "filename*=UTF-8''%E0%B9%80%E0%B8%AD" in disposition  # เอ...


def test_manifest_lists_each_member_with_thai_columns(world, login_as, round_files):
    archive = unzip(
        login_as(world.officer).get(
            "receive.export_round", year=world.indicator.fiscal_year, months=6
        )
    )
    header, *rows = manifest_rows(archive)
    assert header == [
        "รหัสตัวชี้วัด",
        "ชื่อตัวชี้วัด",
        "ชื่อรายการ",
        "ผู้รายงาน",
        "วันที่ส่ง",
        "สถานะ",
        "ขนาด (ไบต์)",
        "SHA-256",
        "ชื่อไฟล์เดิม",
        "ไฟล์ใน zip",
    ]
    assert [r[9] for r in rows] == archive.namelist()[1:]
    first = rows[0]
    assert first[3] == world.reporter.full_name
    assert first[4] == thai_date(now_utc())
    assert [r[5] for r in rows] == ["ส่งแล้ว", "ส่งแล้ว", "รับแล้ว"]
    assert [r[7] for r in rows] == [d.sha256 for d in round_files]


def test_manifest_escapes_formula_like_cells(world, login_as, make_document, make_indicator):
    hostile = make_indicator(
        "-1", '=HYPERLINK("http://x")', receiver=world.receiver, reporters=[world.reporter]
    )
    make_document(hostile, world.reporter, title="@SUM(A1)", filename="+cmd.pdf")
    archive = unzip(
        login_as(world.receiver).get("receive.export_indicator", months=6, indicator_id=hostile.id)
    )
    _header, *rows = manifest_rows(archive)
    assert rows[0][:3] == ["'-1", '\'=HYPERLINK("http://x")', "'@SUM(A1)"]
    assert rows[0][8] == "'+cmd.pdf"
    # Titles lose tabs and CRs at upload; the manifest escapes them anyway.
    assert [handover.cell(v) for v in ("\tx", "\rx", "ก=1", 5)] == ["'\tx", "'\rx", "ก=1", "5"]


def test_member_names_are_cut_cleaned_and_numbered():
    long_name = "ร้อยละของสถานศึกษาที่ผ่านเกณฑ์การประเมินคุณภาพ" * 10
    cut = handover.safe_component(f"1.1 {long_name}", 200)
    assert len(cut.encode()) <= 200
    assert f"1.1 {long_name}".startswith(cut)
    # never ends on a consonant whose vowel or tone mark was cut off
    assert not unicodedata.category(f"1.1 {long_name}"[len(cut)]).startswith("M")

    assert handover.safe_component("../../etc/passwd", 255) == "_._etc_passwd"
    assert handover.safe_component("..\\..\\boot.ini", 255) == "_._boot.ini"
    assert handover.safe_component(".hidden.pdf", 255) == "hidden.pdf"
    assert handover.safe_component("a/b:c*?.pdf", 255) == "a_b_c__.pdf"
    assert handover.safe_component("ไฟล์\x00\u202e.pdf", 255) == "ไฟล์.pdf"
    assert handover.safe_component("..", 255) == "_"
    taken = set()
    names = [handover.numbered(n, taken) for n in ("ก.pdf", "ก.pdf", "ก (2).pdf", "ก.PDF")]
    assert names == ["ก.pdf", "ก (2).pdf", "ก (2) (2).pdf", "ก (3).PDF"]
    long_file = "ก" * 85 + ".pdf"  # 259 bytes: numbered copies still fit in 255
    first = handover.numbered(long_file, set())
    second = handover.numbered(first, {first.casefold()})
    assert len(second.encode()) <= 255 and second.endswith(" (2).pdf")


def test_long_indicator_folder_cut_at_200_bytes(world, login_as, make_document, make_indicator):
    name = "การพัฒนาคุณภาพการศึกษาขั้นพื้นฐานให้ได้มาตรฐาน/ระดับสากล " * 6
    indicator = make_indicator("2.1", name, receiver=world.receiver, reporters=[world.reporter])
    make_document(indicator, world.reporter, filename="../../../ไฟล์.pdf")
    archive = unzip(
        login_as(world.receiver).get(
            "receive.export_indicator", months=6, indicator_id=indicator.id
        )
    )
    member = archive.namelist()[1]
    folder, file = member.split("/")
    assert len(folder.encode()) <= 200 and folder.startswith("2.1 การพัฒนา")
    assert "/" not in folder and ".." not in member
    assert file == "ไฟล์.pdf"  # the name was cleaned at upload already


def test_indicators_whose_folders_come_out_alike_get_numbered_within_200_bytes(
    world, login_as, make_document, make_indicator
):
    name = "ร้อยละของสถานศึกษาที่จัดการเรียนรู้เชิงรุกตามแนวทางการพัฒนา " * 5
    for code in ("1.2/1", "1.2_1"):  # "/" is cleaned to "_": the two folders come out alike
        indicator = make_indicator(code, name, receiver=world.receiver, reporters=[world.reporter])
        make_document(indicator, world.reporter)
    archive = unzip(
        login_as(world.receiver).get(
            "receive.export_round", year=world.indicator.fiscal_year, months=6
        )
    )
    folders = {m.split("/")[0] for m in archive.namelist() if "/" in m}
    numbered = [f for f in folders if f.endswith(" (2)")]
    assert len(numbered) == 1 and numbered[0].startswith("1.2_1 ร้อยละ")  # the dot stays put
    assert all(len(f.encode()) <= 200 for f in folders)


def test_missing_file_is_reported_before_any_byte(world, login_as, round_files):
    b = login_as(world.receiver)
    os.unlink(storage().path(round_files[1].stored_name))
    before = db.session.scalar(db.select(db.func.count(AuditEntry.id)))

    response = b.get("receive.export_round", year=world.indicator.fiscal_year, months=6)

    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "ไม่พบไฟล์" in page and round_files[1].title in page
    assert response.mimetype == "text/html"
    assert downloads(world.receiver) == set()
    assert db.session.scalar(db.select(db.func.count(AuditEntry.id))) == before


def test_truncated_file_counts_as_missing(world, login_as, round_files):
    with open(storage().path(round_files[0].stored_name), "r+b") as f:
        f.truncate(10)
    response = login_as(world.receiver).get(
        "receive.export_round", year=world.indicator.fiscal_year, months=6
    )
    assert response.status_code == 409


def test_export_records_downloads_and_one_audit_entry(world, login_as, round_files):
    b = login_as(world.receiver)
    unzip(b.get("receive.export_round", year=world.indicator.fiscal_year, months=6))
    assert downloads(world.receiver) == {d.id for d in round_files}
    (entry,) = exports(world.receiver)
    assert '"count": 3' in entry.params


def test_only_new_leaves_out_what_i_downloaded(world, login_as, round_files, make_document):
    b = login_as(world.receiver)
    year = world.indicator.fiscal_year
    assert b.get("receive.download", document_id=round_files[0].id).status_code == 200
    assert downloads(world.receiver) == {round_files[0].id}
    b.get("receive.download", document_id=round_files[0].id)  # again: still one row

    archive = unzip(b.get("receive.export_round", year=year, months=6, only="new"))
    assert len(archive.namelist()) == 3  # manifest and the two others
    assert downloads(world.receiver) == {d.id for d in round_files}

    # Someone else's downloads do not count as mine.
    archive = unzip(login_as(world.officer).get("receive.export_round", year=year, months=6))
    assert len(archive.namelist()) == 4

    nothing = b.get("receive.export_round", year=year, months=6, only="new")
    assert nothing.status_code == 302
    later = make_document(world.indicator, world.reporter, data=pdf("later"), filename="ใหม่.pdf")
    archive = unzip(b.get("receive.export_round", year=year, months=6, only="new"))
    assert [n.rsplit("/", 1)[-1] for n in archive.namelist()] == ["manifest.csv", "ใหม่.pdf"]
    assert later.id in downloads(world.receiver)


def test_record_first_downloads_keeps_the_first_time(world, round_files):
    handover.record_first_downloads(world.receiver.id, [round_files[0].id])
    db.session.commit()
    first = db.session.get(Download, (world.receiver.id, round_files[0].id)).first_at
    handover.record_first_downloads(world.receiver.id, [round_files[0].id, round_files[1].id])
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Download, (world.receiver.id, round_files[0].id)).first_at == first
    assert downloads(world.receiver) == {round_files[0].id, round_files[1].id}


def test_receiver_exports_only_their_indicators(world, login_as, make_document, round_files):
    others = db.session.scalar(db.select(handover.Indicator).filter_by(code="9.9"))
    make_document(others, world.other_reporter, filename="ของคนอื่น.pdf")
    year = world.indicator.fiscal_year
    names = unzip(login_as(world.receiver).get("receive.export_round", year=year, months=6))
    assert not any("ของคนอื่น" in n for n in names.namelist())
    names = unzip(login_as(world.officer).get("receive.export_round", year=year, months=6))
    assert any("ของคนอื่น" in n for n in names.namelist())
    refused = login_as(world.receiver).get(
        "receive.export_indicator", months=6, indicator_id=others.id
    )
    assert refused.status_code == 403
    reporter = login_as(world.reporter).get("receive.export_round", year=year, months=6)
    assert reporter.status_code == 403


def test_officer_marks_a_round_handed_over_and_the_round_page_shows_it(world, login_as):
    b = login_as(world.officer)
    year = world.indicator.fiscal_year
    response = b.post("receive.handover_mark", {"handed_over": "1"}, year=year, months=6)
    assert response.status_code == 302
    row = db.session.get(Round, (year, 6))
    assert row.handed_over_at is not None and row.handed_over_by_id == world.officer.id
    page = b.get("receive.round_page", months=6, year=year).get_data(as_text=True)
    assert "ส่งระบบ สพฐ. แล้ว" in page and thai_date(now_utc()) in page
    twice = b.post(
        "receive.handover_mark", {"handed_over": "1"}, year=year, months=6, follow_redirects=True
    )
    assert "บันทึกว่าส่งระบบ สพฐ. แล้ว" in twice.get_data(as_text=True)
    (entry,) = db.session.scalars(db.select(AuditEntry).filter_by(action="round_handed_over"))
    assert audit.describe(entry) == (
        f"บันทึกว่ารอบ 6 เดือน ปี {year} ส่งระบบ สพฐ. แล้ว เมื่อ {thai_date(now_utc())}"
    )

    b.post("receive.handover_mark", {"handed_over": "0"}, year=year, months=6)
    db.session.expire_all()
    assert db.session.get(Round, (year, 6)).handed_over_at is None
    refused = login_as(world.receiver).post(
        "receive.handover_mark", {"handed_over": "1"}, year=year, months=6
    )
    assert refused.status_code == 403


def test_a_closed_year_may_still_be_handed_over(world, login_as):
    from blueprints.years.services import get_year

    year = world.indicator.fiscal_year
    get_year(year).closed_at = now_utc()
    db.session.commit()
    response = login_as(world.officer).post(
        "receive.handover_mark", {"handed_over": "1"}, year=year, months=12
    )
    assert response.status_code == 302
    assert db.session.get(Round, (year, 12)).handed_over_at is not None


def test_status_report_reads_back_with_thai_dates_and_text_kept_text(
    world, login_as, make_document, make_indicator, round_files
):
    make_indicator(
        "10.1", "=cmd|' /C calc'!A0", receiver=world.receiver, reporters=[world.reporter]
    )
    year = world.indicator.fiscal_year
    login_as(world.officer).post("receive.handover_mark", {"handed_over": "1"}, year=year, months=6)

    response = login_as(world.receiver).get("receive.status_report", year=year)

    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    assert f'filename="status-{year}.xlsx"' in response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0][0] == "รหัสตัวชี้วัด"
    body = rows[1:]
    assert len(body) == 2 * 3  # the receiver's two indicators (not 9.9) by three rounds
    first = body[0]
    assert first[:5] == [
        world.indicator.code,
        world.indicator.name,
        "รอบ 6 เดือน",
        world.receiver.full_name,
        world.reporter.full_name,
    ]
    assert first[5:8] == [2, 1, 1]  # sent, returned, received
    assert first[8] == thai_date(now_utc())
    assert first[10] == f"ส่งระบบ สพฐ. แล้ว {thai_date(now_utc())}"
    assert body[1][2] == "รอบ 9 เดือน" and body[1][5] == 1 and body[1][10] is None
    formula = sheet.cell(row=5, column=2)
    assert formula.value == "=cmd|' /C calc'!A0" and formula.data_type == "s"
    assert not any(c.data_type == "f" for row in sheet.iter_rows() for c in row)


def test_a_file_gone_after_the_check_breaks_the_stream_and_records_nothing(world, round_files):
    export = handover.plan_export(storage(), world.receiver, world.indicator.fiscal_year, 6)
    assert not export.missing and len(export.members) == 3
    os.unlink(storage().path(round_files[2].stored_name))
    completed = []
    stream = handover.zip_stream(storage(), export, lambda: completed.append(True))
    with pytest.raises(handover.FileVanished):
        for _chunk in stream:
            pass
    assert completed == []  # a truncated zip, never a complete one that lacks a document


def test_only_new_for_one_indicator(world, login_as, round_files):
    b = login_as(world.receiver)
    b.get("receive.download", document_id=round_files[1].id)
    archive = unzip(
        b.get("receive.export_indicator", months=6, indicator_id=world.indicator.id, only="new")
    )
    assert [n.rsplit("/", 1)[-1] for n in archive.namelist()] == [
        "manifest.csv",
        "รายงานผล.pdf",
        "ภาคผนวก.pdf",
    ]
    (entry,) = db.session.scalars(
        db.select(AuditEntry).filter_by(actor_id=world.receiver.id, action="indicator_exported")
    )
    assert entry.indicator_id == world.indicator.id and '"count": 2' in entry.params
