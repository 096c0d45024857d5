"""A realistic office's data, at 1× or 10×, on SQLite or PostgreSQL, kept for the next run.

    .venv/bin/python bench/generate.py sqlite 1      # or: postgresql 10

1× is 150 staff, 60 indicators a year over 5 fiscal years with 4 rounds each (3, 6, 9, 12
months), 20 000 documents with small files; 10× multiplies every count. The shape follows an
educational service area office: one KPI officer (the admin), one receiver per ten staff,
two staff in three marked as reporters, three reporters per indicator, past years closed.
Documents are spread evenly over every indicator's rounds; 70 % stored (รับแล้ว), 20 %
waiting, 5 % returned with a reason, 5 % earlier versions replaced by a revision. Each has a
real small file whose size and SHA-256 are recorded, so `verify-files` checks them all.

The data lands in bench/data/<database>-<scale>x/ (the SQLite file and the upload folder; the
PostgreSQL database is reports_bench_<scale>x) with a ready.json that names GENERATOR. A run
finding the same GENERATOR there reuses the data; changing the generator bumps it.
"""

import hashlib
import json
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import DATA, PASSWORD, postgres_database  # noqa: E402

GENERATOR = 5
BASE = {"staff": 150, "indicators_per_year": 60, "years": 5, "documents": 20_000}
ROUNDS = (3, 6, 9, 12)
REPORTERS_PER_INDICATOR = 3
OFFICER, RECEIVER, REPORTER_LOGIN = "officer", "receiver1", "reporter1"


@dataclass
class Dataset:
    kind: str  # "sqlite" or "postgresql"
    scale: int
    url: str
    uploads: Path
    info: dict  # counts, and the ids the benchmarks open

    @property
    def label(self) -> str:
        return f"{self.kind} {self.scale}×"


def counts(scale: int) -> dict:
    return {
        "staff": BASE["staff"] * scale,
        "indicators_per_year": BASE["indicators_per_year"] * scale,
        "years": BASE["years"],
        "documents": BASE["documents"] * scale,
    }


def dataset(kind: str, scale: int, fresh: bool = False) -> Dataset:
    """The data set, generated unless a run of the same GENERATOR left it ready."""
    folder = DATA / f"{kind}-{scale}x"
    ready = folder / "ready.json"
    if kind == "sqlite":
        url = f"sqlite:///{folder / 'reports.sqlite3'}"
    elif kind == "postgresql":
        url = f"{postgres_database(f'reports_bench_{scale}x')}"
    else:
        raise ValueError(kind)
    if not fresh and ready.exists():
        info = json.loads(ready.read_text())
        if info.get("generator") == GENERATOR and info.get("url") == url:
            return Dataset(kind, scale, url, folder / "uploads", info)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    if kind == "postgresql":
        url = postgres_database(f"reports_bench_{scale}x", fresh=True)
    started = time.monotonic()
    info = build(url, folder / "uploads", scale)
    info.update(generator=GENERATOR, url=url, seconds=round(time.monotonic() - started, 1))
    ready.write_text(json.dumps(info, indent=1))
    return Dataset(kind, scale, url, folder / "uploads", info)


def small_file(n: int) -> bytes:
    """A small PDF-looking file of 1–3 KB, different for every document."""
    body = f"%PDF-1.4\n% เอกสารหมายเลข {n}\n".encode() + bytes((n * 7 + i) % 251 for i in range(64))
    return body * (1 + n % 3) * 12 + b"\n%%EOF\n"


