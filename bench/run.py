"""Page and upload timings on an office-sized dataset, checked against targets.

    make bench                                  # SQLite in a temporary folder
    REPORTS_BENCH_DATABASE_URL=postgresql+psycopg://... make bench

Targets are for one request at a time on the development server's hardware class (2 cores);
they are the numbers a receiver on deadline day should never notice.
"""

import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade  # noqa: E402
from werkzeug.test import Client  # noqa: E402

from app import create_app, mount  # noqa: E402
from blueprints.years.services import create_year  # noqa: E402
from extensions import db  # noqa: E402
from models import REPORTER, Document, Indicator, User  # noqa: E402
from thai import fiscal_year, normalize_code, now_utc  # noqa: E402

STAFF, INDICATORS, DOCUMENTS = 300, 80, 4000
TARGET_P95_MS = {
    "menu": 100,
    "send.index": 300,
    "receive.index": 200,
    "receive.round_page": 300,
    "receive.indicator_page": 200,
    "roles.staff": 400,
    "indicators.index": 300,
    "audit.index": 300,
    # Asked by the portal's server on every page of the portal: it must never be felt there.
    "menu.menu_json": 50,
    "menu.menu_html": 50,
}
UPLOAD_MB, TARGET_UPLOAD_S = 20, 3.0


def seed(app):
    year = fiscal_year()
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        create_year(year)
        users = [
            User(
                username=f"u{n}",
                full_name=f"บุคลากร {n:03d}",
                position=f"กลุ่มงาน {n % 9}",
                password_hash="!",
                reporter_status=REPORTER if n % 3 else None,
            )
            for n in range(STAFF)
        ]
        db.session.add_all(users)
        db.session.flush()
        from blueprints.auth.services import hash_password

        users[0].is_admin, users[0].password_hash = True, hash_password("bench-password")
        users[1].password_hash = hash_password("bench-password")
        indicators = [
            Indicator(
                fiscal_year=year,
                code=f"{n // 10 + 1}.{n % 10 + 1}",
                code_key=normalize_code(f"{n // 10 + 1}.{n % 10 + 1}"),
                name=f"ตัวชี้วัดที่ {n} ร้อยละของโรงเรียนที่ดำเนินการตามเกณฑ์",
                receiver=users[0],
                reporters=[users[1], users[(n % 100) * 3 + 2]],
            )
            for n in range(INDICATORS)
        ]
        db.session.add_all(indicators)
        db.session.flush()
        now = now_utc()
        db.session.add_all(
            Document(
                indicator_id=indicators[n % INDICATORS].id,
                round_months=(6, 9, 12)[n % 3],
                title=f"เอกสาร {n}",
                original_name=f"เอกสาร {n}.pdf",
                stored_name=f"{n:032x}.pdf",
                size=1000,
                sha256="0" * 64,
                content_type="application/pdf",
                uploaded_by_id=users[1].id,
                uploaded_at=now,
                status="received" if n % 2 else "sent",
                received_by_id=users[0].id if n % 2 else None,
                received_at=now if n % 2 else None,
            )
            for n in range(DOCUMENTS)
        )
        db.session.commit()
        return indicators[0].id


def login(client, prefix, username):
    import re

    page = client.get(f"{prefix}/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post(
        f"{prefix}/login",
        data={"csrf_token": token, "username": username, "password": "bench-password"},
    )
    assert response.status_code == 302, response.status_code


def timed(client, path, runs=30):
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(path)
        response.get_data()
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main() -> int:
    folder = tempfile.mkdtemp(prefix="reports-bench-")
    url = os.environ.get("REPORTS_BENCH_DATABASE_URL", f"sqlite:///{folder}/bench.sqlite3")
    app = create_app(
        {
            "SECRET_KEY": "bench",
            "DATABASE_URL": url,
            "UPLOAD_DIR": f"{folder}/uploads",
            "MAX_UPLOAD_MB": UPLOAD_MB + 1,
        }
    )
    indicator_id = seed(app)
    prefix = app.config["URL_PREFIX"]
    admin, reporter = Client(mount(app)), Client(mount(app))
    login(admin, prefix, "u0")
    login(reporter, prefix, "u1")
    pages = {
        "menu": (admin, "/"),
        "send.index": (reporter, "/send/"),
        "receive.index": (admin, "/receive/"),
        "receive.round_page": (admin, "/receive/round/6"),
        "receive.indicator_page": (admin, f"/receive/round/6/indicator/{indicator_id}"),
        "roles.staff": (admin, "/roles/"),
        "indicators.index": (admin, "/indicators/"),
        "audit.index": (admin, "/audit/"),
        "menu.menu_json": (admin, "/menu.json"),
        "menu.menu_html": (reporter, "/menu.html"),
    }
    failed = False
    print(f"{STAFF} staff, {INDICATORS} indicators, {DOCUMENTS} documents on {url.split(':')[0]}")
    print(f"{'page':<26}{'median ms':>10}{'p95 ms':>10}{'target':>10}")
    for name, (client, path) in pages.items():
        median, p95 = timed(client, prefix + path)
        ok = p95 <= TARGET_P95_MS[name]
        failed |= not ok
        print(
            f"{name:<26}{median:>10.1f}{p95:>10.1f}{TARGET_P95_MS[name]:>10}  "
            + ("ok" if ok else "SLOW")
        )

    import re

    page = reporter.get(f"{prefix}/send/indicator/{indicator_id}/attach").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    body = b"%PDF-1.4\n" + os.urandom(UPLOAD_MB * 1024 * 1024)
    start = time.perf_counter()
    response = reporter.post(
        f"{prefix}/send/indicator/{indicator_id}/attach",
        data={
            "csrf_token": token,
            "round_months": "6",
            "title": "ไฟล์ใหญ่",
            "file": (io.BytesIO(body), "ไฟล์ใหญ่.pdf"),
        },
    )
    seconds = time.perf_counter() - start
    ok = response.status_code == 302 and seconds <= TARGET_UPLOAD_S
    failed |= not ok
    print(
        f"upload {UPLOAD_MB} MB: {seconds:.2f} s (target {TARGET_UPLOAD_S} s) "
        + ("ok" if ok else "SLOW")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
