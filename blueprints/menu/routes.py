"""menu.json and menu.html: fetched by the portal's server (integrations/php/reports_menu.php)
to draw our entries, with their counts, in the portal's own menu."""

from flask import g, jsonify, make_response, render_template, request
from flask_babel import force_locale, get_locale
from flask_login import current_user

from blueprints.auth import portal
from errors import RuleError
from language import THAI, offered_languages
from permissions import PUBLIC, access

from . import bp, services


def menu_user():
    """Who the menu is for: the portal's user (header and php-session modes, or a session of
    ours), or in token mode the user a menu token from the portal's server names. A closed
    account gets what a stranger gets: an empty menu, as in token mode."""
    if current_user.is_authenticated:
        return current_user, False
    error = g.pop("portal_error", None)  # the portal named someone we cannot let in
    if error is not None and not isinstance(error, portal.AccountClosed):
        raise error  # e.g. the session store is down: the portal's server logs it
    scheme, _space, token = request.headers.get("Authorization", "").partition(" ")
    if portal.mode() == "token" and scheme.lower() == "bearer" and token:
        return portal.user_from_menu_token(token.strip()), True
    return None, False


def answer(render):
    """Anyone may ask; a stranger gets an empty menu and a 401, never a login page."""
    try:
        user, through_link = menu_user()
    except RuleError as error:
        return render([], error.status, error.message)
    if user is None:
        return render([], 401, None)
    language = user.language if user.language in offered_languages() else THAI
    with force_locale(language):
        return render(services.portal_entries(user, through_link), 200, None)


def private(response):
    # Counts belong to one person; no cache between the portal and us may keep them.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Vary"] = "Cookie, Authorization"
    return response


@bp.route("/menu.json")
@access(PUBLIC)  # answer() decides: the portal's server asks without our login cookie
def menu_json():
    """The current user's entries: label, URL and how many documents wait for them."""

    def render(entries, status, error):
        body = {
            "entries": [e.__dict__ for e in entries],
            "total": sum(e.count for e in entries),
        }
        if error:
            body["error"] = error
        return private(jsonify(body)), status

    return answer(render)


@bp.route("/menu.html")
@access(PUBLIC)
def menu_html():
    """The same entries as an HTML fragment the portal prints inside its own menu."""

    def render(entries, status, _error):
        html = ""
        if entries:
            html = render_template("menu/fragment.html", entries=entries, lang=str(get_locale()))
        response = make_response(html)
        response.headers["Content-Type"] = "text/html; charset=utf-8"
        return private(response), status

    return answer(render)
