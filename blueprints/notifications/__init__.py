"""Blueprint `notifications`: see routes.py for its URLs; the rules live in notifications.py."""

from flask import Blueprint

bp = Blueprint("notifications", __name__, url_prefix="/notifications")

from . import routes  # noqa: E402,F401  (routes attach themselves to bp)
