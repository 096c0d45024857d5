"""รับเอกสารรายงานตัวชี้วัด: pick a round, open an indicator, store or return its documents."""

import os
import re

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from blueprints.years.services import get_year, known_years, round_of, rounds_of, selected_year
from errors import RuleError
from extensions import db, storage
from filetypes import ALLOWED_EXTENSIONS
from labels import ROUND_LABELS, ROUND_STATES
from language import fiscal_year_label, translated
from models import Document, Indicator
from pagination import paginate
from permissions import LOGIN, RECEIVER, access
from text import small_int
from thai import bangkok_date, now_utc, thai_sort_key

from . import bp, handover, progress, services
from .export import attachment


def progress_filters() -> dict:
    """The matrix's filters from the query string: group, receiver, status (unknown ones off)."""
    status = request.args.get("status", "")
    return {
        "group": request.args.get("group", "").strip(),
        "receiver": small_int(request.args.get("receiver")),
        "status": status if status in (*progress.STATES, progress.OVERDUE) else "",
    }


@bp.route("/")
@access(RECEIVER)
def index():
    """Pick a round (รอบ 6 / 9 / 12 เดือน) of a fiscal year."""
    year = selected_year(request.args.get("year"))
    rounds = rounds_of(year)
    filters = progress_filters()
    mine = services.receivable(current_user)
    chosen = progress.filtered(mine, filters["group"], filters["receiver"])
    groups, receivers = progress.filter_choices(mine, year)
    today = bangkok_date(now_utc())
    return render_template(
        "receive/index.html",
        year=year,
        year_row=get_year(year),
        years=known_years(),
        rounds=rounds,
        totals=services.round_totals(current_user, year, [r.months for r in rounds]),
        round_labels=translated(ROUND_LABELS),
        round_states=translated(ROUND_STATES),
        matrix=progress.build(chosen, {year: rounds}, today, filters["status"], paged=True)[0],
        filters=filters,
        filters_set={key: value for key, value in filters.items() if value},
        groups=groups,
        receivers=sorted(receivers, key=lambda u: thai_sort_key(u.full_name)),
        today=today,
    )


@bp.route("/round/<int(min=3, max=12):months>/summary")
@access(RECEIVER)
def summary(months):
    """A round on one printable page: each indicator's counts, the progress, the hand-over."""
    year = selected_year(request.args.get("year"))
    round_row = round_of(year, months)
    if round_row is None:
        abort(404)
    today = bangkok_date(now_utc())
    matrix = progress.build(services.receivable(current_user), {year: [round_row]}, today)[0]
    return render_template(
        "receive/summary.html",
        year=year,
        round_row=round_row,
        round_label=ROUND_LABELS[months],
        lines=matrix.round_rows(months),
        share=matrix.progress[0],
        today=today,
        round_states=ROUND_STATES,
    )


@bp.route("/round/<int(min=3, max=12):months>")
@access(RECEIVER)
def round_page(months):
    """List the indicators of a round with how many documents are stored and waiting."""
    year = selected_year(request.args.get("year"))
    round_row = round_of(year, months)
    if round_row is None:
        if months not in ROUND_LABELS:
            abort(404)
        # e.g. the year switch from รอบ 3 เดือน into a year without that round
        label = ROUND_LABELS[months]
        flash(
            _("ปีงบประมาณ %(year)s ไม่มี%(round)s", year=fiscal_year_label(year), round=label),
            "warning",
        )
        return redirect(url_for("receive.index", year=year))
    return render_template(
        "receive/round.html",
        year=year,
        years=known_years(),
        months=months,
        round_row=round_row,
        round_label=ROUND_LABELS[months],
        page=services.round_indicators(current_user, year, months),
    )


def render_indicator(indicator: Indicator, months: int, status: int = 200):
    documents = services.round_documents(indicator, months)
    return render_template(
        "receive/indicator.html",
        indicator=indicator,
        year_row=get_year(indicator.fiscal_year),
        months=months,
        round_label=ROUND_LABELS[months],
        round_labels=translated(ROUND_LABELS),
        page=paginate(documents),
        stored=sum(1 for d in documents if d.status == "received"),
    ), status


@bp.route("/round/<int(min=3, max=12):months>/indicator/<id:indicator_id>")
@access(RECEIVER)
def indicator_page(months, indicator_id):
    """Show one indicator's documents of a round, each with its file, จัดเก็บ and ส่งกลับแก้ไข."""
    indicator = db.get_or_404(Indicator, indicator_id)
    if round_of(indicator.fiscal_year, months) is None:
        abort(404)
    if not services.can_receive(current_user, indicator):
        abort(403)
    return render_indicator(indicator, months)


def act(document_id: int, action, success: str, *args):
    """Run a receive action; 'not yours' is a 403, any other refusal re-renders the page."""
    document = db.get_or_404(Document, document_id)
    indicator, months = document.indicator, document.round_months
    try:
        action(current_user, document, *args)
    except RuleError as error:
        if error.status == 403:
            abort(403)
        flash(error.message, "error")
        return render_indicator(indicator, months, error.status)
    flash(success % {"title": document.title}, "success")
    return redirect(url_for("receive.indicator_page", months=months, indicator_id=indicator.id))


