"""The public Python API: one campaign, its ledger, its tracker and its lab.

    from optim import Campaign

    campaign = Campaign.from_config("oxychloride", overrides=["tracking=none"])
    result = campaign.propose()            # plan a round (written to the ledger)
    campaign.record("results.csv")         # merge measured values by id
    campaign.decide(reject=["oxy-0011"])   # reviewers' decisions
    campaign.recipe("round")               # the latest round's weighing sheet
    campaign.run(rounds=5)                 # closed loop against the configured lab
    campaign.ledger                        # every experiment so far (a copy)

The CLI (``python -m optim``) and the benchmarks drive campaigns through this class.
Each call applies the campaign's torch threads and seeds for its own duration and
restores them afterwards; importing ``optim`` changes no global state.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from optim.config import build, campaign_source, compose
from optim.config.parse import resolve_threads
from optim.exceptions import (
    ConfigError,
    LabError,
    PoolExhaustedError,
    TrackingError,
    TrackingWarning,
)
from optim.ledger import Ledger
from optim.metrics import best_measured, measured_hypervolume
from optim.progress import step
from optim.recipe import Recipe, build_recipe, write_recipe
from optim.report import describe_round
from optim.rounds import RoundResult, decide, plan_round, record_results
from optim.settings import CampaignSettings
from optim.tracking import NullTracker, Tracker

__all__ = ["Campaign", "LoopRound"]

Lab = Callable[[pd.DataFrame], pd.DataFrame]


@dataclass(frozen=True)
class LoopRound:
    """One round of a closed loop, as the loop's ``on_round`` callback receives it.

    Args:
        index: 1-based position in this loop.
        rounds: Rounds this loop runs.
        result: The planned round.
        ledger: The ledger after the lab's measurements were recorded.
        settings: The campaign.
    """

    index: int
    rounds: int
    result: RoundResult
    ledger: pd.DataFrame
    settings: CampaignSettings

    @property
    def batch(self) -> pd.DataFrame:
        """The round's rows as recorded (values and statuses from the lab)."""
        return self.ledger[self.ledger["round"] == self.result.round]

    @property
    def n_failed(self) -> int:
        """Experiments of the round the lab reported as failed."""
        return int((self.batch["status"] == "failed").sum())

    @property
    def hypervolume(self) -> float:
        """Hypervolume of the measured front so far (model scale)."""
        return measured_hypervolume(self.ledger, self.settings)

    @property
    def best(self) -> dict[str, float]:
        """Best measured value per target so far (failed rows do not count)."""
        return best_measured(self.ledger, self.settings.objectives)


def _within_budget(settings: CampaignSettings, n_active: int, experiments: int,
                   ) -> CampaignSettings | None:
    """The settings for the next round of a loop limited to ``experiments`` in the
    ledger (rejected proposals do not count): the batch (and an initial design) cut to
    what is left; ``None`` when the budget is spent."""
    left = experiments - n_active
    if left <= 0:
        return None
    return replace(settings, batch_size=min(settings.batch_size, left),
                   n_initial=min(settings.n_initial, experiments))


