"""การแจ้งเตือน: what happened to my documents and indicators, newest first."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

import notifications
from extensions import db
from pagination import requested_page
from permissions import LOGIN, access
from text import small_int

from . import bp

PER_PAGE = 30


@bp.route("/")
@access(LOGIN)
def index():
    """List my notifications, newest first; reading the list marks nothing."""
    page = db.paginate(
        notifications.recent(current_user),
        page=requested_page(),
        per_page=PER_PAGE,
        max_per_page=PER_PAGE,
        error_out=False,
    )
    return render_template(
        "notifications/index.html",
        page=page,
        describe=notifications.describe,
        target=notifications.target,
    )


@bp.route("/read", methods=["POST"])
@access(LOGIN)
def mark_read():
    """Mark one notification (?id) or all of mine as read."""
    raw = request.form.get("id")
    if raw is None:
        ids = None  # the "all read" button
    else:
        # A broken id must not fall through to "all": unread events are the ones emailed.
        one = small_int(raw)
        if not one:
            abort(400)
        ids = [one]
    count = notifications.mark_read(current_user, ids)
    if ids is None:
        flash(_("ทำเครื่องหมายว่าอ่านแล้ว %(n)s รายการ", n=count), "success")
    page = small_int(request.form.get("page"))
    return redirect(url_for("notifications.index", page=page if page and page > 1 else None))
