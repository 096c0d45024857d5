"""Memory of the hand-over zip: a round of about 300 MB streamed through the app.

    make bench-export                      # or: .venv/bin/python bench/export_memory.py
    EXPORT_MB=1000 .venv/bin/python bench/export_memory.py

The files (60 x 5 MB of random bytes behind a PDF header, stored under generated names as
Storage.save leaves them) are written straight into the upload folder with their rows; the
officer then requests the zip through the real app (WSGI, streamed), consumed chunk by chunk
into a file, then checked (CRCs, and each member's SHA-256 against its row). Measured: the
growth of the process's resident set while streaming (VmRSS sampled every 8 chunks; VmHWM,
the kernel's own peak, for the whole run) and tracemalloc's peak of Python allocations.
Target: growth under 30 MB. The result is printed and appended to
bench/results/export_memory.txt (gitignored); bench/README.md keeps the numbers we record.
"""

import hashlib
import os
import re
import secrets
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade  # noqa: E402
from werkzeug.test import Client  # noqa: E402

from app import create_app, mount  # noqa: E402
from blueprints.years.services import create_year  # noqa: E402
from extensions import db, storage  # noqa: E402
from models import REPORTER, Document, Indicator, User  # noqa: E402
from thai import fiscal_year, normalize_code, now_utc  # noqa: E402

TOTAL_MB = int(os.environ.get("EXPORT_MB", "300"))
FILE_MB = 5
TARGET_GROWTH_MB = 30
INDICATORS = 12


def status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def seed(app) -> int:
    """Indicators with 5 MB files on disk; returns the fiscal year."""
    year = fiscal_year()
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        create_year(year)
        from blueprints.auth.services import hash_password

        officer = User(
            username="officer",
            full_name="เจ้าหน้าที่ ทดสอบ",
            password_hash=hash_password("bench-password"),
            is_admin=True,
        )
        reporter = User(
            username="reporter",
            full_name="ผู้รายงาน ทดสอบ",
            password_hash="!",
            reporter_status=REPORTER,
        )
        db.session.add_all([officer, reporter])
        db.session.flush()
        indicators = [
            Indicator(
                fiscal_year=year,
                code=f"{n + 1}.1",
                code_key=normalize_code(f"{n + 1}.1"),
                name=f"ร้อยละของสถานศึกษาที่ดำเนินการตามเกณฑ์มาตรฐาน ข้อ {n + 1}",
                receiver=officer,
                reporters=[reporter],
            )
            for n in range(INDICATORS)
        ]
        db.session.add_all(indicators)
        db.session.flush()
        root = storage().root
        now = now_utc()
        for n in range(TOTAL_MB // FILE_MB):
            stored_name = f"{secrets.token_hex(16)}.pdf"
            digest, size = hashlib.sha256(), 0
            with open(os.path.join(root, stored_name), "wb") as out:
                for _ in range(FILE_MB):
                    block = (b"%PDF-1.4\n" if size == 0 else b"") + os.urandom(1 << 20)
                    digest.update(block)
                    out.write(block)
                    size += len(block)
            db.session.add(
                Document(
                    indicator_id=indicators[n % INDICATORS].id,
                    round_months=6,
                    title=f"หลักฐานประกอบ {n}",
                    original_name="รายงานผลการดำเนินงาน.pdf",  # the same name: numbered copies
                    stored_name=stored_name,
                    size=size,
                    sha256=digest.hexdigest(),
                    content_type="application/pdf",
                    uploaded_by_id=reporter.id,
                    uploaded_at=now,
                )
            )
        db.session.commit()
    return year


def login(client, prefix):
    page = client.get(f"{prefix}/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post(
        f"{prefix}/login",
        data={"csrf_token": token, "username": "officer", "password": "bench-password"},
    )
    assert response.status_code == 302, response.status_code


def main() -> int:
    folder = tempfile.mkdtemp(prefix="reports-bench-export-")
    app = create_app(
        {
            "SECRET_KEY": "bench",
            "DATABASE_URL": f"sqlite:///{folder}/bench.sqlite3",
            "UPLOAD_DIR": f"{folder}/uploads",
        }
    )
    year = seed(app)
    prefix = app.config["URL_PREFIX"]
    client = Client(mount(app))
    login(client, prefix)
    # A first small request warms imports, templates and the database pool, so the
    # measurement sees the zip and not the app's first-use allocations.
    client.get(f"{prefix}/receive/round/6?year={year}").get_data()

    tracemalloc.start()
    baseline_rss = status_kb("VmRSS")
    peak_rss = baseline_rss
    start = time.perf_counter()
    response = client.get(f"{prefix}/receive/{year}/round/6/export.zip")
    assert response.status_code == 200, response.status_code
    total, chunks = 0, 0
    saved = f"{folder}/export.zip"
    with open(saved, "wb") as out:  # to disk as a browser would: page cache is not our RSS
        for chunk in response.response:  # the WSGI iterator, chunk by chunk, never joined
            out.write(chunk)
            total += len(chunk)
            chunks += 1
            if chunks % 8 == 0:
                peak_rss = max(peak_rss, status_kb("VmRSS"))
    response.close()
    seconds = time.perf_counter() - start
    peak_rss = max(peak_rss, status_kb("VmRSS"))
    _current, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    hwm = status_kb("VmHWM")
    crc_ok = check_zip(saved, folder)

    growth_mb = (peak_rss - baseline_rss) / 1024
    ok = growth_mb < TARGET_GROWTH_MB and crc_ok
    lines = [
        f"export of {TOTAL_MB} MB ({TOTAL_MB // FILE_MB} files x {FILE_MB} MB, "
        f"{INDICATORS} indicators): {total / 2**20:.1f} MB zip in {chunks} chunks, "
        f"{seconds:.1f} s ({total / 2**20 / seconds:.0f} MB/s)",
        f"RSS before {baseline_rss / 1024:.1f} MB, peak while streaming "
        f"{peak_rss / 1024:.1f} MB: growth {growth_mb:.1f} MB (target < {TARGET_GROWTH_MB} MB) "
        + ("ok" if ok else "FAILED"),
        f"tracemalloc peak of Python allocations while streaming: {traced_peak / 2**20:.1f} MB",
        f"VmHWM (whole run, including seeding): {hwm / 1024:.1f} MB",
        f"zip readable, every CRC right: {crc_ok}",
    ]
    print("\n".join(lines))
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    with open(results / "export_memory.txt", "a") as out:
        out.write(time.strftime("%Y-%m-%dT%H:%M:%SZ\n", time.gmtime()) + "\n".join(lines) + "\n\n")
    return 0 if ok else 1


def check_zip(path: str, folder: str) -> bool:
    """The zip as saved: every CRC right, and each member's SHA-256 the one recorded."""
    import sqlite3
    import zipfile

    with sqlite3.connect(f"{folder}/bench.sqlite3") as conn:
        recorded = {row[0] for row in conn.execute("SELECT sha256 FROM documents")}
    with zipfile.ZipFile(path) as archive:
        if archive.testzip() is not None:
            return False
        seen = set()
        for info in archive.infolist()[1:]:
            digest = hashlib.sha256()
            with archive.open(info) as member:
                while block := member.read(1 << 20):
                    digest.update(block)
            seen.add(digest.hexdigest())
    return seen == recorded


if __name__ == "__main__":
    sys.exit(main())
