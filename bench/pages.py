"""Figures 1 and 2: statements per page at 1× and 10×, and the main pages under load at 10×.

    .venv/bin/python bench/pages.py                  # SQLite and PostgreSQL
    BENCH_DATABASES=sqlite .venv/bin/python bench/pages.py

Figure 1 opens every GET page of the app (the endpoints come from the URL map, who opens
each from tests/test_queries.py, which holds the same N+1 rule at test size) in the app
itself, at 1× and at 10×, and counts the SQL statements each request issues.

Figure 2 serves the app with deploy/gunicorn.conf.py as shipped and loads each main page with
wrk (16 connections, a second process on loopback), alternating with two references of the
same byte size: our baseline route (session, user, access check, template, no data query)
and a bare Flask route (bench/baseline.py). Each page's throughput is compared with the
baseline measured right beside it, round after round, and the median ratio kept.
"""

import os
import re
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PASSWORD, PREFIX, Gunicorn, Report, app_environment, cookie_header  # noqa: E402
from bench.common import login as http_login  # noqa: E402
from bench.generate import dataset  # noqa: E402

CONNECTIONS = 16
SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
TARGET_RATIO, TARGET_P95_MS = 0.5, 100

# The four pages staff live in on deadline day: (label, who, path).
MAIN_PAGES = [
    ("officer's matrix (receive.index)", "officer", "/receive/"),
    ("round's indicator list (receive.round_page)", "officer", "/receive/round/6"),
    ("indicator's documents (receive.indicator_page)", "officer", "/receive/round/6/indicator/{i}"),
    ("reporter's list (send.index)", "reporter", "/send/"),
]


# --- figure 1 -------------------------------------------------------------------------------


def ids_of(data) -> dict:
    """The rows the pages are opened on, found in the data set itself."""
    from sqlalchemy import select

    from extensions import db
    from models import RETURNED, SENT, Document, Indicator, User

    info = data.info
    reporter = db.session.scalar(select(User).where(User.username == info["reporter"]))

    def own(status):
        return db.session.scalar(
            select(Document.id)
            .join(Indicator)
            .where(
                Document.uploaded_by_id == reporter.id,
                Document.status == status,
                Indicator.fiscal_year == info["year"],
            )
            .order_by(Document.id)
            .limit(1)
        )

    first = db.session.scalar(
        select(Document.id)
        .where(Document.indicator_id == info["indicator_id"], Document.round_months == 6)
        .order_by(Document.id)
        .limit(1)
    )
    return {
        "indicator_id": info["indicator_id"],
        "editable_id": own(SENT),
        "returned_id": own(RETURNED),
        "chain_ids": [first],
        "file_id": first,
    }


class Ids:
    def __init__(self, values):
        self.__dict__.update(values)


