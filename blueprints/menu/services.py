"""What the portal's menu shows for one person: our entries, and what waits for them."""

from dataclasses import dataclass
from urllib.parse import urlencode

from flask import current_app, url_for
from sqlalchemy import func, select

from blueprints.receive.services import receivable
from blueprints.years.services import open_years
from extensions import db
from menu import visible_menu
from models import RETURNED, SENT, Document, Indicator, User, indicator_reporters


@dataclass(frozen=True)
class PortalEntry:
    group: str
    label: str
    url: str
    count: int  # documents waiting for this person's action behind this entry


def to_store(user: User, years: list[int]) -> int:
    """Sent documents of the indicators this person receives, not yet stored (จัดเก็บ)."""
    ids = receivable(user).where(Indicator.fiscal_year.in_(years)).with_only_columns(Indicator.id)
    return db.session.scalar(
        select(func.count(Document.id)).where(
            Document.indicator_id.in_(ids), Document.status == SENT
        )
    )


def to_revise(user: User, years: list[int]) -> int:
    """This reporter's documents sent back for revision (ส่งกลับแก้ไข), on indicators still theirs."""
    return db.session.scalar(
        select(func.count(Document.id))
        .join(Indicator, Indicator.id == Document.indicator_id)
        .join(
            indicator_reporters,
            (indicator_reporters.c.indicator_id == Indicator.id)
            & (indicator_reporters.c.user_id == user.id),
        )
        .where(
            Document.uploaded_by_id == user.id,
            Document.status == RETURNED,
            Indicator.fiscal_year.in_(years),
        )
    )


# The entries whose pages hold work waiting for the person, and how to count it.
COUNTERS = {"receive.index": to_store, "send.index": to_revise}


def portal_entries(user: User, through_link: bool = False) -> list[PortalEntry]:
    """The user's menu, flattened, with counts; only closed years' work is not counted.

    through_link: token mode, where a click must pass the portal's link script to sign the
    person in here; the script takes the page as ?next=.
    """
    years = open_years()
    link = current_app.config["PORTAL_LINK_URL"]
    entries = []
    for group in visible_menu(user):
        for entry in group.entries:
            url = url_for(entry.endpoint)
            if through_link:
                url = link + "?" + urlencode({"next": url})
            counter = COUNTERS.get(entry.endpoint)
            count = counter(user, years) if counter and years else 0
            entries.append(PortalEntry(str(group.title), str(entry.label), url, count))
    return entries
