"""ประวัติการใช้งาน: the admin reads who did what, when and from where."""

from flask import render_template, request

from audit import ACTIONS, describe
from extensions import db
from pagination import requested_page
from permissions import ADMIN, access
from text import small_int

from . import bp, services


def int_arg(name: str) -> int | None:
    value = small_int(request.args.get(name))
    return value if value and value < 2**31 else None


@bp.route("/")
@access(ADMIN)
def index():
    """List audit entries, newest first, filtered by user, action, indicator and date."""
    filters = {
        "user_id": int_arg("user"),
        "action": request.args.get("action") or None,
        "indicator_id": int_arg("indicator"),
        "since": services.parse_day(request.args.get("since")),
        "until": services.parse_day(request.args.get("until")),
    }
    page = db.paginate(
        services.search(**filters),
        page=requested_page(),
        per_page=50,
        max_per_page=50,
        error_out=False,
    )
    return render_template(
        "audit/index.html",
        page=page,
        describe=describe,
        actions=ACTIONS,
        people=services.people(),
        indicators=services.indicators(),
        filters=filters,
    )
