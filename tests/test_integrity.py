"""verify-files: each file against its SHA-256; strays found and set aside, never deleted."""

import hashlib
import os
import subprocess
import sys
import time

import pytest

import integrity
from extensions import db, storage

HOURS_AGO = 2 * 3600


def verify(app, *args):
    return app.test_cli_runner().invoke(args=["verify-files", *args])


def aged(path, seconds=HOURS_AGO):
    then = time.time() - seconds
    os.utime(path, (then, then), follow_symlinks=False)
    return path


def write(path, data=b"stray bytes"):
    with open(path, "wb") as f:
        f.write(data)
    return path


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_a_clean_folder_passes(app, world, make_document):
    for n in range(3):
        make_document(world.indicator, world.reporter, data=b"%PDF-1.4\n" + bytes([n]) * 64)
    result = verify(app)
    assert result.exit_code == 0, result.output
    assert "ตรวจไฟล์ของเอกสาร 3 รายการ" in result.output
    assert "ถูกต้อง 3 ไฟล์" in result.output and "ไม่พบปัญหา" in result.output


def flip_a_byte(path):
    with open(path, "r+b") as f:
        first = f.read(1)
        f.seek(0)
        f.write(bytes([first[0] ^ 0x01]))


def truncate(path):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 1)


def replace_by_link(path):
    os.unlink(path)
    os.symlink("/etc/hostname", path)


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (os.unlink, "ไม่พบไฟล์: เอกสาร #{id} "),
        (flip_a_byte, "ไฟล์ไม่ตรง: เอกสาร #{id} "),
        (truncate, "ไฟล์ไม่ตรง: เอกสาร #{id} "),
        (replace_by_link, "ไม่ใช่ไฟล์ปกติ: เอกสาร #{id} "),
    ],
    ids=["missing", "altered-byte", "truncated", "symlink"],
)
def test_a_damaged_file_fails_the_check_and_is_named(app, world, make_document, damage, named):
    make_document(world.indicator, world.reporter)
    doc = make_document(world.indicator, world.reporter, title="ฉบับที่เสียหาย")
    damage(storage().path(doc.stored_name))
    result = verify(app)
    assert result.exit_code != 0
    assert named.format(id=doc.id) + "ฉบับที่เสียหาย" in result.output
    assert doc.stored_name in result.output
    assert "ถูกต้อง 1 ไฟล์" in result.output and "พบปัญหา 1 รายการ" in result.output
    if damage is truncate:
        size = doc.size
        assert f"ขนาด {size - 1:,} ไบต์ (บันทึกไว้ {size:,} ไบต์)" in result.output


def test_an_unreferenced_file_fails_the_check(app, world, make_document):
    make_document(world.indicator, world.reporter)
    stray = aged(write(os.path.join(storage().root, "0" * 32 + ".pdf")))
    result = verify(app)
    assert result.exit_code != 0
    assert f"ไม่มีเอกสารอ้างถึง: {os.path.basename(stray)}" in result.output
    assert "--quarantine" in result.output
    assert os.path.exists(stray)  # reported only: without --quarantine nothing moves


def test_a_stray_is_judged_after_ten_minutes_and_incoming_after_an_hour(app, world, make_document):
    """A rename and its row's commit are one request (at most 120 s) apart, not an hour."""
    make_document(world.indicator, world.reporter)
    root = storage().root
    planted = aged(write(os.path.join(root, "b" * 32 + ".pdf")), 15 * 60)
    landing = aged(write(os.path.join(root, "c" * 32 + ".pdf")), 5 * 60)
    writing = aged(write(os.path.join(root, ".incoming", "tmpslow")), 30 * 60)

    result = verify(app)
    assert result.exit_code != 0
    assert f"ไม่มีเอกสารอ้างถึง: {os.path.basename(planted)}" in result.output
    assert os.path.basename(landing) not in result.output  # may still be waiting for its row
    assert "ไฟล์ใหม่ที่ยังไม่มีเอกสาร (อาจกำลังอัปโหลด) 1 ไฟล์" in result.output
    assert os.path.exists(writing) and "tmpslow" not in result.output


def test_a_dot_named_stray_is_reported_and_quarantined(app, world, make_document):
    """No stored name starts with a dot: any dot entry not ours is a stray, however young."""
    make_document(world.indicator, world.reporter)
    root = storage().root
    write(os.path.join(root, ".x"), b"planted")
    os.mkdir(os.path.join(root, ".hidden"))
    write(os.path.join(root, ".gitkeep"), b"")
    os.makedirs(os.path.join(root, ".trash"), exist_ok=True)

    result = verify(app)
    assert result.exit_code != 0
    assert "ไฟล์ที่ไม่มีเอกสารอ้างถึง 2 ไฟล์" in result.output
    assert "ไม่มีเอกสารอ้างถึง: .x" in result.output
    assert "ไม่มีเอกสารอ้างถึง: .hidden" in result.output
    for ours in (".gitkeep", ".incoming", ".trash", ".quarantine"):
        assert f"ไม่มีเอกสารอ้างถึง: {ours}" not in result.output

    moved = verify(app, "--quarantine")
    assert moved.exit_code != 0
    [batch] = os.listdir(os.path.join(root, ".quarantine"))
    kept = os.path.join(root, ".quarantine", batch)
    assert sorted(os.listdir(kept)) == [".hidden", ".x"]
    with open(os.path.join(kept, ".x"), "rb") as f:
        assert f.read() == b"planted"
    assert os.path.exists(os.path.join(root, ".gitkeep"))
    again = verify(app)
    assert again.exit_code == 0, again.output


