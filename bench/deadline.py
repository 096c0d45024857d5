"""Figure 6, deadline day: 200 staff at once for 3 minutes against gunicorn and PostgreSQL.

    .venv/bin/python bench/deadline.py          # DEADLINE_SECONDS=30 for a short trial

(also DEADLINE_STAFF, default 200; DEADLINE_ARRIVAL, seconds over which people log in, default
30; DEADLINE_SEED.)

The office of bench/generate.py (PostgreSQL, 1×) is copied first, database and upload folder
(reports_bench_deadline, bench/data/postgresql-deadline/), so every run starts from the same
data and the shared data set is never written to. gunicorn runs as deploy/ ships it; this
process is the second one, on loopback, with one thread and one browser session per person:

- reporters (85 %): ส่งเอกสารคำรับรอง (the list), the attach form of one of their indicators
  of the current year, and a file of 100 KB–2 MB (a PDF, sized log-uniformly) sent to a round;
- receivers (12.5 %): their matrix (รับเอกสารรายงานตัวชี้วัด), a round, one of their
  indicators' documents, and จัดเก็บ of a waiting one;
- the officer (the rest): the whole year's matrix.

Each person logs in on the login page (staggered over the first seconds, as people arrive),
then repeats their role's actions with 1–5 s of thinking between them until the time is up.
Accounts are reused when there are more people than accounts (two browsers of one person);
a receiver's sessions each take their own share of the waiting documents, so no two
sessions race for one document (that refusal would be right, but is not what is measured).

Every answer is checked: the expected status, a redirect to where the action leads (not to
the login page). Anything else, an exception or a timeout, is an error. Afterwards gunicorn
stops, and `flask verify-files` must pass on the copy; every file on disk must be a
document's, and the documents added (received) must equal the uploads (receipts) answered
with their redirect. Rows go to bench/results/deadline.json; the table also shows each
action's p50/p95 "steady", over requests sent once the logins are over (arrivals + 10 s), and
how much CPU gunicorn, PostgreSQL (the copy's connections) and this process had: the machine
is shared, and what others used is said beside the figures. The copy is dropped at the end.

The login throttle keeps its defaults: a login takes its place in the address's count
(LOGIN_ADDRESS_FAILURES = 30) only while it runs and gives it back when the password is
right, and at most workers × threads (5 × 4 on 2 cores) logins run at once, so all these
logins from 127.0.0.1 never reach 30. On a server with 4 or more cores (9+ workers × 4
threads) more than 30 right logins from one address could be in flight at once and some
would be refused (429): see the report of this figure.
"""

import math
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    DATA,
    PASSWORD,
    POSTGRES,
    ROOT,
    Gunicorn,
    Report,
    app_environment,
    csrf_token,
    psql_admin,
)
from bench.generate import dataset  # noqa: E402

FIGURE = "6. Deadline day"
SECONDS = float(os.environ.get("DEADLINE_SECONDS", 180))
STAFF = int(os.environ.get("DEADLINE_STAFF", 200))
SEED = int(os.environ.get("DEADLINE_SEED", 6))
THINK = (1.0, 5.0)  # seconds between one person's actions
# People log in spread over this long (each login is ~0.13 s of argon2id on one core).
ARRIVAL = float(os.environ.get("DEADLINE_ARRIVAL", min(30.0, SECONDS / 6)))
TIMEOUT = 60  # seconds for one request: more is an error, not a slow page
# This process stands where nginx does, and like nginx (upstream keepalive_timeout 4s in
# deploy/nginx/myoffice.conf) never reuses a connection gunicorn may be closing (keepalive = 5),
# or the next request meets the close (a reset). Shorter than nginx's: one of 200 Python threads
# on a saturated machine can stall for a second between this check and its first byte (at 4 s
# one upload in 8000 met the close).
IDLE = 2.0
UPLOAD_BYTES = (100_000, 2_000_000)
COPY = "reports_bench_deadline"
WORK = DATA / "postgresql-deadline"
# The order the table prints them in; the expected answers are checked in each action.
ACTIONS = [
    "login",
    "list",
    "attach form",
    "upload",
    "matrix (receiver)",
    "round",
    "indicator",
    "receive",
    "matrix (officer)",
]


# --- the copy ----------------------------------------------------------------------------


