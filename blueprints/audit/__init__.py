"""Blueprint `audit`: see routes.py for its URLs and services.py for its rules."""

from flask import Blueprint

bp = Blueprint("audit", __name__, url_prefix="/audit")

from . import routes  # noqa: E402,F401  (routes attach themselves to bp)
