"""Figure 5: a 500 MB download, through the app and with X-Accel-Redirect, against nginx alone.

    .venv/bin/python bench/download.py          # DOWNLOAD_MB=500 ROUNDS=7 by default

One 500 MB document (a PDF header and random bytes) joins a copy of the 1× SQLite office
(bench/data stays untouched); the officer downloads it. nginx runs with a configuration of the
bench's own around the blocks of deploy/nginx/myoffice.conf as shipped: the upstream, the
/myoffice/reports/ proxy location (proxy_buffering on) and the internal
/myoffice-reports-files/ location, only ports and paths replaced. Two gunicorns per
deploy/gunicorn.conf.py share the data, one with REPORTS_X_ACCEL_REDIRECT off and one on,
each behind a server of that nginx. curl, a second process on loopback, fetches the file
alternately, round after round:

  (a) nginx serving the file statically (a plain location over the same folder)
  (b) through nginx to the app, which sends the file (the setting off)      target b/a >= 0.5
  (c) through nginx with X-Accel-Redirect (the setting on)                   target c/a >= 0.9
  (d) gunicorn directly, the setting off (no target: what nginx costs in (b))

Each ratio is the median of the rounds' ratios (a round's b over the same round's a), so a
neighbour's load that slows one round slows both sides of its ratio; speeds are medians too.
"""

import hashlib
import os
import re
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    PREFIX,
    ROOT,
    Gunicorn,
    Report,
    app_environment,
    cookie_header,
    free_port,
    login,
    sync_and_drop_caches,
    wait_for_port,
)
from bench.generate import dataset  # noqa: E402

FIGURE = "5. Download of a 500 MB file"
DOWNLOAD_MB = int(os.environ.get("DOWNLOAD_MB", "500"))
ROUNDS = int(os.environ.get("ROUNDS", "9"))
# Cold (the default): the page cache is dropped before every download, so each reads the file
# from the disk, as a 500 MB evidence file nobody opened today is read: the figure is about
# running at disk speed. warm: from memory, where the request's own fixed cost (login
# check, audit entry, commit) weighs against a transfer of a fraction of a second.
CACHE = os.environ.get("BENCH_CACHE", "cold")
SITE = ROOT / "deploy" / "nginx" / "myoffice.conf"
FILES = "/myoffice-reports-files/"
NGINX = shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin")
ORIGINAL_NAME = "รายงานผลการดำเนินงาน ฉบับสมบูรณ์.pdf"


# What profiling (b) found, and what changed (2026-11-24, this 2-core VM).
PROFILE_NOTES = [
    "(b) profiled: py-spy on the one gunicorn worker while curl fetched through nginx put "
    "~99 % of its samples in gunicorn's Response.sendfile, and strace -c counted a single "
    "sendfile(2) for the whole file: Flask's send_file hands gunicorn gthread a "
    "wsgi.file_wrapper and gunicorn sends it zero-copy (gunicorn direct, (d), is 0.9-1.1 "
    "of static). The gap in (b) was nginx proxying: reading the upstream through its "
    "default 8 x 4k proxy_buffers and spooling the file to proxy_temp, then sending it again "
    "(b/a 0.35-0.48 warm).",
    "Changed: deploy/nginx/myoffice.conf reads from gunicorn with proxy_buffer_size 256k and "
    "proxy_buffers 8 x 256k instead of 4k pieces; nginx still buffers the answer (its "
    "temporary file), so a slow line holds nginx, not a gunicorn thread. Tried and dropped: "
    "X-Accel-Buffering: no on the app's own downloads (no temporary file) gave 0.73 warm, "
    "but holds a gunicorn thread for as long as the slowest reader takes; with 2 threads a "
    "worker, a few slow downloads would stop every page. REPORTS_X_ACCEL_REDIRECT (c) "
    "remains the recommended setting.",
    "Page cache: the figure drops it before every download (BENCH_CACHE=cold), as for the "
    "upload and the zip. With it warm the file comes from memory at about 3 GB/s, a "
    "transfer of 0.17 s, and the request's own fixed cost (session, permission check, audit "
    "entry, SQLite commit) becomes a visible share: one warm sitting (with 4k proxy reads) "
    "gave b/a 0.49 and c/a 0.87.",
]


# -- the data -----------------------------------------------------------------------------------


def big_file(uploads: Path, megabytes: int) -> tuple[str, int, str]:
    """A stored name of ours (storage.is_stored_name), its size and SHA-256."""
    uploads.mkdir(parents=True, exist_ok=True)
    name = secrets.token_hex(16) + ".pdf"
    digest, size = hashlib.sha256(), 0
    with open(uploads / name, "wb") as f:
        chunk = b"%PDF-1.7\n" + os.urandom((1 << 20) - 9)
        for n in range(megabytes):
            # Fresh bytes each MiB, cheaply: the same random block behind a counter.
            block = n.to_bytes(8, "big") + chunk[8:] if n else chunk
            f.write(block)
            digest.update(block)
            size += len(block)
    return name, size, digest.hexdigest()


