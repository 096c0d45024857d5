"""Blueprint `menu`: our entries for the portal's own menu (menu.json, menu.html)."""

from flask import Blueprint

bp = Blueprint("menu", __name__)

from . import routes  # noqa: E402,F401  (routes attach themselves to bp)
