"""A campaign's three commands, each one ledger transaction: plan, record, decide.

A round is a pure function of (settings, ledger, seed): the same inputs give the same
proposals on the same hardware. It seeds torch inside a forked generator, so calling it
leaves the caller's random state as it was. Tracking happens after the ledger is
written (``optim.campaign``), so a tracking failure never loses a proposal.
"""

from __future__ import annotations

import getpass
import math
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd
import torch
from botorch.models.model import Model

from optim.checkpoints import Waiting, predicted_curves, to_stop, waiting
from optim.fitting import predict
from optim.ledger import DECISIONS, Decision, Ledger, now
from optim.metrics import LooCheck, best_measured, loo_checks, measured_hypervolume
from optim.objectives import Target
from optim.search_space import SearchSpace
from optim.settings import CampaignSettings
from optim.strategies import Proposal, StrategyLabel, choose, round_context
from optim.timing import Spent, phases

__all__ = ["RoundResult", "decide", "plan_round", "record_results", "round_seed"]


@dataclass
class RoundResult:
    """What a round did, for the terminal, the review plots and the tracker.

    Args:
        campaign: The campaign's name.
        round: The round's number.
        strategy: How the batch was proposed (``str()`` gives it in words).
        batch: The proposed rows as written to the ledger.
        ledger: The whole ledger after the round.
        ledger_path: Its file.
        metrics: Timings (``fit_s``, ``propose_s``, ``round_s`` wall seconds;
            ``cpu_<phase>_s`` process-CPU seconds of each phase: fit, acquisition,
            initial_conditions, optimize, evaluate), counts, the measured hypervolume,
            best values, the expected improvement.
        notes: Remarks for the reviewer.
        seed: The round's seed.
        inputs: Input columns.
        targets: Measured-target columns.
        model: The fitted models (model-based rounds).
        model_targets: The modelled targets, in model-output order.
        decisions: Reviewers' decisions from the tracking UI that this round read and
            understood (id to value), to be marked as applied there.
        read: What the round read from the ledger, in words (``Ledger.summary``).
        space: The search space (how inputs read).
        feasibility: The classifier of success the batch was weighted by, or ``None``.
        waiting: Cells still waiting for a checkpoint, with the round's prediction of
            their final value (``optim.checkpoints.Waiting``).
        curves: For the retention-curve figure: per checkpointed target, the
            round's predicted mean and 90 % interval of each waiting cell at every
            checkpoint (``{target: {id: (checkpoints, mean, lo, hi)}}``).
        stop: Waiting cells the round recommends stopping: under
            ``checkpoints.stop_below`` probability of beating the threshold
            (``optim.checkpoints.to_stop``), and that probability.
    """

    campaign: str
    round: int
    strategy: StrategyLabel
    batch: pd.DataFrame
    ledger: pd.DataFrame
    ledger_path: Path
    metrics: dict[str, float]
    notes: list[str]
    seed: int
    inputs: list[str]
    targets: list[str]
    model: Model | None = None
    model_targets: list[Target] = field(default_factory=list)
    decisions: dict[str, str] = field(default_factory=dict)
    read: str = ""
    space: SearchSpace | None = None
    feasibility: Model | None = None
    waiting: list[Waiting] = field(default_factory=list)
    curves: dict = field(default_factory=dict)
    stop: list[Waiting] = field(default_factory=list)
    stop_below: float | None = None

    def input_text(self, name: str, value: object) -> str:
        """An input's value as people read it (a category by name, ``550`` for a
        whole-number grid, 4 significant digits otherwise)."""
        if self.space is not None:
            return self.space.format_value(name, value)
        return value if isinstance(value, str) else f"{float(value):.4g}"

    @cached_property
    def model_check(self) -> list[LooCheck]:
        """Leave-one-out checks of the fitted targets (computed on first use)."""
        return loo_checks(self.model, self.model_targets)


# decided_by of a decision tag that no server signed (a store without sign-in)
UNSIGNED = "mlflow UI (no sign-in)"


def round_seed(seed: int, round_number: int) -> int:
    """A distinct, reproducible seed per (base seed, round)."""
    return (seed * 1_000_003 + round_number) % (2**31 - 1)


