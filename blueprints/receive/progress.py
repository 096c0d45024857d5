"""Progress at a glance: the year's indicators by rounds, counted in a fixed number of queries."""

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import case, func, select
from sqlalchemy.orm import selectinload

from extensions import db
from models import RECEIVED, REPLACED, RETURNED, SENT, Document, Indicator, Round, User
from models import indicator_reporters as reporters_table
from pagination import Page, paginate
from thai import code_sort_key, thai_sort_key

# The status filter's values: the reporter page's round states, plus overdue.
STATES = ("not_sent", "sent", "returned", "received")
OVERDUE = "overdue"
NONE = (0, 0, 0)


@dataclass
class Cell:
    """One indicator in one round.

    Counts are of current documents: a replaced document is history (its revision is counted
    instead), so it is neither returned nor sent any more.

    state is what the round still needs, in the reporter page's order (send.services.round_state):
    returned (a file waits for the reporter's revision) before sent (a file waits for the
    receiver) before received; not_sent when nothing current exists.

    overdue: the round's due date has passed (in Bangkok: the whole due day is on time) and the
    cell has neither a received document nor a sent one waiting to be stored, i.e. the reporter
    still owes something (state not_sent or returned). A late file, once sent, ends it.
    """

    round: Round
    sent: int = 0
    returned: int = 0
    received: int = 0
    overdue: bool = False

    @property
    def state(self) -> str:
        if self.returned:
            return RETURNED
        if self.sent:
            return SENT
        if self.received:
            return RECEIVED
        return "not_sent"


@dataclass
class Row:
    indicator_id: int
    cells: list[Cell]
    indicator: Indicator | None = None  # loaded for the rows shown

    def matches(self, status: str | None) -> bool:
        """The status filter: a row stays when any of its rounds is in that state (or overdue)."""
        if not status:
            return True
        if status == OVERDUE:
            return any(c.overdue for c in self.cells)
        return any(c.state == status for c in self.cells)


@dataclass
class RoundProgress:
    """A round's share of indicators with at least one received document."""

    round: Round
    done: int
    total: int

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0


@dataclass
class Matrix:
    year: int
    rounds: list[Round]
    rows: list[Row] = field(default_factory=list)
    # The rows on the page shown, when the matrix is paged; the progress counts every row.
    page: Page | None = None

    @property
    def shown(self) -> list[Row]:
        return self.page.items if self.page is not None else self.rows

    @property
    def progress(self) -> list[RoundProgress]:
        return [
            RoundProgress(r, sum(1 for row in self.rows if row.cells[i].received), len(self.rows))
            for i, r in enumerate(self.rounds)
        ]

    @property
    def states(self) -> list[str]:
        """The states (and overdue) found in the matrix: the symbol key names only those."""
        found = {c.state for row in self.rows for c in row.cells}
        if any(c.overdue for row in self.rows for c in row.cells):
            found.add(OVERDUE)
        return sorted(found)

    def round_rows(self, months: int) -> list[tuple[Indicator, Cell]]:
        """(indicator, its cell) for one round: the printable summary's lines."""
        index = [r.months for r in self.rounds].index(months)
        return [(row.indicator, row.cells[index]) for row in self.rows]


def _counts(indicator_ids) -> dict[tuple[int, int], tuple[int, int, int]]:
    """{(indicator, round): (sent, returned, received)} of current documents, in one
    grouped query that reads only the (indicator, round, status) index."""

    def count(status):
        return func.sum(case((Document.status == status, 1), else_=0))

    stmt = (
        select(
            Document.indicator_id,
            Document.round_months,
            count(SENT),
            count(RETURNED),
            count(RECEIVED),
        )
        .where(Document.indicator_id.in_(indicator_ids), Document.status != REPLACED)
        .group_by(Document.indicator_id, Document.round_months)
    )
    return {
        (indicator_id, months): (int(sent or 0), int(returned or 0), int(received or 0))
        for indicator_id, months, sent, returned, received in db.session.execute(stmt)
    }


