"""Blueprint `years`: see routes.py for its URLs and services.py for its rules."""

from flask import Blueprint

bp = Blueprint("years", __name__, url_prefix="/years")

from . import routes  # noqa: E402,F401  (routes attach themselves to bp)