def copy_dataset(source_url: str, source_uploads: Path) -> tuple[str, Path]:
    """A fresh database and upload folder from the shared 1× data set; its URL and folder."""
    source = source_url.rsplit("/", 1)[1]
    psql_admin(f'DROP DATABASE IF EXISTS "{COPY}" WITH (FORCE)')
    try:
        # Fastest, a file-level copy; PostgreSQL refuses while anyone is connected to the
        # source (another engineer's benchmark, say), and those are not ours to close.
        psql_admin(f'CREATE DATABASE "{COPY}" TEMPLATE "{source}"')
        print(f"copied {source} as {COPY} (template)")
    except subprocess.CalledProcessError as error:
        if b"being accessed by other users" not in (error.stderr or b""):
            raise
        psql_admin(f"CREATE DATABASE \"{COPY}\" ENCODING 'UTF8' TEMPLATE template0")
        pg = ["-h", "127.0.0.1", "-U", "postgres"]
        dump = subprocess.Popen(["pg_dump", *pg, "--no-owner", source], stdout=subprocess.PIPE)
        subprocess.run(
            ["psql", *pg, "-q", "-v", "ON_ERROR_STOP=1", "-d", COPY],
            stdin=dump.stdout,
            stdout=subprocess.DEVNULL,
            check=True,
        )
        dump.stdout.close()
        if dump.wait() != 0:
            raise RuntimeError("pg_dump failed") from error
        print(f"copied {source} as {COPY} (pg_dump: the source was in use)")
    uploads = WORK / "uploads"
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    # Hard links: stored files are never written again (a new upload is a new file), so the
    # copy costs no space and the shared folder stays as it was.
    subprocess.run(["cp", "-al", str(source_uploads), str(uploads)], check=True)
    url = f"{POSTGRES}/{COPY}"
    # As a deployment does before it starts: the schema of the code measured (a migration
    # newer than the shared data set's would otherwise be missing from the copy).
    flask("init-db", url, uploads, check=True)
    return url, uploads


def drop_copy() -> None:
    psql_admin(f'DROP DATABASE IF EXISTS "{COPY}" WITH (FORCE)')


@dataclass
class Office:
    """Who logs in, and what each may act on, read from the copy."""

    year: int
    rounds: list[int]
    officers: list[str]
    receivers: dict[str, list[int]]  # username: their indicators of the year
    reporters: dict[str, list[int]]  # username: the indicators they report on this year
    documents: int
    received: int


def read_office(url: str, year: int) -> Office:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as c:

            def grouped(sql: str) -> dict[str, list[int]]:
                result = defaultdict(list)
                for username, indicator_id in c.execute(text(sql), {"year": year}):
                    result[username].append(indicator_id)
                return dict(result)

            rounds = c.execute(
                text("SELECT months FROM rounds WHERE fiscal_year = :year ORDER BY months"),
                {"year": year},
            ).scalars()
            officers = c.execute(
                text("SELECT username FROM users WHERE is_admin AND active ORDER BY id")
            ).scalars()
            receivers = grouped(
                "SELECT u.username, i.id FROM users u JOIN indicators i ON i.receiver_id = u.id"
                " WHERE i.fiscal_year = :year AND u.active AND NOT u.is_admin ORDER BY u.id, i.id"
            )
            reporters = grouped(
                "SELECT u.username, i.id FROM users u"
                " JOIN indicator_reporters r ON r.user_id = u.id"
                " JOIN indicators i ON i.id = r.indicator_id"
                " WHERE i.fiscal_year = :year AND u.active AND u.reporter_status IS NOT NULL"
                " ORDER BY u.id, i.id"
            )
            office = Office(year, list(rounds), list(officers), receivers, reporters, 0, 0)
            office.documents, office.received = counts(c)
            return office
    finally:
        engine.dispose()


def counts(connection) -> tuple[int, int]:
    from sqlalchemy import text

    return connection.execute(
        text("SELECT count(*), count(*) FILTER (WHERE status = 'received') FROM documents")
    ).one()


def database_state(url: str) -> tuple[int, int, set[str]]:
    """(documents, received ones, every stored file name) now."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as c:
            documents, received = counts(c)
            names = set(c.execute(text("SELECT stored_name FROM documents")).scalars())
            return documents, received, names
    finally:
        engine.dispose()


# --- the people ----------------------------------------------------------------------------


@dataclass
class Tally:
    """One person's measurements: latencies (ms) per action, and what went wrong."""

    ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    steady: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    details: list[str] = field(default_factory=list)
    requests: int = 0
    nothing_waiting: int = 0


class Failed(Exception):
    """An answer that is not the expected one; counted as an error of its action."""


