"""Who may open which route: every view declares it, and a view that declares nothing is refused."""

from flask import abort, current_app, flash, g, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import exists, select

from extensions import db, login_manager
from models import Indicator

PUBLIC = "public"
LOGIN = "login"
ADMIN = "admin"
REPORTER = "reporter"
RECEIVER = "receiver"  # receives at least one indicator, or is the admin


def access(level: str):
    """Mark a view with who may reach it; enforce_access() reads the mark before every request."""

    def mark(view):
        view.access_level = level
        return view

    return mark


def is_receiver(user) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_admin:
        return True
    if "is_receiver" not in g:  # asked by the access check and the menu on one request
        g.is_receiver = db.session.scalar(select(exists().where(Indicator.receiver_id == user.id)))
    return g.is_receiver


def may(user, level: str) -> bool:
    if level == PUBLIC:
        return True
    if not user.is_authenticated:
        return False
    if level == LOGIN:
        return True
    if level == ADMIN:
        return user.is_admin
    if level == REPORTER:
        return user.is_reporter
    if level == RECEIVER:
        return is_receiver(user)
    return False


def enforce_access():
    """before_request: deny by default, so a route added without @access is unreachable."""
    if request.endpoint is None:
        return None  # 404/405 are answered by the router
    view = current_app.view_functions.get(request.endpoint)
    level = getattr(view, "access_level", None)
    if request.endpoint == "static":
        level = PUBLIC
    if level is None:
        abort(403)
    if level != PUBLIC and not current_user.is_authenticated:
        if request.method not in ("GET", "HEAD"):
            # ?next= would replay a POST-only URL as a GET after login (a 405 page).
            flash(login_manager.login_message, login_manager.login_message_category)
            return redirect(url_for(login_manager.login_view))
        return login_manager.unauthorized()
    if not may(current_user, level):
        abort(403)
    return None


def unmarked_views(app) -> list[str]:
    return sorted(
        name
        for name, view in app.view_functions.items()
        if name != "static" and getattr(view, "access_level", None) is None
    )


def require(condition: bool):
    """Object-level check inside a view or service; 403 is the only answer to 'not yours'."""
    if not condition:
        abort(403)