def statement_counts(data) -> dict[str, int]:
    """endpoint (and who) -> SQL statements of one request, on a warm app."""
    from flask import url_for
    from sqlalchemy import event
    from werkzeug.test import Client

    from app import create_app, mount
    from extensions import db
    from tests.test_queries import PAGES, get_pages

    app = create_app(
        {"SECRET_KEY": "bench", "DATABASE_URL": data.url, "UPLOAD_DIR": str(data.uploads)}
    )
    who = {"officer": data.info["officer"], "receiver": data.info["receiver"]}
    who["reporter"] = data.info["reporter"]
    clients = {None: Client(mount(app))}
    for role, username in who.items():
        clients[role] = Client(mount(app))
        form = clients[role].get(f"{PREFIX}/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form)[1]
        answer = clients[role].post(
            f"{PREFIX}/login",
            data={"csrf_token": token, "username": username, "password": PASSWORD},
        )
        assert answer.status_code == 302, (username, answer.status_code)
    with app.app_context():
        ids = Ids(ids_of(data))
    requests = []
    with app.test_request_context():
        for endpoint in get_pages():
            role, args = PAGES[endpoint]
            requests.append((endpoint, role, url_for(endpoint, **args(ids))))
        # The officer sees every indicator: the receive pages at their biggest.
        for endpoint in ("receive.index", "receive.round_page", "receive.indicator_page"):
            _, args = PAGES[endpoint]
            requests.append((f"{endpoint} (officer)", "officer", url_for(endpoint, **args(ids))))

    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    counts = {}
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        for endpoint, role, path in requests:
            clients[role].get(path)  # warm: the first request of a worker loads more
            statements.clear()
            answer = clients[role].get(path)
            assert answer.status_code == 200, (endpoint, path, answer.status_code)
            counts[endpoint] = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return counts


def figure_1(report: Report, kind: str) -> None:
    small, large = statement_counts(dataset(kind, 1)), statement_counts(dataset(kind, 10))
    unequal = {page: (small[page], large[page]) for page in small if small[page] != large[page]}
    report.add(
        f"1. SQL statements per page, 1× and 10× ({kind})",
        f"pages with equal counts (of {len(small)})",
        f"{len(small) - len(unequal)} of {len(small)}",
        "all equal",
        not unequal,
        "; ".join(f"{page}: {a} → {b}" for page, (a, b) in unequal.items()),
    )
    table = ["| page | statements at 1× | at 10× |", "| --- | ---: | ---: |"]
    table += [f"| {page} | {small[page]} | {large[page]} |" for page in sorted(small)]
    report.notes.append(f"Statements per request ({kind}):\n\n" + "\n".join(table))


# --- figure 2 -------------------------------------------------------------------------------


def figure_2(report: Report, kind: str) -> None:
    data = dataset(kind, 10)
    base = Path(data.uploads).parent / "run"
    env = app_environment(data.url, data.uploads)
    workers, threads = os.environ.get("BENCH_WORKERS"), os.environ.get("BENCH_THREADS")
    with Gunicorn(base, env, "bench.baseline:wsgi()", workers, threads) as server:
        who = {
            "officer": http_login(server.url(), data.info["officer"]),
            "reporter": http_login(server.url(), data.info["reporter"]),
        }
        bare_url = f"http://127.0.0.1:{server.port}/bench-bare/"
        lines = ["| page | bytes | page req/s | baseline req/s | bare Flask req/s | p95 ms |"]
        lines.append("| --- | ---: | ---: | ---: | ---: | ---: |")
        for label, role, path in MAIN_PAGES:
            http = who[role]
            url = server.url(path.format(i=data.info["indicator_id"]))
            first = http.get(url, timeout=60)
            assert first.status_code == 200, (url, first.status_code)
            size = len(first.content)
            baseline = server.url(f"/bench/baseline?bytes={size}")
            check = http.get(baseline, timeout=60)
            assert check.status_code == 200 and abs(len(check.content) - size) < 200, size
            cookie = cookie_header(http)
            runs = {"page": [], "baseline": [], "bare": []}
            for _ in range(ROUNDS):
                runs["page"].append(wrk(url, cookie))
                runs["baseline"].append(wrk(baseline, cookie))
                runs["bare"].append(wrk(f"{bare_url}?bytes={size}", ""))
            ratio = statistics.median(
                p["rps"] / b["rps"] for p, b in zip(runs["page"], runs["baseline"], strict=True)
            )
            p95 = statistics.median(r["p95_ms"] for r in runs["page"])
            errors = sum(r["errors"] for rs in runs.values() for r in rs)
            rps = {k: statistics.median(r["rps"] for r in v) for k, v in runs.items()}
            name = f"2. {label} at 10×, {CONNECTIONS} clients ({kind})"
            report.add(name, "throughput ÷ baseline", f"{ratio:.2f}", f"≥ {TARGET_RATIO}",
                       ratio >= TARGET_RATIO and errors == 0,
                       f"{rps['page']:.0f} vs {rps['baseline']:.0f} req/s; bare Flask "
                       f"{rps['bare']:.0f} req/s; {errors} errors")  # fmt: skip
            report.add(name, "p95 latency", f"{p95:.0f} ms", f"< {TARGET_P95_MS} ms",
                       p95 < TARGET_P95_MS)  # fmt: skip
            lines.append(
                f"| {label} | {size} | {rps['page']:.0f} | {rps['baseline']:.0f} | "
                f"{rps['bare']:.0f} | {p95:.0f} |"
            )
        report.notes.append(
            f"Main pages at 10× on {kind} (medians of {ROUNDS} alternating runs of "
            f"{SECONDS} s, {CONNECTIONS} connections):\n\n" + "\n".join(lines)
        )


def wrk(url: str, cookie: str) -> dict:
    from bench.common import wrk as run_wrk

    return run_wrk(url, cookie, connections=CONNECTIONS, seconds=SECONDS)


def main() -> int:
    kinds = os.environ.get("BENCH_DATABASES", "sqlite,postgresql").split(",")
    report = Report("pages")
    for kind in kinds:
        print(f"== figure 1 on {kind}")
        figure_1(report, kind)
    for kind in kinds:
        print(f"== figure 2 on {kind}")
        figure_2(report, kind)
    report.save()
    return 0 if all(r.met is not False for r in report.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
