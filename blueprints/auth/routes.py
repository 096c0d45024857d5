"""Login, logout, the menu page, own password, and the admin's account page."""

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from blueprints.indicators.services import received_in_open_years
from errors import RuleError
from extensions import csrf, db
from language import SESSION_KEY, fiscal_year_label
from models import User
from pagination import paginate
from permissions import ADMIN, LOGIN, PUBLIC, access

from . import bp, portal, services, staff_import
from .forms import (
    ChangePasswordForm,
    ConfirmImportForm,
    CreateUserForm,
    ImportStaffForm,
    LoginForm,
    ResetPasswordForm,
)


@bp.route("/")
@access(LOGIN)
def index():
    """Show the menu entries this user may use."""
    return render_template("auth/index.html")


@bp.route("/login", methods=["GET", "POST"])
@access(PUBLIC)
def login():
    """Log in with username and password (or, behind the portal, go and log in there)."""
    if portal.per_request():
        if current_user.is_authenticated:
            return redirect(url_for("auth.index"))
        # Our own form would be a second login; the portal is where staff log in.
        return render_template("auth/portal_login.html"), 401
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = services.authenticate(
                form.username.data, form.password.data, request.remote_addr
            )
        except RuleError as error:
            flash(error.message, "error")
            retry = getattr(error, "retry_after", None)  # throttled: when to try again
            headers = {"Retry-After": str(retry)} if retry else {}
            return render_template("auth/login.html", form=form), error.status, headers
        next_url = safe_next(request.args.get("next"))
        language = session.get(SESSION_KEY)
        session.clear()  # nothing from before the login survives it (session fixation)
        if language:  # ... but the language this person just picked on the login page
            session[SESSION_KEY] = language
        login_user(user, remember=form.remember.data)
        return redirect(next_url or url_for("auth.index"))
    status = 400 if form.is_submitted() else 200
    return render_template("auth/login.html", form=form), status


def safe_next(target: str | None) -> str | None:
    """Only a path inside this module; anything else could send the user to another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    root = request.script_root + "/"
    return target if target.startswith(root) else None


@bp.route("/logout", methods=["POST"])
@access(LOGIN)
def logout():
    """Log out: the session ends on the server too, so a copied cookie stops working."""
    if portal.per_request():
        # Only the portal can end the portal's login, and with it the access here.
        session.clear()
        return redirect(current_app.config["PORTAL_LOGOUT_URL"])
    services.logout(current_user)
    session.clear()
    logout_user()  # after clear(): it leaves the note that deletes the remember cookie
    flash(_("ออกจากระบบเรียบร้อยแล้ว"), "success")
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
@access(LOGIN)
def change_password():
    """Change one's own password; other sessions of this user end."""
    if not services.has_local_password(current_user):
        raise RuleError(_("บัญชีนี้เข้าระบบผ่านพอร์ทัล กรุณาเปลี่ยนรหัสผ่านที่พอร์ทัล"), status=404)
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            services.change_password(
                current_user, form.current.data, form.new.data, request.remote_addr
            )
        except RuleError as error:
            flash(error.message, "error")
            retry = getattr(error, "retry_after", None)  # throttled: when to try again
            headers = {"Retry-After": str(retry)} if retry else {}
            return render_template("auth/password.html", form=form), error.status, headers
        login_user(
            current_user._get_current_object()
        )  # re-issue this browser's cookie with the new version
        flash(_("เปลี่ยนรหัสผ่านเรียบร้อยแล้ว"), "success")
        return redirect(url_for("auth.index"))
    status = 400 if form.is_submitted() else 200
    return render_template("auth/password.html", form=form), status


@bp.route("/handoff")
@access(PUBLIC)
def handoff():
    """token mode: the portal's menu link, signed and usable once, logs its user in here."""
    if portal.mode() != "token":
        abort(404)
    if request.headers.get("Sec-Fetch-Site") not in (None, "same-origin", "same-site"):
        # A link planted on another site could log a victim in as the planter (login CSRF).
        raise RuleError(portal.BAD_LINK, status=403)
    user = portal.login_from_token(request.args.get("token"))
    next_url = safe_next(request.args.get("next"))
    session.clear()  # nothing of an earlier login in this browser survives (session fixation)
    login_user(user)
    return redirect(next_url or url_for("auth.index"))


handoff.writes_on_get = True  # the nonce, and perhaps a new account


@bp.route("/handoff/logout", methods=["POST"])
@access(PUBLIC)
@csrf.exempt  # called by the portal's server, not a browser; the HMAC stands in for CSRF
def handoff_logout():
    """token mode: the portal's logout ends this user's sessions here too."""
    if portal.mode() != "token":
        abort(404)
    try:
        known = portal.logout_from_token(request.form.get("token"))
    except RuleError as error:
        return {"ok": False, "error": error.message}, error.status
    return {"ok": True, "ended": known}


def render_accounts(form=None, status=200):
    query = request.args.get("q", "")
    return render_template(
        "auth/accounts.html",
        form=form or CreateUserForm(formdata=None),
        page=paginate(services.list_accounts(query)),
        query=query,
    ), status


@bp.route("/accounts", methods=["GET", "POST"])
@access(ADMIN)
def accounts():
    """List staff accounts; the admin adds one here."""
    form = CreateUserForm()
    if not form.validate_on_submit():
        return render_accounts(form, 400 if form.is_submitted() else 200)
    try:
        user = services.create_user(
            form.username.data,
            form.full_name.data,
            form.position.data or "",
            form.password.data,
            form.is_admin.data,
            actor=current_user,
        )
    except RuleError as error:
        flash(error.message, "error")
        return render_accounts(form, error.status)
    flash(_("เพิ่มบัญชี %(name)s เรียบร้อยแล้ว", name=user.full_name), "success")
    return redirect(url_for("auth.accounts"))


