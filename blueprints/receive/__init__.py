"""Blueprint `receive`: see routes.py for its URLs and services.py for its rules."""

from flask import Blueprint

bp = Blueprint("receive", __name__, url_prefix="/receive")

from . import export, routes  # noqa: E402,F401  (routes attach themselves to bp)