class Person(threading.Thread):
    """One member of staff in their own browser session (a thread of this process)."""

    def __init__(self, n: int, role: str, username: str, base: str, office: Office, **kw):
        super().__init__(name=f"{role}-{n}", daemon=True)
        self.role, self.username, self.base, self.office = role, username, base, office
        self.indicators: list[int] = kw.get("indicators", [])
        self.share = kw.get("share", (0, 1))  # (k, m): store documents whose id % m == k
        self.rng = random.Random(f"{SEED}-{n}")  # nosec B311: a seeded simulation, no secret
        self.tally = Tally()
        self.http = requests.Session()
        self.http.trust_env = False
        self.origin = base.split("/myoffice", 1)[0]
        self.start_at = self.end_at = 0.0
        self.last = 0.0  # when the last answer came
        self.steady_from = 0.0  # requests sent after this count for the steady columns too

    # One request, timed and checked ------------------------------------------------------

    def call(self, action, method, path, expect, to="", record=True, **kw):
        url = path if path.startswith("http") else self.base + path
        idle = time.monotonic() - self.last
        if idle >= IDLE:
            self.http.close()  # its idle connection goes; the session (cookies) stays
        sent, started = time.monotonic(), time.perf_counter()
        try:
            response = self.http.request(method, url, timeout=TIMEOUT, allow_redirects=False, **kw)
            elapsed = (time.perf_counter() - started) * 1000
        except requests.RequestException as error:
            connection = "a new connection" if idle >= IDLE else f"one idle {idle:.1f} s"
            self.failed(action, f"{method} {path} on {connection}: {type(error).__name__}: {error}")
            raise Failed from error
        finally:
            self.tally.requests += 1
            self.last = time.monotonic()
        where = response.headers.get("Location", "")
        if response.status_code != expect or (to and not where.endswith(to)):
            body = " ".join(response.text[:300].split())
            self.failed(action, f"{method} {path}: {response.status_code} {where} {body}")
            raise Failed
        if record:
            self.tally.ms[action].append(elapsed)
            if sent >= self.steady_from:
                self.tally.steady[action].append(elapsed)
        return response

    def failed(self, action: str, detail: str) -> None:
        self.tally.errors[action] += 1
        if len(self.tally.details) < 5:
            self.tally.details.append(f"{self.username} {action}: {detail}")

    def think(self) -> bool:
        """Pause as a person reads and clicks; False once the time is up."""
        pause = self.rng.uniform(*THINK)
        if time.monotonic() + pause >= self.end_at:
            return False
        time.sleep(pause)
        return True

    # The day --------------------------------------------------------------------------

    def run(self) -> None:
        time.sleep(max(0.0, self.start_at - time.monotonic()))
        try:
            self.login()
        except Failed:
            return  # counted; a person who cannot log in does nothing else
        steps = {"reporter": self.report, "receiver": self.receive, "officer": self.oversee}
        while self.think():
            try:
                steps[self.role]()
            except Failed:
                continue  # counted; the person tries again after a pause

    def login(self) -> None:
        # Timed as one action: the page, then the form sent (argon2id on the server).
        started = time.perf_counter()
        page = self.call("login", "GET", "/login", 200, record=False)
        self.call(
            "login",
            "POST",
            "/login",
            302,
            to="/myoffice/reports/",
            record=False,
            data={
                "csrf_token": csrf_token(page.text),
                "username": self.username,
                "password": PASSWORD,
            },
            headers={"Referer": f"{self.base}/login"},
        )
        self.tally.ms["login"].append((time.perf_counter() - started) * 1000)

    def report(self) -> None:
        """The list, then a file sent to one of my indicators."""
        self.call("list", "GET", "/send/", 200)
        if not self.think():
            return
        indicator = self.rng.choice(self.indicators)
        form = self.call("attach form", "GET", f"/send/indicator/{indicator}/attach", 200)
        if not self.think():
            return
        months = self.rng.choice(self.office.rounds)
        size = int(math.exp(self.rng.uniform(*map(math.log, UPLOAD_BYTES))))
        number = self.tally.requests
        self.call(
            "upload",
            "POST",
            f"/send/indicator/{indicator}/attach",
            302,
            to="/myoffice/reports/send/",
            data={
                "csrf_token": csrf_token(form.text),
                "round_months": str(months),
                "title": f"ผลการดำเนินงานรอบ {months} เดือน ครั้งที่ {number}",
            },
            files={"file": (f"รายงานผล_{self.username}_{number}.pdf", self.pdf(size))},
        )

    def pdf(self, size: int) -> bytes:
        head = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
        tail = b"\n%%EOF\n"
        return head + self.rng.randbytes(max(0, size - len(head) - len(tail))) + tail

    def receive(self) -> None:
        """My matrix, a round, one indicator's documents, and จัดเก็บ of a waiting one."""
        self.call("matrix (receiver)", "GET", "/receive/", 200)
        if not self.think():
            return
        months = self.rng.choice(self.office.rounds)
        self.call("round", "GET", f"/receive/round/{months}", 200)
        if not self.think():
            return
        indicator = self.rng.choice(self.indicators)
        path = f"/receive/round/{months}/indicator/{indicator}"
        page = self.call("indicator", "GET", path, 200)
        k, m = self.share
        waiting = [
            (action, int(document_id))
            for action, document_id in re.findall(
                r'action="([^"]*/document/(\d+)/store)"', page.text
            )
            if int(document_id) % m == k
        ]
        if not waiting:
            self.tally.nothing_waiting += 1
            return
        if not self.think():
            return
        action, _document_id = self.rng.choice(waiting)
        self.call(
            "receive",
            "POST",
            self.origin + action,
            302,
            to=path,
            data={"csrf_token": csrf_token(page.text)},
            headers={"Referer": self.base + path},
        )

    def oversee(self) -> None:
        self.call("matrix (officer)", "GET", "/receive/", 200)