def build(url: str, uploads: Path, scale: int) -> dict:
    from flask_migrate import upgrade
    from sqlalchemy import insert, text

    from app import create_app
    from backup import _reset_sequences
    from blueprints.auth.services import hash_password
    from blueprints.years.services import default_due_date
    from extensions import db
    from models import (
        RECEIVED,
        REPLACED,
        REPORTER,
        RETURNED,
        SENT,
        AuditEntry,
        Document,
        FiscalYear,
        Indicator,
        Round,
        User,
        indicator_reporters,
        utcnow,
    )
    from thai import fiscal_year, normalize_code

    c = counts(scale)
    uploads.mkdir(parents=True, exist_ok=True)
    app = create_app({"SECRET_KEY": "bench", "DATABASE_URL": url, "UPLOAD_DIR": str(uploads)})
    now = utcnow()
    current = fiscal_year()
    years = list(range(current - c["years"] + 1, current + 1))
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        password = hash_password(PASSWORD)
        receivers = max(2, c["staff"] // 10)
        users = []
        for n in range(1, c["staff"] + 1):
            if n == 1:
                username, name = OFFICER, "นางสาวกัลยา ตัวชี้วัด"
            elif n <= receivers + 1:
                username, name = f"receiver{n - 1}", f"นายรับข้อมูล ลำดับ{n - 1:04d}"
            else:
                username, name = f"staff{n}", f"นางบุคลากร สำนักงาน{n:05d}"
            users.append(
                {
                    "id": n,
                    "username": username,
                    "full_name": name,
                    "position": f"กลุ่มงานที่ {n % 9 + 1}",
                    "password_hash": password,
                    "is_admin": n == 1,
                    "reporter_status": REPORTER if n > receivers + 1 and n % 3 else None,
                    "active": True,
                    "session_version": 1,
                    "created_at": now,
                }
            )
        db.session.execute(insert(User), users)
        reporter_ids = [u["id"] for u in users if u["reporter_status"]]
        receiver_ids = list(range(2, receivers + 2))
        # The reporter who logs in for the benchmarks is the first of them.
        db.session.execute(
            text("UPDATE users SET username = :name WHERE id = :id"),
            {"name": REPORTER_LOGIN, "id": reporter_ids[0]},
        )

        db.session.execute(
            insert(FiscalYear),
            [
                {"year": y, "opened_at": now, "closed_at": now if y < current else None}
                for y in years
            ],
        )
        db.session.execute(
            insert(Round),
            [
                {"fiscal_year": y, "months": m, "due_date": default_due_date(y, m)}
                for y in years
                for m in ROUNDS
            ],
        )

        indicators, links = [], []
        per_year = c["indicators_per_year"]
        for yi, year in enumerate(years):
            for i in range(per_year):
                n = yi * per_year + i + 1
                code = f"{i // 10 + 1}.{i % 10 + 1}"
                indicators.append(
                    {
                        "id": n,
                        "fiscal_year": year,
                        "category": "KRS",
                        "code": code,
                        "code_key": normalize_code(code),
                        "name": f"ร้อยละของสถานศึกษาที่ดำเนินการตามมาตรฐานการศึกษา ข้อที่ {i + 1}",
                        "receiver_id": receiver_ids[i % len(receiver_ids)],
                        "created_at": now,
                    }
                )
                # The same reporters keep an indicator over the years, so one reporter
                # sees a handful a year, at 1× as at 10×.
                for k in range(REPORTERS_PER_INDICATOR):
                    reporter = reporter_ids[(i * REPORTERS_PER_INDICATOR + k) % len(reporter_ids)]
                    links.append({"indicator_id": n, "user_id": reporter})
        db.session.execute(insert(Indicator), indicators)
        db.session.execute(insert(indicator_reporters), links)

        documents, audit = [], []
        slots = [(ind, m) for ind in indicators for m in ROUNDS]
        reporters_of = {}
        for link in links:
            reporters_of.setdefault(link["indicator_id"], []).append(link["user_id"])
        for n in range(c["documents"]):
            indicator, months = slots[n % len(slots)]
            content = small_file(n)
            path = uploads / f"{n:032x}.pdf"
            path.write_bytes(content)
            uploader = reporters_of[indicator["id"]][n % REPORTERS_PER_INDICATOR]
            # Every slot's documents go through the statuses, each slot starting elsewhere.
            kind = (n // len(slots) + n) % 20
            status = [RECEIVED] * 14 + [SENT] * 4 + [RETURNED, REPLACED]
            status = status[kind]
            at = now - timedelta(days=(len(years) * 365) * (c["documents"] - n) / c["documents"])
            row = {
                "id": n + 1,
                "indicator_id": indicator["id"],
                "round_months": months,
                "title": f"ผลการดำเนินงานตัวชี้วัด {indicator['code']} ชุดที่ {n}",
                "original_name": f"รายงานผลการดำเนินงาน_{n}.pdf",
                "stored_name": path.name,
                "size": len(content),
                "sha256": hashlib.sha256(content).hexdigest(),
                "content_type": "application/pdf",
                "uploaded_by_id": uploader,
                "uploaded_at": at,
                "status": status,
                "late": n % 11 == 0,
                "received_by_id": None,
                "received_at": None,
                "return_reason": None,
                "returned_by_id": None,
                "returned_at": None,
                "replaces_id": None,
            }
            if status == RECEIVED:
                row.update(received_by_id=indicator["receiver_id"], received_at=at)
            elif status in (RETURNED, REPLACED):
                row.update(
                    returned_by_id=indicator["receiver_id"],
                    returned_at=at,
                    return_reason="แนบไฟล์ไม่ครบตามแบบฟอร์ม กรุณาส่งใหม่",
                )
            documents.append(row)
            audit.append(
                {
                    "at": at,
                    "actor_id": uploader,
                    "action": "document_sent",
                    "object_type": "document",
                    "object_id": n + 1,
                    "indicator_id": indicator["id"],
                    "params": json.dumps({"title": row["title"]}, ensure_ascii=False),
                    "ip": "10.0.0.1",
                }
            )
        for start in range(0, len(documents), 5000):
            db.session.execute(insert(Document), documents[start : start + 5000])
            db.session.execute(insert(AuditEntry), audit[start : start + 5000])
        if db.engine.dialect.name == "postgresql":
            _reset_sequences(db.session.connection())
            db.session.execute(text("ANALYZE"))
        db.session.commit()
        first = indicators[-per_year]  # the current year's first indicator
        return {
            **c,
            "year": current,
            "indicator_id": first["id"],
            "receiver": f"receiver{receiver_ids.index(first['receiver_id']) + 1}",
            "officer": OFFICER,
            "reporter": REPORTER_LOGIN,
        }


if __name__ == "__main__":
    kind, scale = sys.argv[1], int(sys.argv[2])
    data = dataset(kind, scale, fresh="--fresh" in sys.argv)
    print(json.dumps(data.info, indent=1, ensure_ascii=False))
