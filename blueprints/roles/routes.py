"""กำหนดผู้รายงานตัวชี้วัด: the staff table with a reporter / general choice per row."""

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from errors import RuleError
from extensions import db
from models import User
from pagination import list_filters, paginate, requested_page
from permissions import ADMIN, access

from . import bp, services


def render_staff(status: int = 200):
    query = request.args.get("q", "")
    position = request.args.get("position", "")
    return render_template(
        "roles/staff.html",
        page=paginate(services.list_staff(query, position)),
        positions=services.positions(),
        query=query,
        position=position,
    ), status


@bp.route("/")
@access(ADMIN)
def staff():
    """List all staff with their reporter status."""
    return render_staff()


@bp.route("/<id:user_id>", methods=["POST"])
@access(ADMIN)
def set_status(user_id):
    """Mark one staff member as reporter or general staff."""
    user = db.get_or_404(User, user_id)
    try:
        services.set_reporter_status(current_user, user, request.form.get("status", ""))
    except RuleError as error:
        flash(error.message, "error")
        return render_staff(error.status)
    flash(_("บันทึกสถานะของ %(name)s เรียบร้อยแล้ว", name=user.full_name), "success")
    return redirect(url_for("roles.staff", page=requested_page(), **list_filters()))