def people(office: Office, base: str) -> list[Person]:
    """STAFF people: 85 % reporters, 12.5 % receivers, the rest the officer."""
    rng = random.Random(SEED)  # nosec B311: a seeded simulation, no secret
    n_reporters = round(STAFF * 0.85)
    n_receivers = round(STAFF * 0.125)
    n_officers = max(1, STAFF - n_reporters - n_receivers)
    reporters = sorted(office.reporters)
    receivers = sorted(office.receivers)
    rng.shuffle(reporters)
    rng.shuffle(receivers)
    crowd = []
    for i in range(n_reporters):
        name = reporters[i % len(reporters)]
        crowd.append(("reporter", name, {"indicators": office.reporters[name]}))
    sessions = defaultdict(int)
    for i in range(n_receivers):
        sessions[receivers[i % len(receivers)]] += 1
    for name, m in sessions.items():
        for k in range(m):
            crowd.append(
                ("receiver", name, {"indicators": office.receivers[name], "share": (k, m)})
            )
    for i in range(n_officers):
        crowd.append(("officer", office.officers[i % len(office.officers)], {}))
    rng.shuffle(crowd)
    return [Person(n, role, name, base, office, **kw) for n, (role, name, kw) in enumerate(crowd)]


# --- figures ---------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def flask(command: str, url: str, uploads: Path, check: bool = False):
    """`flask --app app <command>` with the production settings pointed at the copy."""
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "flask"), "--app", "app", command],
        cwd=ROOT,
        env=app_environment(url, uploads),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"flask {command}: {result.stdout}{result.stderr}")
    return result


def verify_files(url: str, uploads: Path) -> tuple[int, str]:
    result = flask("verify-files", url, uploads)
    return result.returncode, (result.stdout + result.stderr).strip()


def server_errors(log: Path) -> list[str]:
    """What gunicorn and the app logged besides the usual start and stop lines."""
    usual = re.compile(
        r"\[INFO\] (Starting gunicorn|Listening at|Using worker|Booting worker|Handling signal"
        r"|Shutting down|Worker exiting|Autorestarting worker|Worker reloading"
        r"|Worker \(pid:\d+\) was sent SIGTERM)"
    )
    text = log.read_text(errors="replace")
    return [line for line in text.splitlines() if line.strip() and not usual.search(line)]


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time the processes have used so far."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def database_backends() -> list[int]:
    """The PostgreSQL processes serving the copy now (the workers' pooled connections)."""
    query = f"SELECT pid FROM pg_stat_activity WHERE datname = '{COPY}'"  # noqa: S608 (ours)
    command = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-tAc", query]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return [int(pid) for pid in output.split()]


def machine_busy() -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / os.sysconf("SC_CLK_TCK"), sum(values) / os.sysconf("SC_CLK_TCK")


