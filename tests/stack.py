"""A real deployment on loopback ports: nginx, php-fpm serving a small portal, and gunicorn.

Built from deploy/ and integrations/php/ as shipped; only ports and paths are replaced (each
replacement must match, so a change in deploy/ that the test no longer covers fails here).
"""

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
PORTAL = Path(__file__).resolve().parent / "portal"
INTEGRATIONS = ROOT / "integrations" / "php"
HANDOFF_SECRET = "a-shared-secret-for-the-deploy-test-0123456789"
TRUSTED_PROXY = "127.0.0.1"  # nginx connects from here; 127.0.0.2 plays an outsider
# deploy/nginx/myoffice.conf's internal location for downloads (REPORTS_X_ACCEL_REDIRECT).
X_ACCEL_REDIRECT = "/myoffice-reports-files/"


def tools() -> dict:
    fpm = sorted(glob.glob("/usr/sbin/php-fpm*"))
    return {
        "nginx": shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin"),
        "php-fpm": fpm[-1] if fpm else None,
        "openssl": shutil.which("openssl"),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port: int, process: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited:\n{read(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{process.args[0]} did not listen on {port}:\n{read(log)}")


def wait_for_file(path: Path, process: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited:\n{read(log)}")
        time.sleep(0.05)
    raise RuntimeError(f"{path} did not appear:\n{read(log)}")


def read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-4000:]
    except OSError:
        return ""


def replace_all(text: str, replacements: list[tuple[str, str]], name: str) -> str:
    for old, new in replacements:
        if old not in text:
            raise AssertionError(f"{name} no longer contains {old!r}; update tests/stack.py")
        text = text.replace(old, new)
    return text


def make_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    if not cert.exists():
        subprocess.run(
            [
                tools()["openssl"],
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
        )
    return cert, key


class Stack:
    """nginx :http/:https -> gunicorn (our app) and php-fpm (the portal), in one folder."""

    def __init__(
        self,
        base: Path,
        mode: str,
        cert: tuple[Path, Path],
        x_accel_redirect: str = X_ACCEL_REDIRECT,
        **php_session,
    ):
        self.base = base
        self.mode = mode
        self.cert = cert
        # As deploy/reports.env.example sets it: nginx sends the downloads ("" for the app).
        self.x_accel_redirect = x_accel_redirect
        self.php_session = {"save_handler": "files", "serialize_handler": "php", **php_session}
        self.http_port, self.https_port, self.app_port = free_port(), free_port(), free_port()
        self.processes: list[subprocess.Popen] = []
        self.www = base / "www"
        self.sessions = base / "sessions"
        self.database = base / "reports.sqlite3"
        self.uploads = base / "uploads"

    # -- addresses --------------------------------------------------------------------------
    def url(self, path: str, https: bool = False) -> str:
        if https:
            return f"https://127.0.0.1:{self.https_port}{path}"
        return f"http://127.0.0.1:{self.http_port}{path}"

    def app_url(self, path: str) -> str:
        """gunicorn itself, bypassing nginx."""
        return f"http://127.0.0.1:{self.app_port}{path}"

    # -- the parts --------------------------------------------------------------------------
    def start(self) -> "Stack":
        for folder in (self.www / "myoffice", self.sessions, self.uploads, self.base / "tmp"):
            folder.mkdir(parents=True, exist_ok=True)
        for source in [*PORTAL.glob("*.php"), *INTEGRATIONS.glob("*.php")]:
            shutil.copy(source, self.www / "myoffice" / source.name)
        try:
            self.start_php()
            self.start_app()
            self.start_nginx()
        except BaseException:
            self.stop()
            raise
        return self

    def app_environment(self) -> dict:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("REPORTS_")},
            "REPORTS_ENV_NAME": "production",
            "REPORTS_SECRET_KEY": "deploy-test-secret-key",
            "REPORTS_DATABASE_URL": f"sqlite:///{self.database}",
            "REPORTS_UPLOAD_DIR": str(self.uploads),
            "REPORTS_TRUSTED_PROXIES": TRUSTED_PROXY,
            "REPORTS_TRUSTED_HOSTS": '["127.0.0.1"]',
            "REPORTS_AUTH_MODE": self.mode,
            "REPORTS_PORTAL_LOGIN_URL": "/myoffice/login.php",
            "REPORTS_PORTAL_LOGOUT_URL": "/myoffice/logout.php",
            "REPORTS_BIND": f"127.0.0.1:{self.app_port}",
            # One worker: if a slow upload could hold it, the next page would wait.
            "REPORTS_WORKERS": "1",
            "REPORTS_HANDOFF_SECRET": HANDOFF_SECRET,
            "REPORTS_PHP_SESSION_SAVE_HANDLER": self.php_session["save_handler"],
            "REPORTS_PHP_SESSION_SERIALIZE_HANDLER": self.php_session["serialize_handler"],
            "REPORTS_PHP_SESSION_SAVE_PATH": str(self.sessions),
            "REPORTS_PHP_SESSION_REDIS_URL": "redis://127.0.0.1:6379/14",
            "REPORTS_X_ACCEL_REDIRECT": self.x_accel_redirect,
        }
        return env

    def unit_command(self, key: str) -> list[str]:
        """ExecStartPre / ExecStart of deploy/myoffice-reports.service, paths replaced."""
        unit = (DEPLOY / "myoffice-reports.service").read_text()
        line = next(line for line in unit.splitlines() if line.startswith(key + "="))
        command = line.partition("=")[2]
        venv = "/opt/myoffice-reports/.venv/bin/"
        command = replace_all(command, [(venv, os.path.dirname(sys.executable) + "/")], key)
        return command.replace("/opt/myoffice-reports/", str(ROOT) + "/").split()

    def start_app(self) -> None:
        env = self.app_environment()
        subprocess.run(
            self.unit_command("ExecStartPre"), cwd=ROOT, env=env, check=True, capture_output=True
        )
        log = self.base / "gunicorn.log"
        process = subprocess.Popen(
            self.unit_command("ExecStart"),
            cwd=ROOT,
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        wait_for(self.app_port, process, log)

    def start_php(self) -> None:
        socket_path = self.base / "php-fpm.sock"
        settings = self.php_session
        save_path = (
            "tcp://127.0.0.1:6379?database=14"
            if settings["save_handler"] == "redis"
            else str(self.sessions)
        )
        root_user = "user = root\ngroup = root\n" if os.geteuid() == 0 else ""
        conf = self.base / "php-fpm.conf"
        conf.write_text(
            f"""[global]
pid = {self.base}/php-fpm.pid
error_log = {self.base}/php-fpm.log
daemonize = no

[portal]
{root_user}listen = {socket_path}
listen.mode = 0666
pm = static
pm.max_children = 4
catch_workers_output = yes
clear_env = yes
env[REPORTS_HANDOFF_SECRET] = {HANDOFF_SECRET}
env[REPORTS_SERVER_BASE] = http://localhost:{self.app_port}/myoffice/reports
env[REPORTS_SERVER_HOST] = 127.0.0.1
env[REPORTS_AUTH_MODE] = {self.mode}
php_admin_value[error_log] = {self.base}/php-errors.log
php_admin_value[session.save_handler] = {settings["save_handler"]}
php_admin_value[session.save_path] = "{save_path}"
php_admin_value[session.serialize_handler] = {settings["serialize_handler"]}
php_admin_value[session.use_strict_mode] = 1
php_admin_value[session.cookie_httponly] = 1
"""
        )
        command = [tools()["php-fpm"], "--nodaemonize", "--fpm-config", str(conf)]
        if os.geteuid() == 0:
            command.append("--allow-to-run-as-root")
        process = subprocess.Popen(
            command,
            stdout=(self.base / "php-fpm.out").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        wait_for_file(socket_path, process, self.base / "php-fpm.out")
        self.php_socket = socket_path

    def start_nginx(self) -> None:
        conf_dir = self.base / "nginx"
        conf_dir.mkdir(exist_ok=True)
        for name in ("fastcgi_params", "mime.types"):
            shutil.copy(f"/etc/nginx/{name}", conf_dir / name)
        snippet = "reports-auth-header.conf" if self.mode == "header" else "reports-auth-off.conf"
        cert, key = self.cert
        site = replace_all(
            (DEPLOY / "nginx" / "myoffice.conf").read_text(),
            [
                ("listen 80;", f"listen 127.0.0.1:{self.http_port};"),
                ("listen 443 ssl;", f"listen 127.0.0.1:{self.https_port} ssl;"),
                ("server 127.0.0.1:8000;", f"server 127.0.0.1:{self.app_port};"),
                ("/etc/ssl/certs/myoffice.pem", str(cert)),
                ("/etc/ssl/private/myoffice.key", str(key)),
                ("/var/www", str(self.www)),
                ("alias /opt/myoffice-reports/uploads/;", f"alias {self.uploads}/;"),
                ("/opt/myoffice-reports", str(ROOT)),
                ("unix:/run/php/php8.2-fpm.sock", f"unix:{self.php_socket}"),
                (
                    "/etc/nginx/snippets/myoffice-reports-auth.conf",
                    str(DEPLOY / "nginx" / snippet),
                ),
            ],
            "deploy/nginx/myoffice.conf",
        )
        (conf_dir / "myoffice.conf").write_text(site)
        tmp = self.base / "tmp"
        user = "user root;\n" if os.geteuid() == 0 else ""
        (conf_dir / "nginx.conf").write_text(
            f"""{user}worker_processes 1;
daemon off;
pid {self.base}/nginx.pid;
error_log {self.base}/nginx-error.log info;
events {{ worker_connections 256; }}
http {{
    include mime.types;
    default_type application/octet-stream;
    access_log {self.base}/nginx-access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include myoffice.conf;
}}
"""
        )
        log = self.base / "nginx.out"
        process = subprocess.Popen(
            [tools()["nginx"], "-p", str(self.base), "-c", str(conf_dir / "nginx.conf")],
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        wait_for(self.http_port, process, self.base / "nginx-error.log")
        wait_for(self.https_port, process, self.base / "nginx-error.log")

    def logs(self) -> str:
        names = ("gunicorn.log", "nginx-error.log", "php-fpm.out", "php-errors.log")
        return "\n".join(f"== {name}\n{read(self.base / name)}" for name in names)

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()
