"""Blueprint `send`: see routes.py for its URLs and services.py for its rules."""

from flask import Blueprint

bp = Blueprint("send", __name__, url_prefix="/send")

from . import routes  # noqa: E402,F401  (routes attach themselves to bp)