def wait_until_serving(server: Gunicorn, timeout: float = 60) -> None:
    """Until a worker answers the login page: the port alone is only gunicorn's master."""
    deadline = time.monotonic() + timeout
    http = requests.Session()
    http.trust_env = False
    while True:
        try:
            if http.get(server.url("/login"), timeout=10).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline or server.process.poll() is not None:
            log = server.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the app does not answer /login:\n{log}")
        time.sleep(0.5)


def main() -> int:
    data = dataset("postgresql", 1)
    url, uploads = copy_dataset(data.url, data.uploads)
    try:
        return measure(url, uploads, data.info["year"])
    finally:
        # The copy goes (a run adds about a gigabyte of uploads); gunicorn's log stays in WORK.
        drop_copy()
        shutil.rmtree(uploads, ignore_errors=True)


def measure(url: str, uploads: Path, year: int) -> int:
    office = read_office(url, year)
    code, output = verify_files(url, uploads)
    if code != 0:
        print(output)
        raise RuntimeError("verify-files fails on the copy before the run: a broken data set")
    env = app_environment(url, uploads)
    report = Report("deadline")
    with Gunicorn(WORK, env) as server:
        wait_until_serving(server)
        crowd = people(office, server.url())
        workers, threads = server.env.get("REPORTS_WORKERS"), server.env.get("REPORTS_THREADS")
        print(
            f"{len(crowd)} people ({sum(p.role == 'reporter' for p in crowd)} reporters,"
            f" {sum(p.role == 'receiver' for p in crowd)} receivers,"
            f" {sum(p.role == 'officer' for p in crowd)} officer) for {SECONDS:.0f} s"
            f" against gunicorn on port {server.port} (workers {workers or 'default'},"
            f" threads {threads or 'default'}), PostgreSQL {COPY}"
        )
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        server_before = cpu_seconds([server.process.pid, *server.workers()])
        machine_before = machine_busy()
        began = time.monotonic()
        end = began + ARRIVAL + SECONDS
        rng = random.Random(SEED)  # nosec B311: a seeded simulation, no secret
        for person in crowd:
            person.start_at = began + rng.uniform(0, ARRIVAL)
            person.end_at = end
            person.steady_from = began + ARRIVAL + 10  # the last logins answered, say
            person.start()
        for person in crowd:
            person.join(timeout=max(1.0, end - time.monotonic()) + TIMEOUT * 4)
        elapsed = time.monotonic() - began
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        client_cpu = sum(getattr(cpu, f) - getattr(cpu_before, f) for f in ("ru_utime", "ru_stime"))
        # Workers recycled during the run (max_requests) take their share with them.
        server_cpu = cpu_seconds([server.process.pid, *server.workers()]) - server_before
        # Opened during the run (a worker connects on its first request), so all theirs is
        # the run's; connections closed before the end (the pool's overflow) are not counted.
        database_cpu = cpu_seconds(database_backends())
        busy, total = (a - b for a, b in zip(machine_busy(), machine_before, strict=True))
        stuck = [p.name for p in crowd if p.is_alive()]
    log_lines = server_errors(server.log)
    after_documents, after_received, names = database_state(url)
    code, output = verify_files(url, uploads)
    on_disk = {p.name for p in uploads.iterdir() if not p.name.startswith(".")}

    ms: dict[str, list[float]] = defaultdict(list)
    steady: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    details, requests_sent, nothing = [], 0, 0
    for person in crowd:
        for action, values in person.tally.ms.items():
            ms[action].extend(values)
        for action, values in person.tally.steady.items():
            steady[action].extend(values)
        for action, n in person.tally.errors.items():
            errors[action] += n
        details += person.tally.details
        requests_sent += person.tally.requests
        nothing += person.tally.nothing_waiting
    error_total = sum(errors.values()) + len(stuck)
    actions_done = sum(len(v) for v in ms.values()) + sum(errors.values())

    print(
        f"\n{'action':<20}{'count':>7}{'errors':>8}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}"
        f"   {'steady p50':>10}{'steady p95':>11}"
    )
    for action in ACTIONS:
        values = ms.get(action, [])
        if not values and not errors.get(action):
            continue
        p50 = percentile(values, 50) if values else float("nan")
        p95 = percentile(values, 95) if values else float("nan")
        top = max(values) if values else float("nan")
        calm = steady.get(action, [])
        calm50 = f"{percentile(calm, 50):.0f}" if calm else "-"
        calm95 = f"{percentile(calm, 95):.0f}" if calm else "-"
        print(
            f"{action:<20}{len(values):>7}{errors[action]:>8}{p50:>9.0f}{p95:>9.0f}{top:>9.0f}"
            f"   {calm50:>10}{calm95:>11}"
        )
    cores = os.cpu_count() or 1
    machine = (
        f"gunicorn used {server_cpu / elapsed:.2f} cores, this load process"
        f" {client_cpu / elapsed:.2f}, PostgreSQL for the copy {database_cpu / elapsed:.2f};"
        f" the machine ({cores} cores) was {busy / total:.0%} busy,"
        f" {(busy - server_cpu - client_cpu - database_cpu) / elapsed:.2f} cores of it"
        " for other work"
    )
    print(
        f"{len(crowd)} people, {actions_done} actions, {requests_sent} requests in {elapsed:.0f} s"
        f" ({ARRIVAL:.0f} s of arrivals); steady: requests sent from {ARRIVAL + 10:.0f} s on\n"
        + machine
    )
    for line in details[:20]:
        print("  error:", line)
    if stuck:
        print("  still running at the end:", ", ".join(stuck[:10]))
    print(f"\nverify-files (exit {code}):\n{output}")
    if log_lines:
        print(f"\ngunicorn log ({server.log}), {len(log_lines)} unusual lines:")
        print("\n".join(log_lines[:40]))

    uploads_ok, receipts_ok = len(ms.get("upload", [])), len(ms.get("receive", []))
    added, received = after_documents - office.documents, after_received - office.received
    label = f"{FIGURE} ({len(crowd)} staff, {SECONDS:.0f} s, gunicorn + PostgreSQL)"
    report.add(
        label,
        "errors",
        f"{error_total} in {requests_sent} requests",
        "0",
        error_total == 0,
        "; ".join(f"{a}: {n}" for a, n in errors.items() if n) + (" stuck" if stuck else ""),
    )
    for action in ACTIONS:
        values = ms.get(action)
        if values:
            report.add(
                label,
                f"p95 {action}",
                f"{percentile(values, 95):.0f} ms",
                "— (reported)",
                None,
                f"p50 {percentile(values, 50):.0f} ms, max {max(values):.0f} ms, n={len(values)}"
                + (
                    f"; after the arrivals p95 {percentile(steady[action], 95):.0f} ms"
                    if steady.get(action)
                    else ""
                ),
            )
    report.add(
        label,
        "throughput",
        f"{actions_done / elapsed:.1f} actions/s ({requests_sent / elapsed:.1f} requests/s)",
        "— (reported)",
        None,
        f"{elapsed:.0f} s including {ARRIVAL:.0f} s of arrivals; {machine}",
    )
    report.add(
        label,
        "verify-files afterwards",
        "clean" if code == 0 else f"exit {code}",
        "clean",
        code == 0,
        f"{after_documents} documents",
    )
    report.add(
        label,
        "documents added = uploads accepted",
        f"{added} = {uploads_ok}",
        "equal",
        added == uploads_ok,
    )
    report.add(
        label,
        "receipts stored = receipts answered",
        f"{received} = {receipts_ok}",
        "equal",
        received == receipts_ok,
        f"{nothing} indicator pages had nothing waiting for that session",
    )
    extra, missing = on_disk - names, names - on_disk
    report.add(
        label,
        "files on disk = documents' files",
        f"{len(extra)} extra, {len(missing)} missing",
        "0, 0",
        not extra and not missing,
    )
    report.notes.append(
        f"{len(crowd)} people: {sum(p.role == 'reporter' for p in crowd)} reporters (list,"
        " attach form, a 100 KB–2 MB PDF), "
        f"{sum(p.role == 'receiver' for p in crowd)} receivers (matrix, round, indicator,"
        f" จัดเก็บ), {sum(p.role == 'officer' for p in crowd)} officer sessions (the year's"
        f" matrix); {THINK[0]:.0f}–{THINK[1]:.0f} s thinking between actions; logins spread"
        f" over {ARRIVAL:.0f} s. gunicorn as deploy/gunicorn.conf.py (gthread, 2×cores+1"
        " workers, 2 threads); one load process (threads) on loopback. The login throttle is"
        " left at its defaults: each login takes an address place only while it runs and gives"
        " it back on success, and no more than workers × threads logins run at once."
    )
    if log_lines:
        report.notes.append(f"gunicorn log: {len(log_lines)} unusual lines, e.g. {log_lines[0]}")
    print(f"saved {report.save()}")
    ok = all(row.met is not False for row in report.rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