def office_copy(base: Path) -> tuple[str, int]:
    """The 1× office's database, copied; one document there now names the big file."""
    data = dataset("sqlite", 1)
    database = base / "reports.sqlite3"
    source = sqlite3.connect(data.url.removeprefix("sqlite:///"))
    target = sqlite3.connect(database)
    with target:
        source.backup(target)
    source.close()
    uploads = base / "uploads"
    name, size, sha256 = big_file(uploads, DOWNLOAD_MB)
    with target:
        document_id = target.execute(
            "SELECT id FROM documents WHERE indicator_id = ? ORDER BY id LIMIT 1",
            (data.info["indicator_id"],),
        ).fetchone()[0]
        target.execute(
            "UPDATE documents SET stored_name = ?, size = ?, sha256 = ?, original_name = ?,"
            " content_type = 'application/pdf' WHERE id = ?",
            (name, size, sha256, ORIGINAL_NAME, document_id),
        )
    target.close()
    return f"sqlite:///{database}", document_id


# -- nginx, from the shipped site ---------------------------------------------------------------


def block(text: str, opening: str) -> str:
    """The block of the site that starts with `opening` ("location ^~ /x/ {"), braces and all."""
    start = text.index(opening)
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    raise ValueError(f"unclosed block {opening!r}")


def replaced(text: str, replacements: list[tuple[str, str]]) -> str:
    for old, new in replacements:
        if old not in text:
            raise RuntimeError(f"deploy/nginx/myoffice.conf no longer has {old!r}: update me")
        text = text.replace(old, new)
    return text


def server(site: str, name: str, port: int, app_port: int, uploads: Path, static: str) -> str:
    """One server: the shipped upstream, proxy location and X-Accel location, plus a static one."""
    upstream = replaced(
        block(site, "upstream myoffice_reports {"),
        [
            ("upstream myoffice_reports {", f"upstream {name} {{"),
            ("server 127.0.0.1:8000;", f"server 127.0.0.1:{app_port};"),
        ],
    )
    proxy = replaced(
        block(site, "location ^~ /myoffice/reports/ {"),
        [
            ("proxy_pass http://myoffice_reports;", f"proxy_pass http://{name};"),
            (
                "/etc/nginx/snippets/myoffice-reports-auth.conf",
                str(ROOT / "deploy" / "nginx" / "reports-auth-off.conf"),
            ),
        ],
    )
    files = replaced(
        block(site, f"location ^~ {FILES} {{"),
        [("alias /opt/myoffice-reports/uploads/;", f"alias {uploads}/;")],
    )
    return f"""{upstream}
server {{
    listen 127.0.0.1:{port};
    server_name _;
    charset utf-8;
    location {static} {{
        alias {uploads}/;
    }}
    {files}
    {proxy}
}}
"""


