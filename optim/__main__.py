"""Hydra entry point: ``python -m optim campaign=<name> [record=results.csv]``
(or ``recipe=oxy-0012``, ``approve=``/``reject=``).

Hydra composes the config; :class:`optim.Campaign` builds and runs it (the same path as
``Campaign.from_config``). This module reads the step keys (``record``, ``approve``,
``reject``, ``recipe``, ``rounds``), prints for people, and turns errors into ``error: ...`` lines
with exit code 2.
"""

from __future__ import annotations

import shlex
import sys
import warnings
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from optim.campaign import Campaign, LoopRound
from optim.config import campaign_source
from optim.config.compose import CONFIG_DIR, register_resolvers
from optim.config.overrides import check_overrides
from optim.exceptions import ConfigError, OptimError, OptimWarning
from optim.progress import say, status
from optim.recipe import format_recipe
from optim.report import best_in_words, format_batch, loop_line, next_steps
from optim.tracking import NullTracker

STEP_KEYS = ("campaign", "record", "approve", "reject", "rounds", "experiments", "lab",
             "accept_changes", "recipe", "sync", "weeks", "round_every_days")


def _ids(value: object) -> list[str]:
    """``approve=[id,...]`` or a single bare id."""
    if value is None:
        return []
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def _run(cfg: DictConfig) -> None:
    runtime = HydraConfig.get().runtime
    name = str(runtime.choices.get("campaign"))
    source = campaign_source(name)
    for folder in runtime.config_sources:  # a --config-dir
        if folder.schema == "file" and Path(folder.path) != CONFIG_DIR:
            source = campaign_source(name, folder.path)
            break
    campaign = Campaign.from_composed(cfg, source)
    plain = campaign.config
    approve, reject = _ids(plain.get("approve")), _ids(plain.get("reject"))
    record = plain.get("record")
    if record and (approve or reject):
        raise ConfigError("record= and approve=/reject= given together. Fix: run them as "
                          "two commands (one step at a time).", key="record")
    recipe = plain.get("recipe")
    if recipe is not None and (record or approve or reject):
        raise ConfigError("recipe= and record=/approve=/reject= given together. Fix: run "
                          "them as two commands (one step at a time).", key="recipe")
    rounds, experiments = plain.get("rounds"), plain.get("experiments")
    for key, value in (("rounds", rounds), ("experiments", experiments)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise ConfigError(f"config key {key}: value={value!r}; expected a whole number "
                              f">= 1. Fix: e.g. {key}={5 if key == 'rounds' else 44}.",
                              key=key, value=value)
    if ((rounds or 1) > 1 or experiments is not None) and campaign.lab is None:
        key, value = (("rounds", rounds) if (rounds or 1) > 1
                      else ("experiments", experiments))
        raise ConfigError(f"{key}={value} needs a lab that measures: lab=simulated, or your "
                          "own lab (lab._target_). With lab=manual, people measure, so each "
                          "command plans one round. Fix: add lab=simulated (or your lab), or "
                          f"drop {key}=.", key=key, value=value)
    sync = plain.get("sync")
    if sync not in (None, False, True):
        raise ConfigError(f"config key sync: value={sync!r}; expected true or false. Fix: "
                          "sync=true.", key="sync", value=sync)
    if sync and (record or approve or reject or recipe is not None or (rounds or 1) > 1
                 or experiments is not None):
        raise ConfigError("sync=true and another step (record=, approve=/reject=, recipe=, "
                          "rounds=, experiments=) given together. Fix: run them as two "
                          "commands (one step at a time).", key="sync", value=True)
    weeks = plain.get("weeks")
    every = plain.get("round_every_days", 7)
    if weeks is not None:
        _check_calendar(campaign, weeks, every, bool(record or approve or reject or sync
                                                     or recipe is not None or rounds
                                                     or experiments))
    if rounds is None and experiments is None:
        rounds = 1
    if weeks is not None:
        _calendar(campaign, float(weeks), float(every))
    elif recipe is not None:
        _recipe(campaign, str(recipe))
    elif record:
        _record(campaign, Path(record))
    elif approve or reject:
        _decide(campaign, approve, reject)
    elif sync:
        _sync(campaign)
    elif campaign.lab is not None:
        _closed_loop(campaign, rounds, bool(plain.get("benchmark")), experiments)
    else:
        with status(f"campaign {campaign.name}: planning a round"):
            result = campaign.propose()
        print(format_batch(result, campaign.settings))
        print(next_steps(campaign.settings, campaign.review_hint(), _carried_overrides()))
        if isinstance(campaign.tracker, NullTracker):
            print("Tracking is off (tracking=none; debug=smoke turns it off too): this round "
                  "is not in mlflow, and decision tags set in the mlflow UI were not read.")


def _record(campaign: Campaign, path: Path) -> None:
    changed = campaign.record(path)
    print(f"Recorded {len(changed)} experiment(s) into {campaign.ledger_path}: "
          f"{', '.join(changed) or 'nothing new'}")
    for note in campaign.record_notes:
        print(f"note: {note}")
    print(f"Plan the next round: python -m optim campaign={campaign.name}"
          f"{_carried_overrides()}")


def _sync_command(campaign: Campaign) -> str:
    """The command that syncs this campaign's store with its ledger. A sweep job
    (``sweep=jobs``) names its ledger folder and experiment: a new command would
    otherwise get a folder of its own."""
    carried = _carried_overrides()
    tracking = campaign.config.get("tracking") or {}
    if " sweep=" in carried and tracking.get("experiment"):
        carried = "".join(f" {o}" for o in shlex.split(carried) if not o.startswith("sweep="))
        # Hydra-quoted values: a sweep job's folder and experiment hold '=' and ','
        carried += (" " + shlex.quote(f"paths.campaign_dir='{campaign.ledger_path.parent}'")
                    + " " + shlex.quote(f"tracking.experiment='{tracking['experiment']}'"))
    return f"python -m optim campaign={campaign.name}{carried} sync=true"


def _sync(campaign: Campaign) -> None:
    if isinstance(campaign.tracker, NullTracker):
        raise ConfigError("sync=true with tracking off (tracking=none) has nothing to "
                          "bring up to date. Fix: drop tracking=none (or debug=smoke).",
                          key="sync", value=True)
    late = campaign.sync()
    print(f"Tracking in line with {campaign.ledger_path}: {late} missed round(s) logged "
          "late" + ("" if late else " (none missing)") + "; measurements and statuses "
          "updated.")


def _recipe(campaign: Campaign, which: str) -> None:
    recipe = campaign.recipe(which)
    print(format_recipe(recipe))
    csv, page = recipe.paths
    print(f"\nWrote {csv} and {page} (print the page; fill in the weighed grams).")
    if recipe.attached:
        print(f"Attached to the mlflow run {recipe.attached} (artifacts recipes/).")
    elif isinstance(campaign.tracker, NullTracker):
        print("Tracking is off (tracking=none): the sheet is not attached in mlflow.")
    elif campaign.tracking_ok:
        print(f"Not attached in mlflow: round {recipe.round} has no run there (planned "
              "with tracking off, or added by hand).")
    names = campaign.settings.space.composition_names
    print(f"Record what was weighed: python -m optim campaign={campaign.name}"
          f"{_carried_overrides()} record=weighed.csv   (columns: id,"
          f"{','.join(f'{n}_g' for n in names)}; the ledger then keeps the mole "
          "fractions as weighed)")


def _decide(campaign: Campaign, approve: list[str], reject: list[str]) -> None:
    changed = campaign.decide(approve=approve, reject=reject)
    decided = [f"{i} approved" for i in approve] + [f"{i} rejected" for i in reject]
    print(f"Decisions recorded in {campaign.ledger_path}: {', '.join(decided)}"
          + ("" if changed else " (no change)"))
    print(f"Plan the next round: python -m optim campaign={campaign.name}"
          f"{_carried_overrides()}")


def _claim_benchmark_folder(campaign: Campaign) -> None:
    """A benchmark job starts from an empty ledger in a folder of its own.

    Creating a marker file exclusively makes two jobs that resolve to the same folder
    (a sweep over something other than strategy and seed) fail instead of sharing one
    ledger.
    """
    folder = campaign.ledger_path.parent
    folder.mkdir(parents=True, exist_ok=True)
    try:
        (folder / ".benchmark-job").open("x").close()
    except FileExistsError:
        raise ConfigError(
            f"benchmark job folder {folder} is already used by another job. Fix: sweep "
            "only strategy and seed (add a configs/strategy/<name>.yaml for another "
            "arm), or start a new sweep.") from None


def _check_calendar(campaign: Campaign, weeks: object, every: object, other: bool) -> None:
    """``weeks=`` needs a lab with a clock, positive numbers and no other step."""
    for key, value in (("weeks", weeks), ("round_every_days", every)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ConfigError(f"config key {key}: value={value!r}; expected a number > 0. "
                              f"Fix: e.g. {key}={26 if key == 'weeks' else 7}.", key=key,
                              value=value)
    if campaign.lab is None or not hasattr(campaign.lab, "start"):
        raise ConfigError(f"weeks={weeks} runs the loop on a calendar and needs a lab with "
                          "a clock (one whose results arrive over time): lab=cycling "
                          "(campaign=interlayer). Fix: add lab=cycling, or use rounds= with "
                          "lab=simulated.", key="weeks", value=weeks)
    if other:
        raise ConfigError("weeks= and another step (record=, approve=/reject=, recipe=, "
                          "sync=, rounds=, experiments=) given together. Fix: run them as "
                          "two commands.", key="weeks", value=weeks)


def _calendar(campaign: Campaign, weeks: float, every: float) -> None:
    """The closed loop on a calendar; one line per due date."""
    from optim.calendar import run_calendar

    print("Simulated lab with a clock: an illustrative ground truth (docs/SIMULATORS.md), "
          "not predictive chemistry.")

    def progress(date) -> None:
        planned = (f"round {date.result.round}: {len(date.started)} started"
                   if date.result is not None else "no free channel")
        ended = (f"; {len(date.stopped)} stopped early ({', '.join(date.stopped)}: unlikely "
                 "to beat the threshold, checkpoints.stop_below)" if date.stopped else "")
        say(f"day {date.day:g} (week {date.day / 7:.1f}): {len(date.recorded)} cell(s) "
            f"reported; {planned}{ended}; {date.cycling} on channels")

    with status(f"campaign {campaign.name}, {weeks:g} simulated weeks"):
        dates = run_calendar(campaign, campaign.lab, weeks, every, on_round=progress)
    last = next((d.result for d in reversed(dates) if d.result is not None), None)
    if last is not None and last.waiting:
        from optim.report import waiting_lines

        print(f"As of the last round ({last.round}):")
        print("\n".join(waiting_lines(last)))
    ledger = campaign.ledger
    started = sum(len(d.started) for d in dates)
    ended = sum(len(d.stopped) for d in dates)
    print(f"Summary after {weeks:g} weeks: {started} cell(s) started, "
          f"{ended} stopped early (checkpoints.stop_below), "
          f"{int((ledger['status'] == 'failed').sum())} failed; "
          f"{best_in_words(ledger, campaign.settings)}.")
    print(f"Ledger: {campaign.ledger_path}")
    hint = campaign.review_hint()
    if hint:
        print(f"Review in the mlflow UI: {hint}")


def _closed_loop(campaign: Campaign, rounds: int | None, benchmark: bool,
                 experiments: int | None = None) -> None:
    """Propose, measure with the lab, record, repeat; one progress line per round
    (``rounds`` rounds, or until the ledger holds ``experiments``)."""
    label = ""
    if benchmark:
        _claim_benchmark_folder(campaign)
        strategy = HydraConfig.get().runtime.choices.get("strategy") or "default"
        label = f"[{strategy} seed {campaign.settings.seed}] "  # parallel jobs interleave
    if campaign.lab_name == "optim.labs.simulated_lab":
        print("Simulated lab: an illustrative ground truth (docs/SIMULATORS.md), not "
              "predictive chemistry.")

    def progress(step: LoopRound) -> None:
        say(loop_line(step, label))

    budget = ", ".join(([f"{rounds} round(s)"] if rounds is not None else [])
                       + ([f"up to {experiments} experiments"] if experiments else []))
    with status(f"{label}campaign {campaign.name}, {budget}",
                enabled=None if not benchmark else False):  # parallel jobs: no live line
        campaign.run(rounds=rounds, on_round=progress, experiments=experiments)
    if campaign.stopped:
        print(f"{label}The loop {campaign.stopped}")
    ledger = campaign.ledger
    done = int(ledger["status"].isin(["measured", "failed"]).sum())
    print(f"{label}Summary: the ledger holds {done} experiment(s) run "
          f"({int((ledger['status'] == 'failed').sum())} failed); "
          f"{best_in_words(ledger, campaign.settings)}.")
    if campaign.tracking_failures:
        print(f"{label}Tracking was unreachable {campaign.tracking_failures} time(s) during "
              "the loop: every round is in the ledger; the next round logs the missed "
              f"ones, or now: {_sync_command(campaign)}")
    if campaign.resumed:
        print(f"Resumed {len(campaign.resumed)} proposal(s) an earlier run left unmeasured "
              f"({campaign.resumed[0]} ...): measured and recorded first.")
    print(f"Ledger: {campaign.ledger_path}")
    hint = campaign.review_hint()
    if hint:
        print(f"Review in the mlflow UI: {hint}")


def _carried_overrides() -> str:
    """This command's overrides that the next command needs too (e.g. ``paths.runs``,
    ``seed``), as text to append to a printed command; step keys are left out."""
    try:
        task = HydraConfig.get().overrides.task
    except ValueError:  # not inside a Hydra run (tests calling helpers directly)
        return ""
    kept = [o for o in task if o.split("=", 1)[0].lstrip("+~") not in STEP_KEYS]
    folders = [s.path for s in HydraConfig.get().runtime.config_sources
               if "command-line" in s.provider]  # --config-dir, as an override
    if folders and not any(o.startswith("hydra.searchpath=") for o in kept):
        kept.append(f"hydra.searchpath=[file://{folders[0]}]")
    return "".join(f" {shlex.quote(o)}" for o in kept)


def _override_hint(err: OptimError) -> str:
    """Say so when the config key an error names was set on the command line."""
    key = getattr(err, "key", None)
    if not key:
        return ""
    for override in HydraConfig.get().overrides.task:
        name = override.split("=", 1)[0].lstrip("+~")
        if name.startswith(key) or key.startswith(name):
            return f"\n(The value comes from the command-line override {override!r}.)"
    return ""


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """The application's warnings are for people: no source location."""
    if issubclass(category, OptimWarning):
        print(f"warning: {message}", file=sys.stderr)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


register_resolvers()  # the config's ${optim.cwd:} must resolve when Hydra composes it


@hydra.main(config_path=str(CONFIG_DIR), config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Plan the next round, record results (``record=``), or decide (``approve=``/``reject=``)."""
    warnings.simplefilter("always", OptimWarning)
    warnings.showwarning = _show_warning
    try:
        _run(cfg)
    except OptimError as err:
        print(f"error: {err}{_override_hint(err)}", file=sys.stderr)
        sys.exit(2)


def _check_command_line(argv: list[str]) -> None:
    """Refuse a misspelled key or an unknown campaign/option before Hydra composes
    (Hydra would report ``campain=`` as a missing campaign, and an unknown option with
    its search-path dump).

    Raises:
        ConfigError: The override, the closest name and the fix.
    """
    from hydra._internal.utils import get_args_parser  # Hydra's own command-line parser

    try:
        args, _ = get_args_parser().parse_known_args(argv)
    except SystemExit:  # Hydra reports a malformed command line itself
        return
    if (args.help or args.hydra_help or args.info or args.shell_completion
            or args.config_path or args.config_name):
        return
    if args.config_dir is not None and not Path(args.config_dir).expanduser().is_dir():
        raise ConfigError(f"--config-dir {args.config_dir}: not a folder. Fix: give the "
                          "folder that holds your campaign/<name>.yaml (and lab/, ...).",
                          key="config_dir", value=args.config_dir)
    check_overrides(args.overrides, CONFIG_DIR, args.config_dir)


def run() -> None:
    """``python -m optim``: refuse a misspelled override, an unknown campaign, and a
    ``paths.runs`` that is a file (before Hydra tries to create its run folder inside
    it), then run :func:`main`."""
    try:
        _check_command_line(sys.argv[1:])
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    for arg in sys.argv[1:]:
        name, _, value = arg.partition("=")
        if name.lstrip("+") == "paths.runs" and Path(value).expanduser().is_file():
            print(f"error: paths.runs={value} is a file. Fix: paths.runs must be a folder "
                  "(it holds the campaigns' ledgers).", file=sys.stderr)
            sys.exit(2)
    main()


if __name__ == "__main__":
    run()
