"""The closed loop on a calendar: rounds when they are due, results when they arrive.

A lab with a clock (``start(experiments, day) -> [Arrival]``, e.g.
``optim.labs.cycling.CyclingInterlayerLab``) says when each value of a batch will be
read. Every ``round_every_days`` the loop records what arrived since the last round
(one results table, merged by id like any results file: a cell's cycle-100 reading
joins its cycle-50 one), then, when the lab has free channels, plans a batch of at most
that many and starts it. Cells still cycling stay on their channels and are pending in
the next rounds (``optim.checkpoints``). The cells a round recommends stopping
(``checkpoints.stop_below``) are taken off their channels at once: their further
readings never come, and a results table records ``stopped_at`` (their last
checkpoint read) with a note.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pandas as pd

from optim.campaign import Campaign
from optim.rounds import RoundResult

__all__ = ["CalendarRound", "run_calendar"]


@dataclass(frozen=True)
class CalendarRound:
    """One due date of the calendar loop.

    Args:
        day: Days since the start.
        recorded: Ids whose results were recorded at this date.
        result: The round planned (``None``: no free channel).
        started: Ids started on a channel.
        cycling: Cells on a channel after the round.
        stopped: Ids whose test was ended on the round's recommendation.
    """

    day: float
    recorded: list[str]
    result: RoundResult | None
    started: list[str] = field(default_factory=list)
    cycling: int = 0
    stopped: list[str] = field(default_factory=list)


def _results_table(arrivals: list) -> pd.DataFrame:
    """Arrivals as one results table, one row per id (a cell's readings merged)."""
    rows: dict[str, dict[str, object]] = {}
    for a in arrivals:
        row = rows.setdefault(a.id, {"id": a.id})
        row.update(a.values)
        if a.status == "failed":
            row["status"] = "failed"
        if a.notes:
            row["notes"] = "; ".join(filter(None, [row.get("notes", ""), a.notes]))
    return pd.DataFrame(list(rows.values()))


def _stopped_table(ended: list, day: float, below: float | None) -> pd.DataFrame:
    """The cells taken off their channels as a results table: ``stopped_at`` and why."""
    return pd.DataFrame([{
        "id": w.id, "stopped_at": w.last,
        "notes": f"stopped after {w.last} {w.target.checkpoint_unit} on day {day:g}: "
                 f"P({w.target.name} beats {w.target.threshold:g}) = {w.p_beats:.3f}"
                 + (f" < {below:g} (checkpoints.stop_below)" if below is not None else "")}
        for w in ended])


def run_calendar(campaign: Campaign, lab, weeks: float, round_every_days: float = 7.0,
                 on_round: Callable[[CalendarRound], None] | None = None,
                 ) -> list[CalendarRound]:
    """Run ``campaign`` against a timed ``lab`` for ``weeks`` simulated weeks.

    Args:
        campaign: The campaign (its batch size caps a round; a round proposes at most
            as many experiments as the lab has free channels).
        lab: A lab with ``channels`` and ``start(experiments, day)``.
        weeks: Simulated weeks to run.
        round_every_days: Days between due dates.
        on_round: Called after each due date.

    Returns:
        Every due date, in order.
    """
    base = campaign._settings
    queue: list[tuple[float, int, object]] = []
    busy: set[str] = set()
    dates: list[CalendarRound] = []
    day, order = 0.0, 0
    inputs = ["id", "round", *base.space.names]
    try:
        while day < weeks * 7 - 1e-9:
            due = []
            while queue and queue[0][0] <= day + 1e-9:
                due.append(heapq.heappop(queue)[2])
            recorded: list[str] = []
            if due:
                recorded = campaign.record(_results_table(due), f"lab, day {day:g}")
                busy -= {a.id for a in due if a.frees_channel}
            free = lab.channels - len(busy)
            result, started, ended = None, [], []
            if free > 0:
                campaign._settings = replace(base, batch_size=min(base.batch_size, free),
                                             n_initial=base.n_initial)
                result = campaign.propose()
                batch = result.batch[inputs].head(free)
                started = list(batch["id"])
                for a in lab.start(batch.reset_index(drop=True), day):
                    heapq.heappush(queue, (a.day, order, a))
                    order += 1
                busy |= set(started)
                ended = [w for w in result.stop if w.id in busy]
            if ended:
                queue = [q for q in queue if q[2].id not in {w.id for w in ended}]
                heapq.heapify(queue)
                busy -= {w.id for w in ended}
                campaign.record(_stopped_table(ended, day, result.stop_below),
                                f"lab, day {day:g} (stopped)")
            date = CalendarRound(day, recorded, result, started, len(busy),
                                 [w.id for w in ended])
            dates.append(date)
            if on_round is not None:
                on_round(date)
            day += round_every_days
    finally:
        campaign._settings = base
    return dates