def test_quarantine_refuses_our_own_folders(tmp_path):
    from storage import Storage

    store = Storage(str(tmp_path / "uploads"), 1 << 20)
    for name in (".incoming", ".trash", ".quarantine", "..", "", "a/b"):
        with pytest.raises(ValueError):
            store.quarantine(name, "batch")


def test_quarantine_moves_strays_aside_and_keeps_their_bytes(app, world, make_document, tmp_path):
    doc = make_document(world.indicator, world.reporter)
    root = storage().root
    kept = digest(storage().path(doc.stored_name))
    outside = write(tmp_path / "outside.txt", b"not ours")
    strays = {
        "f" * 32 + ".docx": aged(write(os.path.join(root, "f" * 32 + ".docx"), b"a" * 1000)),
        "notes.txt": aged(write(os.path.join(root, "notes.txt"), "บันทึก".encode())),
    }
    hashes = {name: digest(path) for name, path in strays.items()}
    os.mkdir(os.path.join(root, "copied-folder"))
    write(os.path.join(root, "copied-folder", "inside.pdf"))
    aged(os.path.join(root, "copied-folder"))
    os.symlink(outside, os.path.join(root, "link-out"))
    aged(os.path.join(root, "link-out"))

    result = verify(app, "--quarantine")
    assert result.exit_code != 0  # found, moved, and still reported: the operator decides
    assert "ไฟล์ที่ไม่มีเอกสารอ้างถึง 4 ไฟล์" in result.output
    [batch] = os.listdir(os.path.join(root, ".quarantine"))
    moved = os.path.join(root, ".quarantine", batch)
    assert sorted(os.listdir(moved)) == sorted([*strays, "copied-folder", "link-out"])
    for name in strays:
        assert digest(os.path.join(moved, name)) == hashes[name]
        assert f"ไม่มีเอกสารอ้างถึง: {name} ย้ายไปที่ .quarantine/{batch}/{name} แล้ว" in result.output
    assert os.path.exists(os.path.join(moved, "copied-folder", "inside.pdf"))
    assert os.readlink(os.path.join(moved, "link-out")) == str(outside)  # the link, not its target
    assert outside.read_bytes() == b"not ours"
    assert digest(storage().path(doc.stored_name)) == kept  # the document's own file stays

    again = verify(app)
    assert again.exit_code == 0, again.output


def test_stale_incoming_is_cleaned_and_fresh_uploads_are_left_alone(app, world, make_document):
    make_document(world.indicator, world.reporter)
    incoming = os.path.join(storage().root, ".incoming")
    stale = aged(write(os.path.join(incoming, "tmpkilled"), b"half a pdf"))
    fresh = write(os.path.join(incoming, "tmpwriting"), b"being written")
    # Stored, but its row not yet committed: an upload in its last millisecond.
    landing = write(os.path.join(storage().root, "a" * 32 + ".pdf"))

    result = verify(app)
    assert result.exit_code == 0, result.output
    assert "ลบไฟล์ค้าง: .incoming/tmpkilled" in result.output
    assert "ไฟล์ค้างใน .incoming นานเกิน 1 ชั่วโมง ลบแล้ว 1 ไฟล์" in result.output
    assert "ตรวจไฟล์ของเอกสาร 1 รายการ" in result.output  # temp files are never documents
    assert not os.path.exists(stale)
    assert os.path.exists(fresh) and os.path.exists(landing)
    assert "tmpwriting" not in result.output and os.path.basename(landing) not in result.output


def test_verify_files_as_a_separate_process(app, world, make_document):
    """As the operator (and the SIGKILL test) run it: a process of its own, exit status 0."""
    make_document(world.indicator, world.reporter)
    aged(write(os.path.join(storage().root, ".incoming", "tmpleft")))
    db.session.commit()
    env = dict(
        os.environ,
        REPORTS_DATABASE_URL=app.config["DATABASE_URL"],
        REPORTS_UPLOAD_DIR=app.config["UPLOAD_DIR"],
        REPORTS_SECRET_KEY="test-secret",
    )
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "verify-files"],
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ลบไฟล์ค้าง: .incoming/tmpleft" in done.stdout


def test_a_document_deleted_during_the_check_is_not_missing(app, world, make_document, monkeypatch):
    from blueprints.send.services import delete_document

    first = make_document(world.indicator, world.reporter)
    second = make_document(world.indicator, world.reporter)
    original = integrity._digest

    def deleted_meanwhile(store, stored_name):
        if stored_name == second.stored_name:  # read as a row, gone before its file is read
            delete_document(store, world.reporter, second)
        return original(store, stored_name)

    monkeypatch.setattr(integrity, "_digest", deleted_meanwhile)
    result = verify(app)
    assert result.exit_code == 0, result.output
    assert "ไม่พบไฟล์ 0 ไฟล์" in result.output
    assert os.path.exists(storage().path(first.stored_name))
