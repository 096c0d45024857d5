"""ส่งเอกสารคำรับรอง: the reporter's indicators, the attach form, and corrections before receipt."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from blueprints.indicators.services import known_years, selected_year
from errors import RuleError
from extensions import db, storage
from forms import EmptyForm
from models import Document, Indicator
from pagination import paginate
from permissions import REPORTER, access
from storage import FileTooLarge

from . import bp, services
from .forms import AttachForm, TitleForm


def render_index(year: int, status: int = 200):
    return render_template(
        "send/index.html",
        year=year,
        years=known_years(),
        page=paginate(services.my_indicators(current_user, year)),
        round_labels=services.ROUND_LABELS,
        form=EmptyForm(),
    ), status


@bp.route("/")
@access(REPORTER)
def index():
    """List my indicators with every document sent for them."""
    return render_index(selected_year(request.args.get("year")))


@bp.route("/indicator/<id:indicator_id>/attach", methods=["GET", "POST"])
@access(REPORTER)
def attach(indicator_id):
    """Attach one more file to an indicator I report on (แนบไฟล์เพิ่ม)."""
    indicator = db.get_or_404(Indicator, indicator_id)
    if not services.is_assigned(current_user, indicator):
        abort(403)
    form = AttachForm()
    status = 200
    if form.validate_on_submit():
        try:
            services.send_document(
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
            status = error.status
        else:
            flash(_("ส่งเอกสารเรียบร้อยแล้ว"), "success")
            return redirect(url_for("send.index", year=indicator.fiscal_year))
    elif form.is_submitted():
        status = 400
    return render_template("send/attach.html", form=form, indicator=indicator), status


def own_document(document_id: int) -> Document:
    document = db.get_or_404(Document, document_id)
    if document.uploaded_by_id != current_user.id:
        abort(403)
    return document


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
            return redirect(url_for("send.index", year=document.indicator.fiscal_year))
    elif form.is_submitted():
        status = 400
    return render_template("send/edit.html", form=form, document=document), status


@bp.route("/document/<id:document_id>/delete", methods=["POST"])
@access(REPORTER)
def delete(document_id):
    """Delete a document not yet received."""
    document = own_document(document_id)
    year = document.indicator.fiscal_year
    try:
        services.delete_document(storage(), current_user, document)
    except RuleError as error:
        flash(error.message, "error")
        return render_index(year, error.status)
    flash(_("ลบเอกสารเรียบร้อยแล้ว"), "success")
    return redirect(url_for("send.index", year=year))
