"""รับเอกสารรายงานตัวชี้วัด: pick a round, open an indicator, download and store its documents."""

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user

from blueprints.indicators.services import known_years, selected_year
from blueprints.send.services import ROUND_LABELS
from errors import RuleError
from extensions import db, storage
from forms import EmptyForm
from models import ROUND_MONTHS, Document, Indicator
from pagination import paginate
from permissions import LOGIN, RECEIVER, access

from . import bp, services


def round_or_404(months: int) -> int:
    if months not in ROUND_MONTHS:
        abort(404)
    return months


@bp.route("/")
@access(RECEIVER)
def index():
    """Pick a round (รอบ 6 / 9 / 12 เดือน) of a fiscal year."""
    year = selected_year(request.args.get("year"))
    return render_template(
        "receive/index.html",
        year=year,
        years=known_years(),
        totals=services.round_totals(current_user, year, ROUND_MONTHS),
        round_labels=ROUND_LABELS,
    )


@bp.route("/round/<int:months>")
@access(RECEIVER)
def round_page(months):
    """List the indicators of a round with how many documents are stored and waiting."""
    months = round_or_404(months)
    year = selected_year(request.args.get("year"))
    return render_template(
        "receive/round.html",
        year=year,
        years=known_years(),
        months=months,
        round_label=ROUND_LABELS[months],
        page=paginate(services.round_indicators(current_user, year, months)),
    )


def render_indicator(indicator: Indicator, months: int, status: int = 200):
    documents = services.round_documents(indicator, months)
    stored = sum(1 for d in documents if d.status == "received")
    return render_template(
        "receive/indicator.html",
        indicator=indicator,
        months=months,
        round_label=ROUND_LABELS[months],
        round_labels=ROUND_LABELS,
        page=paginate(documents),
        stored=stored,
        form=EmptyForm(),
    ), status


@bp.route("/round/<int:months>/indicator/<id:indicator_id>")
@access(RECEIVER)
def indicator_page(months, indicator_id):
    """Show one indicator's documents of a round, each with its file and จัดเก็บ."""
    months = round_or_404(months)
    indicator = db.get_or_404(Indicator, indicator_id)
    if not services.can_receive(current_user, indicator):
        abort(403)
    return render_indicator(indicator, months)


@bp.route("/document/<id:document_id>/store", methods=["POST"])
@access(RECEIVER)
def store(document_id):
    """จัดเก็บ: mark a document received; the reporter then sees รับแล้ว."""
    document = db.get_or_404(Document, document_id)
    indicator, months = document.indicator, document.round_months
    try:
        services.store_document(current_user, document)
    except RuleError as error:
        if error.status == 403:
            abort(403)
        flash(error.message, "error")
        return render_indicator(indicator, months, error.status)
    flash(_("จัดเก็บเอกสาร %(title)s เรียบร้อยแล้ว", title=document.title), "success")
    return redirect(url_for("receive.indicator_page", months=months, indicator_id=indicator.id))


@bp.route("/document/<id:document_id>/file")
@access(LOGIN)
def download(document_id):
    """Download a document under its original (Thai) file name."""
    document = db.get_or_404(Document, document_id)
    if not services.can_download(current_user, document):
        abort(403)
    response = send_file(
        storage().path(document.stored_name),
        mimetype=document.content_type,
        as_attachment=True,
        download_name=document.original_name,
        conditional=True,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