class Nginx:
    def __init__(self, base: Path, servers: list[str]):
        self.base = base
        self.conf = base / "nginx.conf"
        tmp = base / "nginx-tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        user = "user root;\n" if os.geteuid() == 0 else ""
        body = "\n".join(servers)
        # Debian's nginx.conf as installed: sendfile and tcp_nopush on, one worker per core.
        self.conf.write_text(
            f"""{user}worker_processes auto;
daemon off;
pid {base}/nginx.pid;
error_log {base}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
{body}
}}
"""
        )

    def start(self, port: int) -> "Nginx":
        log = self.base / "nginx.out"
        self.process = subprocess.Popen(
            [NGINX, "-p", str(self.base), "-c", str(self.conf)],
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(port, self.process, self.base / "nginx-error.log")
        return self

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


# -- measuring ----------------------------------------------------------------------------------


def fetch(url: str, cookie: str, expected_size: int) -> float:
    """One download by curl; its speed in MB/s (10^6 bytes), after checking it was all there."""
    output = subprocess.run(
        [
            "curl",
            "-s",
            "--noproxy",
            "*",
            "-o",
            "/dev/null",
            "-H",
            f"Cookie: {cookie}",
            "-w",
            "%{http_code} %{size_download} %{speed_download}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout.split()
    status, size, speed = int(output[0]), int(output[1]), float(output[2])
    if status != 200 or size != expected_size:
        raise RuntimeError(f"{url}: HTTP {status}, {size} bytes of {expected_size}")
    return speed / 1e6


def headers_of(url: str, cookie: str) -> str:
    """The answer's headers alone (the body is thrown away)."""
    return subprocess.run(
        ["curl", "-s", "--noproxy", "*", "-D", "-", "-o", "/dev/null", "-H", f"Cookie: {cookie}"]
        + [url],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout


def main() -> Report:
    report = Report("download")
    base = Path(tempfile.mkdtemp(prefix="bench-download-"))
    started = []
    try:
        print(f"writing the {DOWNLOAD_MB} MB document into a copy of the 1x office...")
        url, document_id = office_copy(base)
        uploads = base / "uploads"
        size = DOWNLOAD_MB * (1 << 20)
        # Both read REPORTS_MAX_UPLOAD_MB only for uploads; set so the 500 MB row is in range.
        settings = {"MAX_UPLOAD_MB": max(50, DOWNLOAD_MB + 1)}
        plain = Gunicorn(base, app_environment(url, uploads, X_ACCEL_REDIRECT="", **settings))
        accel = Gunicorn(base, app_environment(url, uploads, X_ACCEL_REDIRECT=FILES, **settings))
        for gunicorn in (plain, accel):
            started.append(gunicorn.start())
        site = SITE.read_text()
        ports = {"plain": free_port(), "accel": free_port()}
        nginx = Nginx(
            base,
            [
                server(
                    site, "reports_plain", ports["plain"], plain.port, uploads, "/bench-static/"
                ),
                server(
                    site, "reports_accel", ports["accel"], accel.port, uploads, "/bench-static/"
                ),
            ],
        )
        started.append(nginx.start(ports["plain"]))
        wait_for_port(ports["accel"], nginx.process, base / "nginx-error.log")

        cookie = cookie_header(login(plain.url(), "officer"))
        stored = next(uploads.glob("*.pdf")).name
        download = f"{PREFIX}/receive/document/{document_id}/file"
        urls = {
            "a": f"http://127.0.0.1:{ports['plain']}/bench-static/{stored}",
            "b": f"http://127.0.0.1:{ports['plain']}{download}",
            "c": f"http://127.0.0.1:{ports['accel']}{download}",
            "d": plain.url(f"/receive/document/{document_id}/file"),
        }
        accel_headers = headers_of(urls["c"], cookie)
        for needed in ("X-Content-Type-Options: nosniff", "sandbox", "filename*=UTF-8''"):
            if needed not in accel_headers:
                raise RuntimeError(f"(c) lacks {needed!r}:\n{accel_headers}")
        if re.search(r"(?im)^x-accel-redirect", accel_headers):
            raise RuntimeError(f"(c) leaked X-Accel-Redirect:\n{accel_headers}")

        print("warming up (page cache, connections)...")
        for key in urls:
            fetch(urls[key], cookie, size)
        speeds = {key: [] for key in urls}
        for n in range(ROUNDS):
            for key in urls:  # a, b, c, d, a, b, c, d, ...: noise hits every one alike
                if CACHE == "cold":
                    sync_and_drop_caches()
                speeds[key].append(fetch(urls[key], cookie, size))
            line = ", ".join(f"{k} {v[-1]:.0f}" for k, v in speeds.items())
            print(f"  round {n + 1}/{ROUNDS}: {line} MB/s")
        median = {key: statistics.median(values) for key, values in speeds.items()}

        b_ratio, c_ratio, d_ratio = (
            statistics.median(x / a for x, a in zip(speeds[k], speeds["a"], strict=True))
            for k in "bcd"
        )
        report.add(
            FIGURE,
            "through the app (nginx -> gunicorn), share of nginx static",
            f"{b_ratio:.2f}",
            "≥ 0.5",
            b_ratio >= 0.5,
            f"{median['b']:.0f} of {median['a']:.0f} MB/s",
        )
        report.add(
            FIGURE,
            "REPORTS_X_ACCEL_REDIRECT, share of nginx static",
            f"{c_ratio:.2f}",
            "≥ 0.9",
            c_ratio >= 0.9,
            f"{median['c']:.0f} of {median['a']:.0f} MB/s",
        )
        report.add(
            FIGURE,
            "gunicorn directly (no nginx), share of nginx static",
            f"{d_ratio:.2f}",
            "-",
            None,
            f"{median['d']:.0f} of {median['a']:.0f} MB/s",
        )
        labels = {"a": "nginx static", "b": "nginx->app", "c": "X-Accel", "d": "gunicorn"}
        report.notes.append(
            f"{DOWNLOAD_MB} MiB file, {ROUNDS} alternating rounds (a,b,c,d,...) after one "
            f"warm-up each, page cache {CACHE} (BENCH_CACHE), median MB/s (10^6 bytes/s, curl's "
            "speed_download on loopback): "
            + "; ".join(
                f"{labels[k]} {median[k]:.0f} ({min(v):.0f}-{max(v):.0f})"
                for k, v in speeds.items()
            )
            + f". Machine: {os.cpu_count()} cores, shared with other benchmarks."
        )
        report.notes.append(
            "nginx: the upstream, /myoffice/reports/ and /myoffice-reports-files/ blocks of "
            "deploy/nginx/myoffice.conf as shipped (proxy_buffering on), sendfile on as in "
            "Debian's nginx.conf; gunicorn: deploy/gunicorn.conf.py (gthread, "
            f"{os.cpu_count() * 2 + 1} workers x 2 threads)."
        )
        report.notes.extend(PROFILE_NOTES)
        return report
    finally:
        for process in reversed(started):
            process.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    result = main()
    for note in result.notes:
        print(note)
    print(f"saved {result.save()}")
