"""Paging for long lists, with the attribute names of Flask-SQLAlchemy's Pagination."""

import math
from dataclasses import dataclass

from flask import current_app, request

from text import small_int


@dataclass
class Page:
    items: list
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1

    @property
    def first_index(self) -> int:
        """Row number of the first item, so 'ที่' keeps counting across pages."""
        return (self.page - 1) * self.per_page + 1


# The filters a list page understands; anything else in a query string is ignored, so a
# stray ?endpoint= or ?user_id= cannot reach url_for.
LIST_FILTERS = ("q", "position", "year", "user", "action", "indicator", "since", "until")


def list_filters() -> dict:
    return {key: request.args[key] for key in LIST_FILTERS if request.args.get(key)}


def requested_page() -> int:
    page = small_int(request.args.get("page"))
    return page if page and page < 100_000 else 1


def paginate(items: list, per_page: int | None = None) -> Page:
    """Page an already sorted list (sorted in Python when the order is Thai collation)."""
    per_page = per_page or current_app.config["PER_PAGE"]
    total = len(items)
    page = min(requested_page(), max(1, math.ceil(total / per_page)))
    start = (page - 1) * per_page
    return Page(items[start : start + per_page], page, per_page, total)