@bp.route("/accounts/<id:user_id>/password", methods=["POST"])
@access(ADMIN)
def reset_password(user_id):
    """Set a new password for a staff member; their sessions end."""
    user = db.get_or_404(User, user_id)
    form = ResetPasswordForm()
    try:
        if not form.validate_on_submit():
            raise RuleError(_("กรุณากรอกรหัสผ่านใหม่"), status=400)
        services.reset_password(current_user, user, form.new.data)
    except RuleError as error:
        flash(error.message, "error")
        return render_accounts(status=error.status)
    flash(_("ตั้งรหัสผ่านใหม่ให้ %(name)s เรียบร้อยแล้ว", name=user.full_name), "success")
    return redirect(url_for("auth.accounts"))


@bp.route("/accounts/<id:user_id>/active", methods=["POST"])
@access(ADMIN)
def set_active(user_id):
    """Deactivate staff who left (or bring them back); their documents stay."""
    user = db.get_or_404(User, user_id)
    choice = request.form.get("active")
    try:
        if choice not in ("0", "1"):
            raise RuleError(_("ข้อมูลที่ส่งมาไม่ถูกต้อง"), status=400)
        active = choice == "1"
        services.set_active(current_user, user, active)
    except RuleError as error:
        flash(error.message, "error")
        return render_accounts(status=error.status)
    if active:
        flash(_("เปิดใช้งานบัญชี %(name)s แล้ว", name=user.full_name), "success")
    else:
        flash(_("ปิดการใช้งานบัญชี %(name)s แล้ว", name=user.full_name), "success")
        orphaned = received_in_open_years(user)
        if orphaned:
            codes = ", ".join(f"{i.code} ({fiscal_year_label(i.fiscal_year)})" for i in orphaned)
            flash(
                _(
                    "%(name)s เป็นผู้รับข้อมูลของตัวชี้วัด %(codes)s "
                    "กรุณาเปลี่ยน จนท.รับข้อมูลตัวชี้วัด ที่เมนู บันทึกตัวชี้วัด",
                    name=user.full_name,
                    codes=codes,
                ),
                "warning",
            )
    return redirect(url_for("auth.accounts"))


# --- import staff from the portal's personnel export (staff_import.py) ---------------------

IMPORT_KEY = "staff_import"  # in the session: the kept upload's token, its admin, its name


def render_import(form=None, status=200):
    form = form or ImportStaffForm(formdata=None)
    return render_template("auth/import.html", form=form), status


def render_import_preview(plan, status=200):
    form = ConfirmImportForm(formdata=None, digest=plan.digest)
    return render_template("auth/import_preview.html", plan=plan, form=form), status


def forget_import():
    kept = session.pop(IMPORT_KEY, None) or {}
    staff_import.discard(kept.get("token"))


@bp.route("/accounts/import", methods=["GET", "POST"])
@access(ADMIN)
def import_staff():
    """Upload the portal's personnel export and preview what importing it would change."""
    form = ImportStaffForm()
    if not form.validate_on_submit():
        return render_import(form, 400 if form.is_submitted() else 200)
    try:
        pending = staff_import.preview_upload(request.files.get("file"), current_user)
    except RuleError as error:
        flash(error.message, "error")
        return render_import(form, error.status)
    forget_import()  # an earlier preview in this browser is replaced by this one
    if pending.token:
        session[IMPORT_KEY] = {
            "token": pending.token,
            "user": current_user.id,
            "file": pending.filename,
        }
    return render_import_preview(pending.plan)


@bp.route("/accounts/import/confirm", methods=["POST"])
@access(ADMIN)
def confirm_import():
    """Apply the previewed import; if anything changed since the preview, preview again."""
    form = ConfirmImportForm()
    kept = session.get(IMPORT_KEY) or {}
    data = staff_import.load(kept.get("token")) if kept.get("user") == current_user.id else None
    if data is None:
        forget_import()
        flash(str(staff_import.UPLOAD_AGAIN), "error")
        return render_import(status=409)
    try:
        plan = staff_import.plan_file(data, kept["file"], current_user)
        if not form.validate_on_submit() or form.digest.data != plan.digest:
            if not plan.changes_anything:
                forget_import()
            flash(
                _("ข้อมูลบัญชีผู้ใช้เปลี่ยนไปหลังจากตรวจสอบ ยังไม่ได้บันทึกสิ่งใด กรุณาตรวจสอบรายการอีกครั้งแล้วยืนยัน"),
                "error",
            )
            return render_import_preview(plan, 409)
        result = staff_import.apply_kept(
            kept["token"], plan, current_user, form.deactivate_missing.data
        )
    except RuleError as error:
        forget_import()
        flash(error.message, "error")
        return render_import(status=error.status)
    forget_import()
    flash_import_result(result)
    return redirect(url_for("auth.accounts"))


def flash_import_result(result):
    flash(
        _(
            "นำเข้ารายชื่อบุคลากรแล้ว: เพิ่ม %(created)s บัญชี แก้ไข %(updated)s บัญชี "
            "ปิดการใช้งาน %(deactivated)s บัญชี",
            created=result.created,
            updated=result.updated,
            deactivated=len(result.deactivated),
        ),
        "success",
    )
    for account, indicators in result.orphaned:
        codes = ", ".join(f"{i.code} ({fiscal_year_label(i.fiscal_year)})" for i in indicators)
        flash(
            _(
                "%(name)s เป็นผู้รับข้อมูลของตัวชี้วัด %(codes)s กรุณาเปลี่ยน จนท.รับข้อมูลตัวชี้วัด ที่เมนู บันทึกตัวชี้วัด",
                name=account.full_name,
                codes=codes,
            ),
            "warning",
        )
