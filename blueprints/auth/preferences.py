"""The person's own settings: which language the pages speak."""

from flask import redirect, request, url_for
from flask_login import current_user

from permissions import PUBLIC, access

from . import bp, services
from .routes import safe_next


@bp.route("/language", methods=["POST"])
@access(PUBLIC)  # the login page has the switch too
def set_language():
    """Switch the pages between Thai and English; kept on the account, or in this browser."""
    services.set_language(current_user, request.form.get("language", ""))
    return redirect(safe_next(request.form.get("next")) or url_for("auth.index"))
