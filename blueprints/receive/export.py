"""Hand-over export: zips of a round or an indicator, the ส่งระบบ สพฐ. แล้ว mark, the .xlsx."""

from urllib.parse import quote

from flask import (
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from blueprints.years.services import get_year, round_of
from errors import RuleError
from extensions import db, storage
from labels import ROUND_LABELS
from language import fiscal_year_label
from models import Indicator
from permissions import ADMIN, RECEIVER, access

from . import bp, handover, services, statusreport

YEAR = "<int(min=2500, max=2700):year>"
MONTHS = "<int(min=3, max=12):months>"


def attachment(name: str, ascii_name: str) -> str:
    """RFC 6266 / 5987: the Thai name for browsers that read filename*, ASCII for the rest."""
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def send_export(export: handover.Export, back: str):
    """Refuse with the missing documents listed, or stream the zip (no byte before the check)."""
    if export.missing:
        db.session.rollback()
        return render_template("receive/export_missing.html", export=export, back=back), 409
    if not export.members:
        flash(_("ไม่มีเอกสารที่ยังไม่ได้ดาวน์โหลด"), "warning")
        return redirect(back)
    user_id, files = current_user.id, storage()
    indicator = export.indicator
    indicator_id, code = (indicator.id, indicator.code) if indicator else (None, "")
    disposition = attachment(handover.download_name(export), handover.ascii_download_name(export))
    # End the reading transaction: nothing stays locked while hundreds of MB go out, and the
    # stream reads plain values only (the rows are expired from here on).
    db.session.commit()

    def done():
        handover.record_export(user_id, export, indicator_id, code)

    stream = handover.zip_stream(files, export, done)
    response = Response(stream_with_context(stream), mimetype="application/zip")
    response.headers["Content-Disposition"] = disposition
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route(f"/{YEAR}/round/{MONTHS}/export.zip")
@access(RECEIVER)
def export_round(year, months):
    """Download a round's documents (or only those not yet downloaded) as one zip."""
    if round_of(year, months) is None:
        abort(404)
    only_new = request.args.get("only") == "new"
    export = handover.plan_export(storage(), current_user, year, months, only_new=only_new)
    return send_export(export, url_for("receive.round_page", months=months, year=year))


export_round.writes_on_get = True  # the Download rows and audit entry once the zip is sent


@bp.route(f"/round/{MONTHS}/indicator/<id:indicator_id>/export.zip")
@access(RECEIVER)
def export_indicator(months, indicator_id):
    """Download one indicator's documents of a round (or those not yet downloaded) as a zip."""
    indicator = db.get_or_404(Indicator, indicator_id)
    if round_of(indicator.fiscal_year, months) is None:
        abort(404)
    if not services.can_receive(current_user, indicator):
        abort(403)
    only_new = request.args.get("only") == "new"
    year = indicator.fiscal_year
    export = handover.plan_export(storage(), current_user, year, months, indicator, only_new)
    back = url_for("receive.indicator_page", months=months, indicator_id=indicator.id)
    return send_export(export, back)


export_indicator.writes_on_get = True


@bp.route(f"/{YEAR}/round/{MONTHS}/handover", methods=["POST"])
@access(ADMIN)
def handover_mark(year, months):
    """Mark a round as ส่งระบบ สพฐ. แล้ว (handed over to the national system), or unmark it."""
    round_row = round_of(year, months)
    if round_row is None:
        abort(404)
    mark = request.form.get("handed_over") != "0"
    back = url_for("receive.round_page", months=months, year=year)
    try:
        handover.set_handed_over(current_user, round_row, mark)
    except RuleError as error:
        flash(error.message, "error")
        return redirect(back)
    label = ROUND_LABELS[months]
    if mark:
        flash(_("บันทึกว่า%(round)s ส่งระบบ สพฐ. แล้ว", round=label), "success")
    else:
        flash(_("ยกเลิกการบันทึกส่งระบบ สพฐ. ของ%(round)s แล้ว", round=label), "success")
    return redirect(back)


@bp.route(f"/{YEAR}/status.xlsx")
@access(RECEIVER)
def status_report(year):
    """Download the year's status, one row per indicator and round, as an Excel file."""
    if get_year(year) is None:
        abort(404)
    title = _("สถานะปีงบประมาณ %(year)s", year=fiscal_year_label(year))
    body = statusreport.build_xlsx(current_user, year, title)
    response = Response(body, mimetype=statusreport.XLSX_TYPE)
    response.headers["Content-Disposition"] = attachment(
        _("รายงานสถานะตัวชี้วัด ปีงบประมาณ %(year)s.xlsx", year=fiscal_year_label(year)),
        f"status-{year}.xlsx",
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