def _rounds_for(settings: CampaignSettings, n_active: int, experiments: int) -> int:
    """Rounds a loop needs to reach ``experiments`` (the initial design's round first)."""
    missing = max(0, min(settings.n_initial, experiments) - n_active)
    left = experiments - max(n_active, min(settings.n_initial, experiments))
    return (missing > 0) + max(0, -(-left // settings.batch_size))


def _lab_name(lab: Lab) -> str:
    func = getattr(lab, "func", lab)  # functools.partial from `_partial_: true`
    return getattr(func, "__qualname__", type(func).__name__)


class Campaign:
    """A campaign: validated settings, the ledger they point at, tracking and a lab.

    Args:
        settings: The campaign's settings (``Campaign.from_config`` builds them from a
            campaign YAML; build them by hand for a campaign defined in Python).
        tracker: Where rounds are mirrored for review (default: none).
        lab: What measures a batch in :meth:`run` (``None``: people measure).
        threads: torch CPU threads during each call: ``auto`` (1 on machines with at
            most 4 cores, else torch's default), a positive whole number, or ``None``
            (torch's default).
        config: The resolved config, logged with each round as run parameters.
        lab_name: The lab's name in messages (default: the callable's name).
    """

    def __init__(self, settings: CampaignSettings, *, tracker: Tracker | None = None,
                 lab: Lab | None = None, threads: int | str | None = "auto",
                 config: dict | None = None, lab_name: str | None = None) -> None:
        self._settings = settings
        self.tracker: Tracker = tracker if tracker is not None else NullTracker()
        self.lab = lab
        self.lab_name = lab_name or (_lab_name(lab) if lab is not None else None)
        self.threads = resolve_threads(threads)
        self.config = config or {}
        self.tracking_ok = True
        self.tracking_failures = 0  # tracking calls that failed (the ledger has it all)
        self.resumed: list[str] = []
        self.stopped: str | None = None
        self.record_notes: list[str] = []  # what the last record call did besides merging

    # ------------------------------------------------------------ construction
    @classmethod
    def from_config(cls, campaign: str, overrides: Sequence[str] = (),
                    config_dir: str | Path | None = None) -> Campaign:
        """Compose a campaign config with Hydra, validated exactly as the CLI does.

        Args:
            campaign: The campaign config's name (``oxychloride``).
            overrides: Overrides as on the command line
                (``["batch_size=2", "tracking=none"]``).
            config_dir: An extra config folder, searched first (``--config-dir``):
                its ``campaign/<name>.yaml`` defines campaigns of your own.

        Raises:
            ConfigError: Any invalid value, with file, key (``err.key``) and fix.
        """
        cfg = compose(campaign, overrides, config_dir)
        return cls.from_composed(cfg, campaign_source(campaign, config_dir))

    @classmethod
    def from_composed(cls, cfg: Any, source: str) -> Campaign:
        """A campaign from an already composed Hydra config (``python -m optim``)."""
        built = build(cfg, source)
        return cls(built.settings, tracker=built.tracker, lab=built.lab,
                   threads=built.threads, config=built.plain, lab_name=built.lab_name)

    # ------------------------------------------------------------------- state
    @property
    def settings(self) -> CampaignSettings:
        """The typed, validated settings."""
        return self._settings

    @property
    def name(self) -> str:
        """The campaign's name."""
        return self._settings.name

    @property
    def ledger_path(self) -> Path:
        """The ledger file."""
        return self._settings.ledger_path

    @property
    def ledger(self) -> pd.DataFrame:
        """Every experiment so far, validated (a copy: editing it changes nothing)."""
        return Ledger.load(self.ledger_path, self._settings.schema,
                           self._settings.accept_changes).frame.copy()

    # ---------------------------------------------------------------- commands
    def propose(self) -> RoundResult:
        """Plan the next round: reviewers' decisions from tracking are applied first;
        the batch is written to the ledger, then logged for review."""
        with self._session():
            from_ui: dict[str, str] = {}
            self._track(lambda: from_ui.update(self.tracker.decisions(self.name)))
            step("reading the ledger")
            result = plan_round(self._settings, from_ui)
            self._track(lambda: self._log_round(result))
        return result

    def record(self, results: str | Path | pd.DataFrame, source: str | None = None,
               ) -> list[str]:
        """Merge measured values (a results CSV or a table with ``id``) by id.

        Returns:
            The ids that changed.
        """
        return self._record(results, source)[0]

    def _record(self, results: str | Path | pd.DataFrame, source: str | None,
                ) -> tuple[list[str], pd.DataFrame]:
        with self._session():
            self.record_notes = []
            changed, ledger = record_results(self._settings, results, source,
                                             self.record_notes)
            self._track(lambda: self.tracker.log_measurements(self.name, ledger,
                                                              self._settings.schema.targets))
        return changed, ledger

    def decide(self, decisions: dict[str, str] | None = None, *,
               approve: Sequence[str] = (), reject: Sequence[str] = (), by: str = "",
               ) -> list[str]:
        """Approve or reject proposals by id (``approve=[...]``, ``reject=[...]``, or a
        mapping of id to ``approve``/``reject``). The ledger records ``by`` (default:
        the user running Python) as ``decided_by``, and the time as ``decided_at``.

        Returns:
            The ids whose status changed.
        """
        decisions = {**(decisions or {}), **dict.fromkeys(approve, "approve"),
                     **dict.fromkeys(reject, "reject")}
        both = set(approve) & set(reject)
        if both:
            raise ConfigError(f"approve and reject both name {sorted(both)}. Fix: decide "
                              "each proposal once.", key="approve", value=sorted(both))
        with self._session():
            changed, ledger = decide(self._settings, decisions, by)
            self._track(lambda: (self.tracker.mark_decisions(self.name, decisions),
                                 self.tracker.log_measurements(
                                     self.name, ledger, self._settings.schema.targets)))
        return changed

    def sync(self) -> int:
        """Bring tracking in line with the ledger without planning a round: rounds the
        store lacks (it was unreachable when they ran) are logged late, measurements and
        statuses updated. Each round is in the store once, however often this runs.

        Returns:
            The number of rounds logged late.

        Raises:
            TrackingError: The store cannot be reached (the ledger is unaffected).
        """
        from optim.strategies import StrategyLabel

        with self._session():
            ledger = self.ledger
            schema = self._settings.schema
            result = RoundResult(self.name, -1, StrategyLabel("unknown"), ledger.iloc[:0],
                                 ledger, self.ledger_path, {}, [], -1, schema.inputs,
                                 schema.targets, space=self._settings.space)
            try:
                late = self.tracker.sync(result)
            except Exception as err:  # noqa: BLE001 - reported as one clear error
                raise TrackingError(f"tracking store unreachable ({type(err).__name__}: "
                                    f"{str(err).splitlines()[0][:300]}). The ledger "
                                    f"{self.ledger_path} is unaffected; run sync again "
                                    "once the store is back.") from err
        return late

    def recipe(self, which: str) -> Recipe:
        """The weighing sheet of one experiment or round: grams of each precursor.

        Written to ``<campaign folder>/recipes/<id or round-003>.csv`` and ``.html``
        (printable), and attached to the round's run in tracking; the ledger is only
        read.

        Args:
            which: An id (``oxy-0012``), ``round`` (the latest round) or ``round:3``.

        Returns:
            The sheets, with ``paths`` (CSV, HTML) and ``attached`` (the tracking run,
            or ``None``).

        Raises:
            ConfigError: The campaign has no composition or no ``weighing:`` block.
            LedgerError: An unknown id or round (the valid ones are listed).
        """
        recipe = build_recipe(self._settings, self.ledger, which)
        paths = write_recipe(recipe, self.ledger_path.parent / "recipes")
        attached: list[str | None] = [None]

        def attach() -> None:
            attached[0] = self.tracker.log_recipe(self.name, recipe.round, paths)

        if recipe.round > 0:  # rows added by hand (round 0) have no round run
            self._track(attach)
        return replace(recipe, paths=paths, attached=attached[0])

    def run(self, lab: Lab | None = None, rounds: int | None = 1,
            on_round: Callable[[LoopRound], None] | None = None, *,
            experiments: int | None = None) -> list[RoundResult]:
        """The closed loop: propose, measure with the lab, record; ``rounds`` times.

        Args:
            lab: ``lab(experiments) -> measurements`` (default: the configured lab).
                ``experiments`` has ``id``, ``round`` and the input columns; the
                measurements, ``id`` and target columns (and optionally ``status``,
                ``notes``), are validated like a results file.
            rounds: Rounds to run (the initial design's round counts as one);
                ``None``: as many as ``experiments`` needs.
            on_round: Called after each round is recorded.
            experiments: A budget: stop once the ledger holds this many experiments
                (proposed, measured or failed; rejected ones do not count), the last
                batch cut to fit (``None``: no budget).

        Proposals an earlier loop left unmeasured (it crashed, or the lab failed) are
        sent to the lab first; their ids are in ``self.resumed``. A pool campaign whose
        every candidate is in the ledger ends the loop early, with the reason in
        ``self.stopped`` (``None`` when every round ran).

        Raises:
            ConfigError: No lab, or a bad ``rounds``.
            LabError: The lab failed or returned something unusable (its round's
                proposals stay in the ledger as ``proposed``).
        """
        lab = lab if lab is not None else self.lab
        if experiments is not None and (isinstance(experiments, bool) or not isinstance(
                experiments, int) or experiments < 1):
            raise ConfigError(f"config key experiments: value={experiments!r}; expected a "
                              "whole number >= 1. Fix: e.g. experiments=44.",
                              key="experiments", value=experiments)
        if rounds is None and experiments is not None:
            rounds = experiments  # each round adds at least one experiment
        if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
            raise ConfigError(f"config key rounds: value={rounds!r}; expected a whole "
                              "number >= 1. Fix: e.g. rounds=5.", key="rounds", value=rounds)
        if lab is None:
            raise ConfigError(f"rounds={rounds} needs a lab that measures: lab=simulated, "
                              "or your own lab (lab._target_). With lab=manual, people "
                              "measure, so each command plans one round. Fix: pass a lab.",
                              key="lab")
        name = self.lab_name if lab is self.lab else _lab_name(lab)
        self.resumed = self._resume(lab, name)
        results = []
        self.stopped = None
        base = self._settings
        if experiments is not None:
            rounds = min(rounds, _rounds_for(base, self._n_active(), experiments))
            if rounds == 0:
                self.stopped = (f"ran no round: the ledger already holds "
                                f"{self._n_active()} experiment(s), the budget "
                                f"experiments={experiments}")
        for k in range(1, rounds + 1):
            if experiments is not None:
                budget = _within_budget(base, self._n_active(), experiments)
                if budget is None:
                    break
                self._settings = budget
            try:
                result = self.propose()
            except PoolExhaustedError as err:  # everything the lab has is measured
                self.stopped = f"stopped after {k - 1} of {rounds} round(s): {err}"
                break
            finally:
                self._settings = base
            step(f"round {result.round}: measuring with lab {name}")
            measured = self._measure(lab, name, result)
            _, ledger = self._record(measured, f"lab {name}, round {result.round}")
            results.append(result)
            if on_round is not None:
                on_round(LoopRound(k, rounds, result, ledger, self._settings))
        return results

    def _n_active(self) -> int:
        """The ledger's experiments that count towards a budget (not rejected)."""
        return int((self.ledger["status"] != "rejected").sum())

    def _resume(self, lab: Lab, name: str) -> list[str]:
        """Measure and record what an interrupted loop proposed but never recorded."""
        ledger = self.ledger
        pending = ledger[ledger["status"].isin(["proposed", "approved"])]
        if pending.empty:
            return []
        experiments = pending[["id", "round", *self._settings.space.names]]
        measured = self._measure(lab, name, None, experiments)
        self._record(measured, f"lab {name}, resumed proposals")
        return list(pending["id"])

    def review_hint(self) -> str | None:
        """How to open the review screen, or ``None`` (no tracking, or it failed)."""
        if not self.tracking_ok:
            return None
        try:
            return self.tracker.review_hint(self.name)
        except Exception:  # noqa: BLE001 - a hint is never worth a traceback
            return None

    # ----------------------------------------------------------------- helpers
    def _measure(self, lab: Lab, name: str, result: RoundResult | None,
                 experiments: pd.DataFrame | None = None) -> pd.DataFrame:
        if experiments is None:
            experiments = result.batch[["id", "round", *self._settings.space.names]]
        which = f"round {result.round}" if result is not None else "resumed proposals"
        try:
            measured = lab(experiments.copy().reset_index(drop=True))
        except Exception as err:
            raise LabError(f"lab {name} failed on {which}: "
                           f"{type(err).__name__}: {err}. The proposals are in the ledger "
                           "with status 'proposed'.") from err
        if not isinstance(measured, pd.DataFrame):
            raise LabError(f"lab {name} returned {type(measured).__name__}; expected a "
                           "DataFrame with 'id' and target columns.")
        return measured

    def _log_round(self, result: RoundResult) -> None:
        self.tracker.mark_decisions(self.name, result.decisions)
        figures: dict = {}
        if self.tracker.records_artifacts:
            from optim.plots import round_figures  # matplotlib: only when figures are drawn

            step("drawing the review figures")
            figures = round_figures(result, self._settings)
        step("logging the round for review")
        self.tracker.log_round(result, self.config, describe_round(result, self._settings),
                               figures)

    def _track(self, call: Callable[[], object]) -> bool:
        """Run a tracking call; the ledger is already written, so failures only warn."""
        try:
            call()
        except Exception as err:  # noqa: BLE001 - any tracking failure must not lose work
            warnings.warn(f"tracking skipped ({type(err).__name__}: {err}). The ledger is "
                          "up to date and nothing is lost; the next round that reaches the "
                          "store logs the missed rounds.", TrackingWarning, stacklevel=3)
            self.tracking_ok = False
            self.tracking_failures += 1
            return False
        self.tracking_ok = True
        return True

    @contextmanager
    def _session(self) -> Iterator[None]:
        """The campaign's torch threads for the call; the caller's afterwards."""
        before = torch.get_num_threads()
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)
