"""Which language a page speaks: Thai unless this person chose English."""

from datetime import date, datetime

from flask import current_app, g, has_request_context, session
from flask_babel import get_locale
from flask_login import current_user
from markupsafe import Markup, escape

from thai import BANGKOK, BE_OFFSET, bangkok_date, thai_date, thai_datetime

THAI = "th"
ENGLISH = "en"
LANGUAGES = (THAI, ENGLISH)
SESSION_KEY = "language"


def chosen_language() -> str:
    """Flask-Babel's locale selector: the account's choice, else this browser's, else Thai.

    Never the browser's Accept-Language: office PCs often run English Windows for staff
    who read Thai, and the manual they were trained on is Thai.
    """
    if not has_request_context():
        return THAI
    offered = offered_languages()
    if current_user and current_user.is_authenticated and current_user.language in offered:
        return current_user.language
    choice = session.get(SESSION_KEY)
    return choice if choice in offered else THAI


def offered_languages() -> tuple[str, ...]:
    """English only with its compiled catalogue: without it, English pages would be Thai
    words with English dates, and no switch back (app.register_template_helpers decides)."""
    return current_app.config.get("LANGUAGES", (THAI,))


def english() -> bool:
    """Asked once per date, hundreds of times on a long page: the locale Flask-Babel settled
    on is read where get_locale() keeps it for the request (and force_locale() swaps it),
    with one lookup on g rather than get_locale()'s several; get_locale() otherwise."""
    babel_context = g._get_current_object().get("_flask_babel") if g else None
    locale = getattr(babel_context, "babel_locale", None) or get_locale()
    return locale is not None and locale.language == ENGLISH


def translated(labels: dict) -> dict[object, Markup]:
    """Lazily translated labels (labels.py), each translated once for a page that shows
    them row after row; the same markup {{ labels[key] }} would give, escape() included."""
    return {key: escape(label) for key, label in labels.items()}


ENGLISH_MONTHS_SHORT = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)


def local_date(moment: datetime | date | None) -> str:
    """'23 พ.ย. 2569' in Thai (Buddhist era), '23 Nov 2026' in English (Common Era)."""
    if not english():
        return thai_date(moment)
    if moment is None:
        return "-"
    day = bangkok_date(moment) if isinstance(moment, datetime) else moment
    return f"{day.day} {ENGLISH_MONTHS_SHORT[day.month - 1]} {day.year}"


def local_datetime(moment: datetime | None) -> str:
    if not english():
        return thai_datetime(moment)
    if moment is None:
        return "-"
    local = moment.astimezone(BANGKOK)
    return f"{local_date(local.date())} {local:%H:%M}"


def fiscal_year_label(year: int) -> int:
    """A fiscal year as the reader counts years: 2570 in Thai; 2027 in English, as the
    government's own English documents name the fiscal year ending in September 2027."""
    return year - BE_OFFSET if english() else year
