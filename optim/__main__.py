"""Hydra entry point: ``python -m optim campaign=<name> [record=results.csv]``.

The only module that touches Hydra's ``DictConfig``: it resolves the config into plain
containers, instantiates the specs, builds typed settings, and runs one step.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import hydra
import pandas as pd
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from optim.campaign import (
    CampaignSettings,
    RoundResult,
    decide,
    measured_hypervolume,
    plan_round,
    record_results,
)
from optim.exceptions import ConfigError, LabError, OptimError
from optim.ledger import Ledger, LedgerWarning
from optim.plots import round_figures
from optim.report import describe_round, format_batch, next_steps
from optim.settings import settings_from_config
from optim.tracking import MlflowTracker, NullTracker, Tracker


def _threads(value: object) -> None:
    if value == "auto":
        if (os.cpu_count() or 1) <= 4:
            torch.set_num_threads(1)
    elif value is not None:
        torch.set_num_threads(int(value))


def _instantiate(cfg: DictConfig, group: str) -> object:
    try:
        return hydra.utils.instantiate(cfg[group])
    except InstantiationException as err:
        cause = err.__cause__ or err
        raise ConfigError(f"config group {group!r} ({cfg[group].get('_target_')}): "
                          f"{cause}") from err


def _tracker(tracking: dict) -> Tracker:
    """The configured tracker (it connects, and creates a store, only when used)."""
    kind = tracking.get("kind")
    if kind == "mlflow":
        return MlflowTracker(tracking["uri"], tracking["artifact_root"],
                             tracking.get("http_max_retries", 2),
                             tracking.get("http_timeout_s", 10))
    if kind == "none":
        return NullTracker()
    raise ConfigError(f"config key tracking.kind: value={kind!r}; expected mlflow or none.")


def _run(cfg: DictConfig) -> None:
    source = f"configs/campaign/{HydraConfig.get().runtime.choices.get('campaign')}.yaml"
    try:
        plain = OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as err:
        raise ConfigError(f"config could not be resolved: {err}") from err
    _threads(plain.get("threads"))
    settings = settings_from_config(
        plain,
        surrogate=_instantiate(cfg, "surrogate"),
        acquisition=_instantiate(cfg, "acquisition"),
        optimizer=_instantiate(cfg, "acq_optimizer"),
        source=source,
    )
    tracker = _tracker(plain["tracking"])
    decisions = _decisions(plain.get("approve"), plain.get("reject"))
    if plain.get("record") and decisions:
        raise ConfigError("record= and approve=/reject= given together. Fix: run them as "
                          "two commands (one step at a time).")
    rounds = plain.get("rounds", 1)
    if not isinstance(rounds, int) or rounds < 1:
        raise ConfigError(f"config key rounds: value={rounds!r}; expected a whole number >= 1.")
    lab = _instantiate(cfg, "lab") if "_target_" in cfg.lab else None
    if rounds > 1 and lab is None:
        raise ConfigError(f"rounds={rounds} needs a lab that measures: lab=simulated, or your "
                          "own lab (lab._target_). With lab=manual, people measure, so each "
                          "command plans one round.")
    if plain.get("record"):
        _record(settings, tracker, Path(plain["record"]))
    elif decisions:
        _decide(settings, tracker, decisions)
    elif lab is not None:
        _closed_loop(settings, tracker, plain, lab, rounds)
    else:
        _plan(settings, tracker, plain)


def _record(settings: CampaignSettings, tracker: Tracker, path: Path) -> None:
    """Merge a results file into the ledger, then mirror it to tracking."""
    changed, ledger = record_results(settings, path)
    print(f"Recorded {len(changed)} experiment(s) into {settings.ledger_path}: "
          f"{', '.join(changed) or 'nothing new'}")
    _track(lambda: tracker.log_measurements(settings.name, ledger, settings.schema.targets))
    print(f"Plan the next round: python -m optim campaign={settings.name}"
          f"{_carried_overrides()}")


def _decide(settings: CampaignSettings, tracker: Tracker, decisions: dict[str, str]) -> None:
    """Record approve/reject decisions in the ledger, then mirror them to tracking."""
    changed = decide(settings, decisions)
    print(f"Decisions recorded in {settings.ledger_path}: " + ", ".join(
        f"{i} {'approved' if d == 'approve' else 'rejected'}" for i, d in decisions.items())
        + ("" if changed else " (no change)"))
    ledger = Ledger.load(settings.ledger_path, settings.schema).frame
    _track(lambda: (tracker.mark_decisions(settings.name, decisions),
                    tracker.log_measurements(settings.name, ledger, settings.schema.targets)))
    print(f"Plan the next round: python -m optim campaign={settings.name}"
          f"{_carried_overrides()}")


def _plan(settings: CampaignSettings, tracker: Tracker, plain: dict, quiet: bool = False,
          ) -> RoundResult:
    """Read reviewers' decisions, plan a round, show it, log it."""
    from_ui: dict[str, str] = {}
    _track(lambda: from_ui.update(tracker.decisions(settings.name)))
    result = plan_round(settings, from_ui)
    if not quiet:
        print(format_batch(result, settings))
    tracked = _track(lambda: (tracker.mark_decisions(settings.name, from_ui),
                              _log_round(tracker, result, settings, plain)))
    if not quiet:
        print(next_steps(settings, tracker.review_hint(settings.name) if tracked else None,
                         _carried_overrides()))
    return result


def _claim_benchmark_folder(settings: CampaignSettings) -> None:
    """A benchmark job starts from an empty ledger in a folder of its own.

    Creating a marker file exclusively makes two jobs that resolve to the same folder
    (a sweep over something other than strategy and seed) fail instead of sharing one
    ledger.
    """
    folder = settings.ledger_path.parent
    folder.mkdir(parents=True, exist_ok=True)
    try:
        (folder / ".benchmark-job").open("x").close()
    except FileExistsError:
        raise ConfigError(
            f"benchmark job folder {folder} is already used by another job. Fix: sweep "
            "only strategy and seed (add a configs/strategy/<name>.yaml for another "
            "arm), or start a new sweep.") from None


