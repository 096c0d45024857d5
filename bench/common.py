"""What every benchmark shares: gunicorn as deployed, a logged-in client, memory readings,
wrk as the second process, and the rows that bench/run.py writes into bench/RESULTS.md.

Each figure's script (bench/pages.py, bench/upload.py, ...) runs on its own too
(`.venv/bin/python bench/upload.py`) and saves its rows to bench/results/<name>.json.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
DATA = BENCH / "data"
PREFIX = "/myoffice/reports"
PASSWORD = "bench-password"  # nosec B105: every generated account's, on loopback only
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432"

sys.path.insert(0, str(ROOT))


@dataclass
class Row:
    """One figure's measurement beside its target, as RESULTS.md shows it."""

    figure: str  # "3. Upload of a 200 MB file"
    measure: str  # "memory growth"
    value: str  # "5.1 MB"
    target: str  # "≤ 16 MB"
    met: bool | None  # None: reported, no target
    note: str = ""


@dataclass
class Report:
    """A script's rows and what it wants said under them (changes made, profiles)."""

    name: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *args, **kwargs) -> Row:
        row = Row(*args, **kwargs)
        self.rows.append(row)
        mark = "-" if row.met is None else ("met" if row.met else "MISSED")
        print(f"  {row.figure} | {row.measure}: {row.value} (target {row.target}) {mark}")
        return row

    def save(self) -> Path:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{self.name}.json"
        data = {"name": self.name, "rows": [asdict(r) for r in self.rows], "notes": self.notes}
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1))
        return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited:\n{log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}:\n{log.read_text(errors='replace')[-3000:]}")


def app_environment(database_url: str, uploads: Path, **settings) -> dict:
    """The production settings deploy/reports.env.example asks for, pointed at bench data."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPORTS_")}
    env.update(
        {
            "REPORTS_ENV_NAME": "production",
            "REPORTS_SECRET_KEY": "bench-secret-key-not-for-production",
            "REPORTS_DATABASE_URL": database_url,
            "REPORTS_UPLOAD_DIR": str(uploads),
            "REPORTS_TRUSTED_PROXIES": "127.0.0.1",
        }
    )
    env.update({f"REPORTS_{k}": str(v) for k, v in settings.items()})
    return env


class Gunicorn:
    """deploy/gunicorn.conf.py as shipped; only the port, the app and the settings change.

    `app` overrides the config's wsgi_app (e.g. "bench.baseline:wsgi()" for the reference
    routes); workers and threads stay the deploy defaults unless given.
    """

    def __init__(self, base: Path, env: dict, app: str | None = None, workers=None, threads=None):
        self.base = Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log = self.base / f"gunicorn-{self.port}.log"
        self.env = {**env, "REPORTS_BIND": f"127.0.0.1:{self.port}"}
        if workers:
            self.env["REPORTS_WORKERS"] = str(workers)
        if threads:
            self.env["REPORTS_THREADS"] = str(threads)
        self.app = app

    def start(self) -> "Gunicorn":
        gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
        command = [gunicorn, "--config", str(ROOT / "deploy" / "gunicorn.conf.py")]
        # The access log of a load test would cost as much as the pages; errors still show.
        command += ["--access-logfile", "/dev/null"]
        if self.app:
            command.append(self.app)
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.port, self.process, self.log)
        return self

    def __enter__(self) -> "Gunicorn":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{PREFIX}{path}"

    def workers(self) -> list[int]:
        with open(f"/proc/{self.process.pid}/task/{self.process.pid}/children") as f:
            return [int(pid) for pid in f.read().split()]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def rss_mb(pid: int) -> float:
    """Resident memory of one process now (VmRSS), in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def hwm_mb(pid: int) -> float:
    """The kernel's peak resident memory of one process (VmHWM), in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def reset_hwm(pid: int) -> None:
    """Start VmHWM again from the current RSS (writing 5 to clear_refs; Linux ≥ 4.0)."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html)[1]


def login(base_url: str, username: str, password: str = PASSWORD) -> requests.Session:
    """A browser logged in on our login page; base_url ends at the prefix."""
    http = requests.Session()
    http.trust_env = False
    form = http.get(f"{base_url}/login", timeout=30)
    response = http.post(
        f"{base_url}/login",
        data={"csrf_token": csrf_token(form.text), "username": username, "password": password},
        headers={"Referer": f"{base_url}/login"},
        allow_redirects=False,
        timeout=30,
    )
    if response.status_code != 302:
        raise RuntimeError(f"login as {username}: {response.status_code} {response.text[:300]}")
    return http


def cookie_header(http: requests.Session) -> str:
    return "; ".join(f"{c.name}={c.value}" for c in http.cookies)


_WRK_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format("BENCH %d %d %d %d %d %d %d %d %d\\n",
    summary.requests, summary.duration,
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(95)))
end
"""


def wrk(url: str, cookie: str = "", connections: int = 16, seconds: int = 10) -> dict:
    """Requests per second and latency (ms) of `connections` clients on one URL.

    wrk is the second process on loopback; it counts a non-2xx/3xx answer as an error.
    """
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is missing: apt-get install wrk")
    script = RESULTS / "wrk-report.lua"
    RESULTS.mkdir(parents=True, exist_ok=True)
    script.write_text(_WRK_SCRIPT)
    # A slow answer is measured, not dropped: wrk's own 2 s timeout would count it an error.
    command = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--timeout", "30s"]
    command += ["-s", str(script)]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    output = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    line = next(line for line in output.splitlines() if line.startswith("BENCH "))
    n, duration_us, *errors, p50, p95 = (int(x) for x in line.split()[1:])
    return {
        "requests": n,
        "rps": n / (duration_us / 1e6),
        "errors": sum(errors),
        "p50_ms": p50 / 1000,
        "p95_ms": p95 / 1000,
    }


def postgres_database(name: str, fresh: bool = False) -> str:
    """A PostgreSQL database of the bench's own (created if missing); its SQLAlchemy URL."""
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise ValueError(name)
    query = f"SELECT 1 FROM pg_database WHERE datname = '{name}'"  # noqa: S608 (checked above)
    command = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-tAc", query]
    exists = subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
    if exists and fresh:
        psql_admin(f'DROP DATABASE "{name}" WITH (FORCE)')
        exists = ""
    if not exists:
        psql_admin(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0")
    return f"{POSTGRES}/{name}"


def psql_admin(sql: str) -> None:
    subprocess.run(
        ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-c", sql],
        check=True,
        capture_output=True,
    )


def sync_and_drop_caches() -> None:
    """Flush dirty pages, and drop the page cache when allowed (root), so a copy after an
    earlier one does not start with the disk still busy writing the earlier."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3")
    except OSError:
        pass
