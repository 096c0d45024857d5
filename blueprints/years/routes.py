"""ปีงบประมาณและรอบรายงาน: the admin opens, copies into, schedules and closes fiscal years."""

from datetime import date

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from errors import RuleError
from labels import ROUND_LABELS
from language import fiscal_year_label
from models import OPTIONAL_ROUND_MONTHS
from permissions import ADMIN, access
from text import small_int
from thai import bangkok_date, now_utc

from . import bp, services


def render_years(status: int = 200):
    return render_template(
        "years/index.html",
        years=services.all_years(),
        next_year=services.next_year_to_open(),
        optional_rounds=OPTIONAL_ROUND_MONTHS,
        round_labels=ROUND_LABELS,
        today=bangkok_date(now_utc()),
    ), status


def run(action):
    """POST -> service -> flash -> redirect; a refusal shows the page again with its message.

    `action` does the work and returns the success message.
    """
    try:
        message = action()
    except RuleError as error:
        flash(error.message, "error")
        return render_years(error.status)
    flash(message, "success")
    return redirect(url_for("years.index"))


def form_int(name: str) -> int:
    value = small_int(request.form.get(name))
    if value is None or value > 9999:
        raise RuleError(_("ข้อมูลที่ส่งมาไม่ถูกต้อง"), status=400)
    return value


@bp.route("/")
@access(ADMIN)
def index():
    """List the fiscal years with their rounds and due dates."""
    return render_years()


@bp.route("/open", methods=["POST"])
@access(ADMIN)
def open_next():
    """Open the next fiscal year with the default rounds."""

    def action():
        row = services.open_next_year(current_user, form_int("year"))
        return _("เปิดปีงบประมาณ %(year)s แล้ว", year=fiscal_year_label(row.year))

    return run(action)


@bp.route("/<int(min=2500, max=2700):year>/close", methods=["POST"])
@access(ADMIN)
def close(year):
    """Close a fiscal year: it becomes read-only and stays browsable."""

    def action():
        services.close_year(current_user, year, bangkok_date(now_utc()))
        return _("ปิดปีงบประมาณ %(year)s แล้ว", year=fiscal_year_label(year))

    return run(action)


@bp.route("/<int(min=2500, max=2700):year>/copy", methods=["POST"])
@access(ADMIN)
def copy(year):
    """Copy indicators, receivers and reporters from an earlier year into this one."""

    def action():
        copied, skipped = services.copy_indicators(current_user, form_int("source"), year)
        return _(
            "คัดลอกตัวชี้วัด %(copied)s รายการ (ข้าม %(skipped)s รายการ: มีรหัสนี้อยู่แล้ว "
            "หรือผู้รับข้อมูลพ้นจากหน่วยงาน)",
            copied=copied,
            skipped=skipped,
        )

    return run(action)


@bp.route("/<int(min=2500, max=2700):year>/rounds", methods=["POST"])
@access(ADMIN)
def add_round(year):
    """Add รอบ 3 เดือน to a fiscal year."""

    def action():
        services.add_round(current_user, year, form_int("months"))
        return _("เพิ่มรอบการรายงานแล้ว")

    return run(action)


@bp.route("/<int(min=2500, max=2700):year>/rounds/<int(min=3, max=12):months>", methods=["POST"])
@access(ADMIN)
def set_due(year, months):
    """Set a round's due date."""

    def action():
        try:
            due = date.fromisoformat(request.form.get("due_date", ""))
        except ValueError:
            raise RuleError(_("กรุณาระบุวันครบกำหนดให้ถูกต้อง"), status=400) from None
        services.set_due_date(current_user, year, months, due)
        return _("บันทึกวันครบกำหนดแล้ว")

    return run(action)
