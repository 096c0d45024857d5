"""A file part of the request body streams into the upload folder (storage.Spool): written
once, into .incoming/, hashed on the way, then linked and renamed into place; nothing in
TMPDIR, nothing left behind whatever happens to the request."""

import hashlib
import io
import os
import tempfile

import pytest
from sqlalchemy import select

import storage as storage_module
from extensions import db, storage
from models import Document
from storage import Spool, Storage


def big_pdf(size: int) -> bytes:
    return b"%PDF-1.4\n" + os.urandom(size - 9)


@pytest.fixture
def empty_tmpdir(tmp_path, monkeypatch):
    folder = tmp_path / "tmpdir"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def spooled(monkeypatch):
    """(device, inode) of every spool that went to disk while the request arrived."""
    seen = []
    to_disk = Spool._to_disk

    def recording(self):
        to_disk(self)
        info = os.fstat(self.file.fileno())
        seen.append((self.folder, info.st_dev, info.st_ino))

    monkeypatch.setattr(Spool, "_to_disk", recording)
    return seen


def test_a_large_upload_is_written_once_into_incoming(app, world, login_as, empty_tmpdir, spooled):
    reporter = login_as(world.reporter)
    content = big_pdf(3 * 1024 * 1024)
    response = reporter.upload(world.indicator, title="ไฟล์ใหญ่", content=content)
    assert response.status_code == 302, response.get_data(as_text=True)

    document = db.session.scalars(select(Document).where(Document.title == "ไฟล์ใหญ่")).one()
    db.session.commit()
    path = storage().path(document.stored_name)
    with open(path, "rb") as f:
        assert f.read() == content
    assert document.size == len(content)
    assert document.sha256 == hashlib.sha256(content).hexdigest()
    # The very file the parser wrote in .incoming/ is the stored one: linked, not copied.
    info = os.stat(path)
    assert spooled == [(storage().incoming, info.st_dev, info.st_ino)]
    assert os.listdir(storage().incoming) == []
    assert os.listdir(empty_tmpdir) == []


def test_a_refused_form_leaves_nothing(app, world, login_as, empty_tmpdir, spooled):
    reporter = login_as(world.reporter)
    before = sorted(os.listdir(storage().root))
    response = reporter.upload(world.indicator, title="", content=big_pdf(2 * 1024 * 1024))
    assert response.status_code == 400
    assert len(spooled) == 1  # it did arrive on disk, and went with the request
    assert sorted(os.listdir(storage().root)) == before
    assert os.listdir(storage().incoming) == []
    assert os.listdir(empty_tmpdir) == []


def test_a_refused_type_leaves_nothing(app, world, login_as, spooled):
    reporter = login_as(world.reporter)
    before = sorted(os.listdir(storage().root))
    fake = b"MZ" + os.urandom(2 * 1024 * 1024)
    response = reporter.upload(world.indicator, title="ไม่ใช่ PDF", content=fake)
    assert response.status_code == 400
    assert len(spooled) == 1
    assert sorted(os.listdir(storage().root)) == before
    assert os.listdir(storage().incoming) == []


def test_a_file_past_the_limit_is_refused_from_the_spool(tmp_path):
    store = Storage(str(tmp_path / "uploads"), max_bytes=1024 * 1024)
    spool = store.spool()
    spool.write(big_pdf(1024 * 1024 + 1))
    spool.seek(0)
    with pytest.raises(storage_module.FileTooLarge):
        store.save(spool, "a.pdf")
    spool.close()
    assert os.listdir(tmp_path / "uploads") == [".incoming"]
    assert os.listdir(store.incoming) == []


def test_a_spool_written_out_of_order_is_copied_and_hashed_again(tmp_path):
    store = Storage(str(tmp_path / "uploads"), max_bytes=10 * 1024 * 1024)
    spool = store.spool()
    content = big_pdf(1024 * 1024)
    spool.write(b"x" * len(content))
    spool.seek(0)
    spool.write(content)  # the digest so far is of the x's: it must not be used
    spool.seek(0)
    stored = store.save(spool, "a.pdf")
    spool.close()
    assert stored.sha256 == hashlib.sha256(content).hexdigest()
    with store.open(stored.stored_name) as f:
        assert f.read() == content


def test_a_small_part_stays_in_memory_and_is_copied(tmp_path):
    store = Storage(str(tmp_path / "uploads"), max_bytes=10 * 1024 * 1024)
    spool = store.spool()
    content = big_pdf(4096)
    spool.write(content)
    spool.seek(0)
    assert isinstance(spool.file, io.BytesIO)
    stored = store.save(spool, "a.pdf")
    assert stored.sha256 == hashlib.sha256(content).hexdigest()
    assert stored.size == len(content)


def test_a_write_error_is_kept_for_save(tmp_path):
    store = Storage(str(tmp_path / "uploads"), max_bytes=10 * 1024 * 1024)
    spool = store.spool()
    spool.write(big_pdf(1024 * 1024))

    def full(*_args):
        raise OSError(28, "No space left on device")

    broken = spool.file
    spool.file = type("Full", (), {"tell": broken.tell, "write": full, "close": broken.close})()
    assert spool.write(b"more") == 4  # the parser reads on; nothing raised mid-form
    assert broken.closed  # its blocks given back at once
    with pytest.raises(OSError) as raised:
        store.save(spool, "a.pdf")
    assert raised.value.errno == 28
    with pytest.raises(OSError):
        spool.read()
    assert os.listdir(store.incoming) == []
