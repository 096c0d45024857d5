"""บันทึกตัวชี้วัด: list, create, edit and delete the indicators of a fiscal year."""

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from blueprints.years.services import get_year, known_years, selected_year
from errors import RuleError
from extensions import db
from models import Indicator
from permissions import ADMIN, access

from . import bp, services
from .forms import IndicatorForm


def render_index(year: int, status: int = 200):
    return render_template(
        "indicators/index.html",
        year=year,
        year_row=get_year(year),
        years=known_years(),
        page=services.list_indicators(year),
    ), status


@bp.route("/")
@access(ADMIN)
def index():
    """List a fiscal year's indicators with receiver and reporters."""
    return render_index(selected_year(request.args.get("year")))


@bp.route("/new", methods=["GET", "POST"])
@access(ADMIN)
def create():
    """Record a new indicator."""
    return edit_form(None)


@bp.route("/<id:indicator_id>/edit", methods=["GET", "POST"])
@access(ADMIN)
def edit(indicator_id):
    """Change an indicator's code, name, receiver or reporters."""
    return edit_form(db.get_or_404(Indicator, indicator_id))


def edit_form(indicator: Indicator | None):
    form = IndicatorForm(obj=indicator)
    if indicator is None and not form.is_submitted():
        form.fiscal_year.data = selected_year(request.args.get("year"))
    if indicator is not None and not form.is_submitted():
        form.receiver.data = indicator.receiver_id
        form.reporters.data = [u.id for u in indicator.reporters]
    form.receiver.choices = [(u.id, u.full_name) for u in services.receiver_choices()]
    reporters = services.reporter_choices(indicator)
    form.reporters.choices = [(u.id, u.full_name) for u in reporters]
    status = 200
    if form.validate_on_submit():
        try:
            saved = services.save_indicator(
                current_user,
                indicator,
                year=form.fiscal_year.data,
                category=form.category.data or "",
                code=form.code.data,
                name=form.name.data,
                receiver_id=form.receiver.data,
                reporter_ids=form.reporters.data,
            )
        except RuleError as error:
            flash(error.message, "error")
            status = error.status
        else:
            flash(_("บันทึกตัวชี้วัด %(code)s เรียบร้อยแล้ว", code=saved.code), "success")
            return redirect(url_for("indicators.index", year=saved.fiscal_year))
    elif form.is_submitted():
        status = 400
    return render_template(
        "indicators/form.html", form=form, indicator=indicator, reporters=reporters
    ), status


@bp.route("/<id:indicator_id>/delete", methods=["POST"])
@access(ADMIN)
def delete(indicator_id):
    """Delete an indicator that has no documents."""
    indicator = db.get_or_404(Indicator, indicator_id)
    year = indicator.fiscal_year
    try:
        services.delete_indicator(current_user, indicator)
    except RuleError as error:
        flash(error.message, "error")
        return render_index(year, error.status)
    flash(_("ลบตัวชี้วัดเรียบร้อยแล้ว"), "success")
    return redirect(url_for("indicators.index", year=year))
