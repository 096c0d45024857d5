"""Blueprint `indicators`: see routes.py for its URLs and services.py for its rules."""

from flask import Blueprint

bp = Blueprint("indicators", __name__, url_prefix="/indicators")

from . import routes  # noqa: E402,F401  (routes attach themselves to bp)