def _closed_loop(settings: CampaignSettings, tracker: Tracker, plain: dict,
                 lab: Callable[[pd.DataFrame], pd.DataFrame], rounds: int) -> None:
    """Propose, measure with the lab, record, repeat; one progress line per round."""
    name = plain["lab"].get("_target_")
    label = ""
    if plain.get("benchmark"):
        _claim_benchmark_folder(settings)
        strategy = HydraConfig.get().runtime.choices.get("strategy") or "default"
        label = f"[{strategy} seed {settings.seed}] "  # parallel jobs interleave lines
    if name == "optim.labs.simulated_lab":
        print("Simulated lab: an illustrative ground truth (docs/SIMULATORS.md), not "
              "predictive chemistry.")
    for k in range(1, rounds + 1):
        result = _plan(settings, tracker, plain, quiet=True)
        experiments = result.batch[["id", "round", *settings.space.names]]
        try:
            measured = lab(experiments.copy())
        except Exception as err:
            raise LabError(f"lab {name} failed on round {result.round}: "
                           f"{type(err).__name__}: {err}. The proposals are in the ledger "
                           "with status 'proposed'.") from err
        if not isinstance(measured, pd.DataFrame):
            raise LabError(f"lab {name} returned {type(measured).__name__}; expected a "
                           "DataFrame with 'id' and target columns.")
        _, ledger = record_results(settings, measured, f"lab {name}, round {result.round}")
        _track(lambda ledger=ledger: tracker.log_measurements(settings.name, ledger,
                                                               settings.schema.targets))
        batch = ledger[ledger["round"] == result.round]
        ok = ledger[ledger["status"] == "measured"]  # values on failed rows do not count
        best = ", ".join(
            f"{t.name} {(ok[t.name].max() if t.sign > 0 else ok[t.name].min()):.4g}"
            for t in settings.objectives.measured if ok[t.name].notna().any())
        print(f"{label}[{k}/{rounds}] round {result.round}: {len(batch)} by "
              f"{result.strategy}; {(batch['status'] == 'failed').sum()} failed; measured "
              "hypervolume "
              f"{measured_hypervolume(ledger, settings):.4g}; best {best} "
              f"({result.metrics['round_s']:.1f} s)", flush=True)
    print(f"Ledger: {settings.ledger_path}")
    hint = tracker.review_hint(settings.name)
    if hint:
        print(f"Review in the mlflow UI: {hint}")


def _carried_overrides() -> str:
    """This command's overrides that the next command needs too (e.g. ``paths.runs``,
    ``seed``), as text to append to a printed command; step keys are left out."""
    step_keys = ("campaign", "record", "approve", "reject", "rounds", "lab")
    try:
        task = HydraConfig.get().overrides.task
    except ValueError:  # not inside a Hydra run (tests calling helpers directly)
        return ""
    kept = [o for o in task if o.split("=", 1)[0].lstrip("+~") not in step_keys]
    return "".join(f" {shlex.quote(o)}" for o in kept)


def _decisions(approve: object, reject: object) -> dict[str, str]:
    """``approve=[id,...] reject=[id,...]`` (a single id may be given bare)."""
    def ids(value: object) -> list[str]:
        if value is None:
            return []
        return [str(v) for v in (value if isinstance(value, list) else [value])]
    both = set(ids(approve)) & set(ids(reject))
    if both:
        raise ConfigError(f"approve and reject both name {sorted(both)}. Fix: decide each "
                          "proposal once.")
    return {**dict.fromkeys(ids(approve), "approve"), **dict.fromkeys(ids(reject), "reject")}


def _log_round(tracker: Tracker, result: RoundResult, settings: CampaignSettings,
               plain: dict) -> None:
    """Log a round with its review plots, model-check scores and description."""
    figures: dict = {}
    if tracker.records_artifacts:
        figures, scores = round_figures(result, settings)
        result.metrics.update(scores)
    tracker.log_round(result, plain, describe_round(result, settings), figures)


def _track(call) -> bool:
    """Run a tracking call; the ledger is already written, so failures only warn."""
    try:
        call()
    except Exception as err:  # noqa: BLE001 - any tracking failure must not lose work
        print(f"warning: tracking skipped ({type(err).__name__}: {err}). The ledger is "
              "up to date and nothing is lost; the next round that reaches the store "
              "logs the missed rounds.", file=sys.stderr)
        return False
    return True


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Ledger warnings are for people: no source location."""
    if issubclass(category, LedgerWarning):
        print(f"warning: {message}", file=sys.stderr)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


@hydra.main(config_path="../configs", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Plan the next round, record results (``record=``), or decide (``approve=``/``reject=``)."""
    warnings.simplefilter("always", LedgerWarning)
    warnings.showwarning = _show_warning
    try:
        _run(cfg)
    except OptimError as err:
        print(f"error: {err}{_override_hint(str(err))}", file=sys.stderr)
        sys.exit(2)


def _override_hint(message: str) -> str:
    """Say so when the key a config error names was set on the command line."""
    match = re.search(r"key ([\w.\[\]]+)", message)
    if match is None:
        return ""
    key = match.group(1).rstrip(".:")
    for override in HydraConfig.get().overrides.task:
        name = override.split("=", 1)[0].lstrip("+~")
        if name.startswith(key) or key.startswith(name):
            return f"\n(The value comes from the command-line override {override!r}.)"
    return ""


if __name__ == "__main__":
    main()