def _decision_notes(ledger: Ledger, decisions: dict[str, str] | None,
                    ) -> tuple[list[str], dict[str, str]]:
    """Apply reviewers' decisions from the tracking UI.

    Returns:
        Notes (which id was approved and which rejected; what could not apply), and
        the decisions that were understood (a known id and a valid value), which the
        tracker may mark as applied: a typo stays unapplied, so it is reported again
        and its correction is read.
    """
    if not decisions:
        return [], {}
    changed, notes = ledger.apply_decisions(decisions, "mlflow tag 'decision':",
                                            strict=False, by=UNSIGNED)
    if changed:
        status = dict(zip(ledger.frame["id"], ledger.frame["status"], strict=True))
        notes.insert(0, "applied reviewers' decisions from mlflow to " + ", ".join(
            f"{ident} ({status[ident]})" for ident in changed))
    known = set(ledger.frame["id"])
    values = {ident: d.value if isinstance(d, Decision) else str(d)
              for ident, d in decisions.items()}
    understood = {ident: value for ident, value in values.items() if ident in known
                  and value.strip().lower() in DECISIONS}
    return notes, understood


def _batch(settings: CampaignSettings, ledger: Ledger, rnd: int,
           proposal: Proposal) -> pd.DataFrame:
    """The proposal as ledger rows: ids, round, status, inputs, predictions."""
    batch = settings.space.decode(proposal.X)
    if settings.pool is not None and settings.pool.label:  # found on the shelf by name
        batch[settings.pool.ledger_label] = settings.pool.labels_for(proposal.X,
                                                                     settings.space)
    for col, values in predict(proposal.fitted, proposal.X, settings.objectives).items():
        batch[col] = values
    batch.insert(0, "id", ledger.new_ids(len(batch)))
    batch.insert(1, "round", rnd)
    batch.insert(2, "status", "proposed")
    batch.insert(3, "source", proposal.source)
    batch["proposed_at"] = now()
    return settings.schema.coerce(batch)


def _metrics(settings: CampaignSettings, ledger: Ledger, proposal: Proposal,
             seconds: float, spent: dict[str, Spent]) -> dict[str, float]:
    q = len(proposal.X)
    metrics = {"fit_s": proposal.fit_s, "propose_s": seconds - proposal.fit_s}
    metrics.update({f"cpu_{name}_s": entry.cpu_s for name, entry in spent.items()})
    if proposal.strategy.model_based:
        acq = proposal.acq_value
        name = "p_beats_thresholds" if proposal.strategy.improves == "probability" \
            else "expected_improvement"
        metrics[name] = acq if acq is not None else math.nan
    metrics["n_measured"] = float((ledger.frame["status"] == "measured").sum())
    metrics["n_pending"] = float(len(ledger.pending) - q)
    metrics["n_proposed"] = float(q)
    metrics["hypervolume_measured"] = measured_hypervolume(ledger.frame, settings)
    metrics.update({f"best_{k}": v for k, v in
                    best_measured(ledger.frame, settings.objectives).items()})
    return metrics


