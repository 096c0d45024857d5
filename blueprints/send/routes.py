"""ส่งเอกสารคำรับรอง: my indicators, the attach form, corrections and revisions."""

from flask import abort, flash, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from blueprints.receive import progress
from blueprints.years.services import MAX_YEAR, MIN_YEAR, known_years, open_years, rounds_of
from errors import RuleError
from extensions import db, storage
from filetypes import clean_filename
from labels import ROUND_LABELS, ROUND_STATES
from language import translated
from models import Document, Indicator
from pagination import paginate
from permissions import REPORTER, access
from storage import FileTooLarge
from text import small_int
from thai import bangkok_date, now_utc

from . import bp, services
from .forms import AttachForm, RevisionForm, TitleForm


def requested_years() -> tuple[int | None, list[int]]:
    """?year=N for one year; without it, every open year (round 12 runs into October)."""
    year = small_int(request.args.get("year"))
    if year is not None and MIN_YEAR <= year <= MAX_YEAR:
        return year, [year]
    return None, open_years()


def render_index(status: int = 200):
    year, years = requested_years()
    page = paginate(services.my_indicators(current_user, years), per_page=20)
    rounds = services.rounds_by_year(years)
    today = bangkok_date(now_utc())
    return render_template(
        "send/index.html",
        year=year,
        years=known_years(),
        page=page,
        summaries={i.id: services.round_summary(i, rounds[i.fiscal_year]) for i in page.items},
        open_years=set(open_years()),
        today=today,
        round_labels=translated(ROUND_LABELS),
        round_states=translated(ROUND_STATES),
        progress=progress.build(progress.reported_by(current_user), rounds, today),
    ), status


@bp.route("/")
@access(REPORTER)
def index():
    """List my indicators with each round's state, due date and documents."""
    return render_index()


@bp.route("/indicator/<id:indicator_id>/attach", methods=["GET", "POST"])
@access(REPORTER)
def attach(indicator_id):
    """Attach one more file, or several at once, to an indicator I report on (แนบไฟล์เพิ่ม)."""
    indicator = db.get_or_404(Indicator, indicator_id)
    if not services.is_assigned(current_user, indicator):
        abort(403)
    form = AttachForm(rounds_of(indicator.fiscal_year))
    uploads = [f for f in request.files.getlist("file") if f.filename]
    if request.method == "POST" and (wants_json() or len(uploads) > 1):
        return attach_several(form, indicator, uploads)
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        return render_template("send/attach.html", form=form, indicator=indicator), status
    try:
        document = services.send_document(
            storage(),
            current_user,
            indicator,
            form.round_months.data,
            form.title.data,
            request.files.get("file"),
        )
    except FileTooLarge:
        abort(413)
    except RuleError as error:
        flash(error.message, "error")
        return render_template("send/attach.html", form=form, indicator=indicator), error.status
    flash_sent(document)
    return redirect(url_for("send.index"))


def wants_json() -> bool:
    """The attach page's script asks for JSON (one file per request, for its progress bars)."""
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def attach_several(form: AttachForm, indicator: Indicator, uploads: list):
    """Each file stored or refused on its own; the round applies to all, titles by position.

    Answers the script in JSON, and a plain form post with the attach page listing each
    file's outcome (2xx when any was accepted), not a redirect: the list is the message.
    """
    form.for_several_files()
    if not form.validate_on_submit():
        reason = next(iter(form.errors.values()))[0]
        if wants_json():
            refused = [{"name": clean_filename(f.filename), "reason": str(reason)} for f in uploads]
            return jsonify(
                accepted=[], refused=refused or [{"name": "", "reason": str(reason)}]
            ), 400
        return render_template("send/attach.html", form=form, indicator=indicator), 400
    titles = request.form.getlist("title")
    items = [(titles[i] if i < len(titles) else "", f) for i, f in enumerate(uploads)]
    outcomes = services.send_documents(
        storage(), current_user, indicator, form.round_months.data, items or [("", None)]
    )
    accepted = [o for o in outcomes if o.document is not None]
    statuses = {o.status for o in outcomes if o.document is None}
    status = 200 if accepted else (statuses.pop() if len(statuses) == 1 else 400)
    if wants_json():
        for outcome in accepted:  # shown on the next page, as after the plain form
            flash_sent(outcome.document)
        return jsonify(
            accepted=[accepted_json(o) for o in accepted],
            refused=[{"name": o.name, "reason": o.reason} for o in outcomes if o.document is None],
        ), status
    form.title.data = ""
    return render_template(
        "send/attach.html", form=form, indicator=indicator, outcomes=outcomes
    ), status


def accepted_json(outcome) -> dict:
    document = outcome.document
    return {
        "name": outcome.name,
        "title": document.title,
        "size": document.size,
        "late": document.late,
        "message": sent_message(document)[0],
    }


def sent_message(document: Document) -> tuple[str, str]:
    if document.late:
        return _("ส่งเอกสารเรียบร้อยแล้ว (ส่งหลังวันครบกำหนด ระบบบันทึกว่าส่งล่าช้า)"), "warning"
    return _("ส่งเอกสารเรียบร้อยแล้ว"), "success"


def flash_sent(document: Document) -> None:
    flash_once(*sent_message(document))


def flash_once(message: str, category: str) -> None:
    """Ten files sent one request each still say "sent" once on the next page."""
    if (category, message) not in session.get("_flashes", []):
        flash(message, category)


def own_document(document_id: int) -> Document:
    """The services check ownership too; checking here keeps GET forms closed to others."""
    document = db.get_or_404(Document, document_id)
    if document.uploaded_by_id != current_user.id:
        abort(403)
    return document


@bp.route("/document/<id:document_id>/revise", methods=["GET", "POST"])
@access(REPORTER)
def revise(document_id):
    """ส่งฉบับแก้ไข: send the corrected file for a document returned to me."""
    returned = own_document(document_id)
    form = RevisionForm(obj=returned if request.method == "GET" else None)
    context = {"document": returned}
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        return render_template("send/revise.html", form=form, **context), status
    try:
        document = services.send_revision(
            storage(), current_user, returned, form.title.data, request.files.get("file")
        )
    except FileTooLarge:
        abort(413)
    except RuleError as error:
        flash(error.message, "error")
        return render_template("send/revise.html", form=form, **context), error.status
    flash_sent(document)
    return redirect(url_for("send.index"))


@bp.route("/document/<id:document_id>/edit", methods=["GET", "POST"])
@access(REPORTER)
def edit(document_id):
    """Correct the title of a document not yet received."""
    document = own_document(document_id)
    form = TitleForm(obj=document)
    status = 200
    if form.validate_on_submit():
        try:
            services.rename_document(current_user, document, form.title.data)
        except RuleError as error:
            flash(error.message, "error")
            status = error.status
        else:
            flash(_("แก้ไขชื่อรายการเรียบร้อยแล้ว"), "success")
            return redirect(url_for("send.index"))
    elif form.is_submitted():
        status = 400
    return render_template("send/edit.html", form=form, document=document), status


@bp.route("/document/<id:document_id>/delete", methods=["POST"])
@access(REPORTER)
def delete(document_id):
    """Delete a document not yet received."""
    document = own_document(document_id)
    try:
        services.delete_document(storage(), current_user, document)
    except RuleError as error:
        flash(error.message, "error")
        return render_index(error.status)
    flash(_("ลบเอกสารเรียบร้อยแล้ว"), "success")
    return redirect(url_for("send.index"))
