"""The reference routes figure 2 compares our pages with, served by the same gunicorn.

    gunicorn --config deploy/gunicorn.conf.py "bench.baseline:wsgi()"

- `/myoffice/reports/bench/baseline?bytes=N`: ours, as cheap as a page can be. It passes
  through everything every page does (session cookie, user loaded by Flask-Login, the
  session's idle and absolute limits, the access check, CSRF, the security headers) and
  renders a template of N bytes, row by row as our lists do, without a data query.
- `/bench-bare/?bytes=N`: a bare Flask app answering the same N bytes from a template:
  no session, no user, no extension. The floor of Flask under gunicorn on this machine.

Only the bench mounts these; the app itself never has them.
"""

import os
import sys
from pathlib import Path

from flask import Blueprint, Flask, render_template, request
from werkzeug.middleware.dispatcher import DispatcherMiddleware

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app, mount  # noqa: E402
from permissions import LOGIN, access  # noqa: E402

TEMPLATES = str(Path(__file__).resolve().parent / "templates")
ROW_TEXT = "ร้อยละของสถานศึกษาที่ดำเนินการตามมาตรฐาน"


def rows_for(size: int) -> int:
    """How many rows make a page of `size` bytes (the rest is the row's own length)."""
    one = len(render_row().encode())
    return max(0, size // one)


def render_row() -> str:
    return f"<tr><td>1.1</td><td>{ROW_TEXT}</td><td>12</td><td>3</td></tr>\n"


def padding(size: int) -> tuple[int, int]:
    """(rows, extra bytes) to reach `size` bytes exactly, within a few bytes."""
    rows = rows_for(size)
    return rows, max(0, size - rows * len(render_row().encode()))


bp = Blueprint("bench", __name__, template_folder=TEMPLATES)


@bp.route("/bench/baseline")
@access(LOGIN)
def baseline():
    size = int(request.args.get("bytes", "20000"))
    rows, extra = padding(size)
    return render_template("baseline.html", rows=range(rows), text=ROW_TEXT, extra="x" * extra)


def bare_app() -> Flask:
    app = Flask("bare", template_folder=TEMPLATES)

    @app.route("/")
    def page():
        size = int(request.args.get("bytes", "20000"))
        rows, extra = padding(size)
        return render_template("baseline.html", rows=range(rows), text=ROW_TEXT, extra="x" * extra)

    return app


def wsgi():
    app = create_app({"ENV_NAME": os.environ.get("REPORTS_ENV_NAME", "production")})
    app.register_blueprint(bp)
    return DispatcherMiddleware(mount(app), {"/bench-bare": bare_app()})
