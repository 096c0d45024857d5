"""Blueprint `auth`: see routes.py for its URLs and services.py for its rules."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from . import preferences, routes  # noqa: E402,F401  (routes attach themselves to bp)
