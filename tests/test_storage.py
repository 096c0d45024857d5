"""Storage files uploads whole under generated names, and any failure leaves nothing behind."""

import hashlib
import io
import os

import pytest
from samples import MINIMAL_PDF, sample_bytes

import storage as storage_module
from filetypes import RejectedFile
from storage import FileTooLarge, Storage

MAX_BYTES = 64 * 1024
GENERATED_HEX = "0123456789abcdef" * 2


@pytest.fixture
def store(tmp_path):
    return Storage(str(tmp_path / "uploads"), MAX_BYTES)


def assert_nothing_left(store):
    assert os.listdir(store.root) == [".incoming"]
    assert os.listdir(store.incoming) == []


class EndlessStream:
    """Never runs dry; fails loudly if the reader keeps going long after the limit."""

    def __init__(self):
        self.handed_out = 0

    def read(self, size):
        assert self.handed_out < 10 * MAX_BYTES, "kept reading past max_bytes"
        self.handed_out += size
        return b"a" * size


class FailingStream:
    def __init__(self):
        self.calls = 0

    def read(self, size):
        self.calls += 1
        if self.calls > 1:
            raise OSError("client went away")
        return b"a" * 10


def test_storage_creates_its_root_and_incoming_folder(tmp_path):
    store = Storage(str(tmp_path / "a" / "b"), MAX_BYTES)
    assert os.path.isdir(tmp_path / "a" / "b" / ".incoming")
    assert_nothing_left(store)


def test_saved_file_lands_in_root_with_identical_bytes(store):
    stored = store.save(io.BytesIO(MINIMAL_PDF), "รายงานผล รอบ 6 เดือน.pdf")
    with store.open(stored.stored_name) as f:
        assert f.read() == MINIMAL_PDF
    assert stored.size == len(MINIMAL_PDF)
    assert stored.sha256 == hashlib.sha256(MINIMAL_PDF).hexdigest()
    assert stored.content_type == "application/pdf"
    assert stored.original_name == "รายงานผล รอบ 6 เดือน.pdf"
    assert sorted(os.listdir(store.root)) == [".incoming", stored.stored_name]
    assert os.listdir(store.incoming) == []


def test_stored_name_takes_nothing_from_the_client_but_the_extension(store):
    stored = store.save(io.BytesIO(sample_bytes("xlsx")), "..\\..\\ลับ\u202e.XLSX")
    name, ext = stored.stored_name.split(".")
    assert len(name) == 32 and set(name) <= set("0123456789abcdef") and ext == "xlsx"
    assert stored.original_name == "ลับ.XLSX"
    assert os.path.dirname(store.path(stored.stored_name)) == store.root


def test_text_keeps_the_charset_it_was_written_in(store):
    stored = store.save(io.BytesIO(sample_bytes("csv-cp874")), "ผล.csv")
    assert stored.content_type == "text/csv; charset=windows-874"


def test_file_of_exactly_max_bytes_is_accepted(store):
    stored = store.save(io.BytesIO(b"a" * MAX_BYTES), "big.txt")
    assert stored.size == MAX_BYTES


def test_too_large_upload_aborts_and_leaves_nothing(store):
    with pytest.raises(FileTooLarge):
        store.save(io.BytesIO(b"a" * (MAX_BYTES + 1)), "big.txt")
    assert_nothing_left(store)


def test_too_large_upload_stops_reading_at_the_limit(store):
    with pytest.raises(FileTooLarge):
        store.save(EndlessStream(), "big.txt")
    assert_nothing_left(store)


@pytest.mark.parametrize(
    ("data", "name"),
    [(sample_bytes("png"), "scan.pdf"), (MINIMAL_PDF, "report.exe"), (b"", "empty.pdf")],
)
def test_rejected_content_leaves_nothing(store, data, name):
    with pytest.raises(RejectedFile):
        store.save(io.BytesIO(data), name)
    assert_nothing_left(store)


def test_read_error_leaves_nothing(store):
    with pytest.raises(OSError):
        store.save(FailingStream(), "notes.txt")
    assert_nothing_left(store)


def test_failure_after_the_rename_removes_the_stored_file(store, monkeypatch):
    def broken_fsync(path):
        raise OSError("disk gone")

    monkeypatch.setattr(storage_module, "_fsync_directory", broken_fsync)
    with pytest.raises(OSError):
        store.save(io.BytesIO(MINIMAL_PDF), "report.pdf")
    assert_nothing_left(store)


@pytest.mark.parametrize(
    "name",
    [
        "../x",
        "a/b",
        "",
        "report.pdf",
        GENERATED_HEX,
        GENERATED_HEX.upper() + ".pdf",
        GENERATED_HEX + ".pdf/../../etc/passwd",
        "../" + GENERATED_HEX + ".pdf",
        GENERATED_HEX + ".pdf\n",
        "/etc/passwd",
        None,
    ],
)
def test_path_refuses_names_it_did_not_generate(store, name):
    with pytest.raises(ValueError):
        store.path(name)
    with pytest.raises(ValueError):
        store.open(name)
    with pytest.raises(ValueError):
        store.delete(name)


def test_delete_is_idempotent(store):
    stored = store.save(io.BytesIO(MINIMAL_PDF), "report.pdf")
    store.delete(stored.stored_name)
    assert not os.path.exists(store.path(stored.stored_name))
    store.delete(stored.stored_name)
    assert_nothing_left(store)