def build(indicators_stmt, rounds_by_year: dict[int, list[Round]], today: date, status=None,
          paged: bool = False):  # fmt: skip
    """One Matrix per year of rounds_by_year, over the indicators the statement selects.

    A fixed number of statements whatever the data: the indicators' ids and codes (the
    order), one grouped count of documents by indicator, round and status, and the whole
    rows (with their receivers) of the indicators shown. status keeps the rows with at least
    one cell in that state (or overdue); the progress is over the rows kept. paged (one
    year): only the requested page's rows are loaded whole, so the officer's matrix of 600
    indicators costs about what one of 50 does.
    """
    years = list(rounds_by_year)
    chosen = indicators_stmt.where(Indicator.fiscal_year.in_(years))
    order = db.session.execute(
        chosen.with_only_columns(Indicator.id, Indicator.code, Indicator.fiscal_year)
    ).all()
    order.sort(key=lambda row: code_sort_key(row.code))
    counts = _counts(chosen.with_only_columns(Indicator.id)) if order else {}
    matrices = {year: Matrix(year, rounds_by_year[year]) for year in years}
    for indicator_id, _code, year in order:
        matrix = matrices[year]
        cells = []
        for round_row in matrix.rounds:
            cell = Cell(round_row, *counts.get((indicator_id, round_row.months), NONE))
            cell.overdue = round_row.due_date < today and not (cell.received or cell.sent)
            cells.append(cell)
        row = Row(indicator_id, cells)
        if row.matches(status):
            matrix.rows.append(row)
    if paged:
        for matrix in matrices.values():
            matrix.page = paginate(matrix.rows)
        shown = [row for matrix in matrices.values() for row in matrix.page.items]
        stmt = select(Indicator).where(Indicator.id.in_([row.indicator_id for row in shown]))
    else:
        shown = [row for matrix in matrices.values() for row in matrix.rows]
        stmt = chosen
    if shown:
        loaded = db.session.scalars(stmt.options(selectinload(Indicator.receiver)))
        by_id = {indicator.id: indicator for indicator in loaded}
        for row in shown:
            row.indicator = by_id.get(row.indicator_id)
        # An indicator deleted between the reads is left out of what is shown.
        for matrix in matrices.values():
            matrix.rows = [row for row in matrix.rows if row.indicator or paged]
            if matrix.page is not None:
                matrix.page.items = [row for row in matrix.page.items if row.indicator]
    return [matrices[year] for year in sorted(years, reverse=True)]


def filtered(indicators_stmt, group: str = "", receiver_id: int | None = None):
    """Narrow the indicators to a group of reporters (their position) and to one receiver."""
    if group:
        by_group = (
            select(reporters_table.c.indicator_id)
            .join(User, User.id == reporters_table.c.user_id)
            .where(User.position == group)
        )
        indicators_stmt = indicators_stmt.where(Indicator.id.in_(by_group))
    if receiver_id is not None:
        indicators_stmt = indicators_stmt.where(Indicator.receiver_id == receiver_id)
    return indicators_stmt


def reported_by(user: User):
    """The indicators a reporter reports on: the reporter page's matrix."""
    mine = select(reporters_table.c.indicator_id).where(reporters_table.c.user_id == user.id)
    return select(Indicator).where(Indicator.id.in_(mine))


def filter_choices(indicators_stmt, year: int) -> tuple[list[str], list[User]]:
    """The groups (reporters' positions) and receivers found among the year's indicators."""
    ids = indicators_stmt.where(Indicator.fiscal_year == year).with_only_columns(Indicator.id)
    groups = db.session.scalars(
        select(User.position)
        .join(reporters_table, reporters_table.c.user_id == User.id)
        .where(reporters_table.c.indicator_id.in_(ids), User.position != "")
        .distinct()
    ).all()
    receivers = db.session.scalars(
        select(User).where(User.id.in_(select(Indicator.receiver_id).where(Indicator.id.in_(ids))))
    ).all()
    return sorted(groups, key=thai_sort_key), list(receivers)