@bp.route("/document/<id:document_id>/store", methods=["POST"])
@access(RECEIVER)
def store(document_id):
    """จัดเก็บ: mark a document received; the reporter then sees รับแล้ว."""
    return act(document_id, services.store_document, _("จัดเก็บเอกสาร %(title)s เรียบร้อยแล้ว"))


@bp.route("/document/<id:document_id>/return", methods=["POST"])
@access(RECEIVER)
def return_document(document_id):
    """ส่งกลับแก้ไข: send a document back to its reporter with a written reason."""
    reason = request.form.get("reason", "")
    return act(
        document_id,
        services.return_document,
        _("ส่งกลับแก้ไขเอกสาร %(title)s แล้ว ผู้รายงานจะเห็นเหตุผลที่แจ้ง"),
        reason,
    )


@bp.route("/document/<id:document_id>/undo", methods=["POST"])
@access(RECEIVER)
def undo(document_id):
    """Take a receipt back (admin only), with a reason."""
    reason = request.form.get("reason", "")
    return act(document_id, services.undo_receipt, _("ยกเลิกการรับเอกสาร %(title)s แล้ว"), reason)


def viewable(document_id: int) -> Document:
    document = db.get_or_404(Document, document_id)
    if not services.can_view(current_user, document):
        abort(403)
    return document


@bp.route("/document/<id:document_id>/history")
@access(LOGIN)
def history(document_id):
    """A document's story: each version, who returned it and why, who received it."""
    document = viewable(document_id)
    if services.can_receive(current_user, document.indicator):
        back = url_for(
            "receive.indicator_page",
            months=document.round_months,
            indicator_id=document.indicator_id,
        )
    else:
        back = url_for("send.index")
    return render_template(
        "receive/history.html",
        back=back,
        document=document,
        versions=services.history(document),
        round_labels=ROUND_LABELS,
    )


@bp.route("/document/<id:document_id>/file")
@access(LOGIN)
def download(document_id):
    """Download a document under its original (Thai) file name."""
    document = viewable(document_id)
    try:
        path = storage().path(document.stored_name)
        response = file_response(path, document.stored_name, download_type(document.content_type))
    except (FileNotFoundError, ValueError):
        abort(404)
    # Always a download, whatever the file claims: the Thai name for browsers that read
    # filename*, a plain one for the rest. set_security_headers adds the sandboxing policy.
    _stem, dot, ext = document.original_name.rpartition(".")
    ascii_ext = ext.lower() if dot and re.fullmatch(r"[A-Za-z0-9]{1,8}", ext) else "bin"
    response.headers["Content-Disposition"] = attachment(
        document.original_name, f"document-{document.id}.{ascii_ext}"
    )
    # First downloads, so "only what I have not yet downloaded" leaves this one out.
    handover.record_first_downloads(current_user.id, [document.id])
    services.record_download(current_user, document)
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Evidence files must not stay in a shared office browser's cache.
    response.headers["Cache-Control"] = "private, no-store"
    return response


download.writes_on_get = True  # the audit entry: SQLite takes the write lock up front


def file_response(path: str, stored_name: str, mimetype: str) -> Response:
    """The file itself, or with REPORTS_X_ACCEL_REDIRECT an empty answer that has nginx send
    it from its internal location (deploy/nginx/myoffice.conf); the checks above and the
    headers below are the same either way. `path` comes from storage().path, so the name is
    one of ours (32 hex digits and an extension), never a value that could leave the prefix.
    """
    prefix = current_app.config["X_ACCEL_REDIRECT"]
    if not prefix:
        # Buffered by nginx (proxy_buffering), as every answer: nginx takes the file at once
        # into its temporary file and the thread is free, however slow the line to the
        # reporter. Unbuffered would be faster on a quiet loopback, but a few slow downloads
        # would then hold every thread on deadline day.
        response = send_file(path, mimetype=mimetype, conditional=True)
    elif not os.path.isfile(path):
        raise FileNotFoundError(path)  # a 404 before any bookkeeping, as send_file gives
    else:
        response = Response(b"", mimetype=mimetype)
        response.headers["X-Accel-Redirect"] = prefix + stored_name
    if ";" in mimetype:
        # A text document's own charset (detect() found windows-874, say): werkzeug would
        # append "; charset=utf-8" after it.
        response.headers["Content-Type"] = mimetype
    return response


# Types our upload check stores; anything else in a row (an older version's, a restored
# backup's, a hand-edited one) goes out as bytes, never as something a browser renders.
SERVED_TYPES = frozenset(ALLOWED_EXTENSIONS.values())


def download_type(content_type: str | None) -> str:
    base = (content_type or "").partition(";")[0].strip().lower()
    return content_type if base in SERVED_TYPES else "application/octet-stream"