def plan_round(settings: CampaignSettings,
               decisions: dict[str, str] | None = None) -> RoundResult:
    """Plan the next round and append it to the ledger (one transaction).

    The strategy (``optim.strategies.choose``): the initial design until it is complete,
    then model-based proposals with pending rows as ``X_pending``. Rejected proposals
    are no longer pending, but stay in the set proposals keep away from.

    Args:
        settings: The campaign.
        decisions: Reviewers' decisions from the tracking UI (id to approve/reject),
            applied to the ledger first; ones that cannot apply become notes.

    Raises:
        LedgerError: The ledger holds a bad cell (nothing is written).
        LedgerLockedError: Another round of this campaign is running.
        ProposalError: No feasible proposal could be made.
    """
    t_start = time.perf_counter()
    devices = [settings.device] if settings.device.type == "cuda" else []
    with Ledger.transaction(settings.ledger_path, settings.schema,
                            accept=settings.accept_changes) as ledger, \
            torch.random.fork_rng(devices=devices):
        notes, understood = _decision_notes(ledger, decisions)
        read = ledger.summary()  # after the decisions: the counts the round plans with
        rnd = ledger.next_round
        seed = round_seed(settings.seed, rnd)
        torch.manual_seed(seed)
        ctx = round_context(settings, ledger, seed)
        t_propose = time.perf_counter()
        with phases() as spent:
            proposal = choose(ctx).propose(ctx)
        seconds = time.perf_counter() - t_propose
        batch = _batch(settings, ledger, rnd, proposal)
        ledger.append(batch)
    metrics = _metrics(settings, ledger, proposal, seconds, spent)
    fitted = proposal.fitted
    waits, curves = _waiting(settings, ledger, fitted)
    metrics["n_cycling"] = float(len({w.id for w in waits}))
    stop = to_stop(waits, settings.checkpoints)
    if settings.objectives.checkpointed and settings.checkpoints.stop_below is not None \
            and settings.checkpoints.model == "fidelity":
        metrics["n_stop"] = float(len(stop))
    metrics["round_s"] = time.perf_counter() - t_start
    return RoundResult(settings.name, rnd, proposal.strategy, batch, ledger.frame.copy(),
                       settings.ledger_path, metrics, [*notes, *ctx.notes, *proposal.notes],
                       seed, settings.space.names, settings.schema.targets,
                       fitted.model if fitted else None, fitted.targets if fitted else [],
                       understood, read, settings.space,
                       fitted.feasibility if fitted else None, waits, curves, stop,
                       settings.checkpoints.stop_below)


def _waiting(settings: CampaignSettings, ledger: Ledger, fitted,
             ) -> tuple[list[Waiting], dict]:
    """Cells waiting for a checkpoint, their predicted final values and predicted
    curves (empty without checkpointed targets)."""
    if not settings.objectives.checkpointed:
        return [], {}
    tk = settings.tkwargs

    def model_for(t):
        if fitted is None or t not in fitted.targets:
            return None
        return fitted.model.models[fitted.targets.index(t)]

    def encode(rows):
        return settings.space.encode(rows, **tk)

    waits = waiting(ledger.frame, settings.objectives, model_for, encode)
    return waits, predicted_curves(ledger.frame, settings.objectives, model_for, encode)


def record_results(settings: CampaignSettings, results: Path | pd.DataFrame,
                   source: str | None = None, notes: list[str] | None = None,
                   ) -> tuple[list[str], pd.DataFrame]:
    """Merge a results file or table into the ledger by id (validated before any write).

    Args:
        settings: The campaign.
        results: A results CSV file, or a table (a lab's output).
        source: Name of a table's origin, for messages.
        notes: Gets what else the command did, in words: proposals a hand-filled cell
            promoted to measured, replicates, values recorded on failed rows.

    Returns:
        The ids that changed, and the updated ledger frame.
    """
    results = results if isinstance(results, pd.DataFrame) else Path(results)
    with Ledger.transaction(settings.ledger_path, settings.schema, must_exist=True,
                            accept=settings.accept_changes) as ledger:
        changed = ledger.merge_results(results, source)
    if notes is not None:
        frame = ledger.frame.set_index("id")
        if ledger.promoted:
            notes.append(f"a target cell filled in the ledger by hand moved "
                         f"{', '.join(ledger.promoted)} from proposed to measured")
        reps = [i for i in changed if frame.at[i, "replicate_of"]]
        if reps:
            notes.append(f"recorded as replicates (rows of their own, fitted like any "
                         f"measurement): {', '.join(reps)}")
        failed = [i for i in changed if frame.at[i, "status"] == "failed"]
        if failed:
            notes.append(f"{', '.join(failed)} recorded as failed: values on a failed row "
                         "are kept for the record, never fitted or counted as best")
    return changed, ledger.frame.copy()


def decide(settings: CampaignSettings, decisions: dict[str, str], by: str = "",
           ) -> tuple[list[str], pd.DataFrame]:
    """Approve or reject proposals by id (validated before any write).

    ``by`` is recorded as ``decided_by`` (default: the user running the command).

    Returns:
        The ids whose status changed, and the updated ledger frame.
    """
    with Ledger.transaction(settings.ledger_path, settings.schema, must_exist=True,
                            accept=settings.accept_changes) as ledger:
        changed, _ = ledger.apply_decisions(decisions, "command line", strict=True,
                                            by=by or getpass.getuser())
    return changed, ledger.frame.copy()
