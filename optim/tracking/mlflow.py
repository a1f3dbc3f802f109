"""mlflow tracker: experiment = campaign, one run per round, one child run per proposal.

Uses ``MlflowClient`` with explicit run ids (no global active run). Child runs carry the
tag ``ledger_id``; measured values recorded later are logged onto them, and reviewers'
``decision`` tags on them are read back into the ledger.

Decisions are events: a ``decision`` tag is applied once, then marked with
``decision_applied``, so a later hand edit of the ledger is not overridden by an old tag.
Only a tag whose value is a decision (approve/reject) is marked: a typo stays unapplied,
is reported again by the next round, and its correction is read.

The mirror follows the ledger both ways: a measured value cleared from the ledger (or a
changed one) is logged again, as NaN when cleared. mlflow has no API that deletes a
metric; its latest value is what the UI shows as current (the run's Overview lists no
NaN metric, the runs table shows ``NaN``), and the metric's history keeps what was
mirrored before.

Values are logged as a person reads them: inputs with 4 significant digits (as the
terminal prints them), config params as written in YAML, times and other computed
metrics with 4 significant digits, measured values exactly as recorded. Predictions are
in the terminal's representation: for log10-modelled targets the median and 68 %
interval (``pred_<t>_median``, ``_lo68``, ``_hi68``, 3 significant digits), otherwise
``pred_<t>_mean`` and ``_sd``.

Experiments get the tag ``mlflow.experimentKind = custom_model_development`` (mlflow's
"Model training" kind) and a saved view, ``optim-review``, that selects the review
columns of the runs table (best values, hypervolume, measured count, predictions,
measured values, status, decision); the printed links open it.

mlflow itself (about 1 s to import) is imported on the tracker's first use of the store,
not with this module: ``tracking=none``, and commands that never reach the store, skip it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import tempfile
import time
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import pandas as pd
from filelock import FileLock

from optim.checkpoints import waiting_table
from optim.exceptions import ConfigError, TrackingError
from optim.ledger import DECISIONS, Decision
from optim.metrics import loo_scores
from optim.objectives import Target
from optim.rounds import RoundResult
from optim.strategies import StrategyLabel
from optim.tracking.benchmarks import EXPERIMENT_KIND, KIND_TAG
from optim.ui import HOST, PORT, VIEW_TAG, runs_page
from optim.ui import command as ui_command

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

__all__ = ["EXPERIMENT_KIND", "KIND_TAG", "MlflowTracker", "flatten", "significant"]

_MAX_PARAM = 6000
_BATCH = 100
_VIEW_NAME = "optim review"
_COLUMNS_TAG = "optim.reviewColumns"  # the columns the tracker last saved in the view


def significant(value: float, digits: int = 4) -> float:
    """``value`` rounded to ``digits`` significant digits (as ``f"{value:.4g}"`` reads)."""
    return float(f"{value:.{digits}g}")


def _finite(value: object) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _as_written(value: object) -> str:
    """A config value as YAML writes it (``null``, ``true``, ``[0, null]``)."""
    if value is None or isinstance(value, (bool, list, tuple, dict)):
        return json.dumps(value, default=str)
    return str(value)


def flatten(config: dict, prefix: str = "") -> dict[str, str]:
    """Flatten nested config into ``a.b.c`` keys with string values, as written."""
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = _as_written(value)[:_MAX_PARAM]
    return out


def _round_metric(key: str, value: float) -> float:
    """Counts and best measured values as they are; times and other computed values with
    4 significant digits."""
    return float(value) if key.startswith(("n_", "best_")) else significant(value)


def _targets(config: dict, result: RoundResult) -> dict[str, Target]:
    """The campaign's targets by name, for the representation of their predictions: the
    fitted ones from the round, the others from the config's ``targets`` (only the
    transform matters there)."""
    out: dict[str, Target] = {}
    for name, spec in (config.get("targets") or {}).items():
        if isinstance(spec, dict):
            try:
                out[name] = Target(name, "maximize", 1.0, transform=spec.get("transform"))
            except ConfigError:
                continue
    out.update({t.name: t for t in result.model_targets})
    return out


def _predicted(columns: list[str]) -> list[str]:
    """Target names with predictions (``pred_<t>_mean`` columns), in column order."""
    return [c[len("pred_"):-len("_mean")] for c in columns
            if c.startswith("pred_") and c.endswith("_mean")]


def prediction_metrics(rec: dict, targets: dict[str, Target]) -> dict[str, float]:
    """A proposal's predictions as the terminal shows them: median and 68 % interval
    (``Target.interval``, 3 significant digits) for log10-modelled targets, mean and sd
    (4 significant digits) otherwise."""
    out: dict[str, float] = {}
    for name in _predicted(list(rec)):
        mean, sd = rec[f"pred_{name}_mean"], rec.get(f"pred_{name}_sd")
        if not _finite(mean):
            continue
        target = targets.get(name)
        if target is not None and target.transform == "log10" and _finite(sd):
            centre, lo, hi = (float(v) for v in target.interval(mean, sd))
            out.update({f"pred_{name}_median": significant(centre, 3),
                        f"pred_{name}_lo68": significant(lo, 3),
                        f"pred_{name}_hi68": significant(hi, 3)})
        else:
            out[f"pred_{name}_mean"] = significant(mean)
            if _finite(sd):
                out[f"pred_{name}_sd"] = significant(sd)
    for key in _probabilities(list(rec)):
        if _finite(rec[key]):
            out[key] = significant(rec[key], 3)
    return out


def _probabilities(columns: list[str]) -> list[str]:
    """Predicted probabilities of success, of meeting each constraint, and of both."""
    return [c for c in columns if c in ("pred_success", "pred_feasible")
            or (c.startswith("pred_") and c.endswith("_meets"))]


def review_columns(result: RoundResult, targets: dict[str, Target]) -> list[str]:
    """The runs-table columns a reviewer compares: per round the best measured values,
    the hypervolume and the measured count; per proposal the predictions, the measured
    values, the status and the decision."""
    metrics = [*(f"best_{t}" for t in result.targets), "hypervolume_measured",
               "n_measured"]
    for name in _predicted(list(result.batch.columns)):
        target = targets.get(name)
        if target is not None and target.transform == "log10":
            metrics += [f"pred_{name}_median", f"pred_{name}_lo68", f"pred_{name}_hi68"]
        else:
            metrics += [f"pred_{name}_mean"] + (
                [f"pred_{name}_sd"] if name in result.targets else [])
        if name in result.targets:
            metrics.append(f"measured_{name}")
    metrics += [c for c in _probabilities(list(result.batch.columns))
                if result.batch[c].notna().any()]
    return ([f"metrics.`{m}`" for m in metrics]
            + [f"tags.`{t}`" for t in ("status", "decision")])


def _view_state(columns: list[str]) -> dict:
    """The UI state of mlflow 3.17's saved view: selected columns, in order, wide enough
    for their names (``ExperimentPageUIState``: selectedColumns, columnOrder,
    columnWidths, keyed by column id ``metrics.`name```)."""
    return {"selectedColumns": columns, "columnOrder": columns,
            "columnWidths": {c: min(240, max(90, 24 + 7 * len(c.split("`")[1])))
                             for c in columns}}


def _git_sha() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


class MlflowTracker:
    """Logs rounds and measurements to an mlflow tracking store.

    Args:
        uri: Tracking URI (``sqlite:////abs/runs/mlflow.db`` or a server).
        artifact_root: Folder for artifacts of experiments this tracker creates.
        http_max_retries: Retries of a request to a tracking server (mlflow's default,
            7 with exponential backoff, waits minutes before giving up on a server that
            is down). Environment variables of the same mlflow names take precedence.
        http_timeout_s: Timeout of one request to a tracking server.
        experiment: The mlflow experiment's name; ``None``: the campaign's name. Jobs of
            one campaign with separate ledgers (a sweep, ``sweep=jobs``) each need
            their own: the store mirrors one ledger per experiment.
    """

    records_artifacts = True

    def __init__(self, uri: str, artifact_root: str | Path, http_max_retries: int = 2,
                 http_timeout_s: int = 10, experiment: str | None = None) -> None:
        self.uri = uri
        self.experiment = experiment or None
        self.artifact_root = Path(artifact_root)
        self.http_max_retries = http_max_retries
        self.http_timeout_s = http_timeout_s
        self._tags: dict[str, dict[str, str]] = {}  # experiment id -> its tags, as seen

    @cached_property
    def client(self) -> MlflowClient:
        """The client; created on first use (an sqlite store is created then).

        mlflow reads its HTTP retry settings from the environment only: they are set
        here, on first use, unless the user set them.
        """
        from mlflow.tracking import MlflowClient

        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(self.http_max_retries))
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(self.http_timeout_s))
        # a server's client prints a link per finished run (9 lines a round): the round
        # prints its own review link
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
        if urlparse(self.uri).scheme != "sqlite":
            return MlflowClient(tracking_uri=self.uri)
        db = Path(self.uri.removeprefix("sqlite:///"))
        fix = (f"Fix: move it aside (mv {db} {db}.broken); the next round creates a new "
               "store and logs the missed rounds from the ledger.")
        if db.is_file() and db.stat().st_size == 0:
            raise TrackingError(f"tracking store {db} is empty (0 bytes), a damaged store. "
                                f"{fix}")
        db.parent.mkdir(parents=True, exist_ok=True)
        # mlflow announces a new store's tables at INFO ("Creating initial MLflow
        # database tables..."): noise in the round's output, the store is ours to make
        logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
        try:  # create the store once, under a lock: two processes race in its migration
            with FileLock(f"{db}.lock", timeout=120):
                client = MlflowClient(tracking_uri=self.uri)
                client.search_experiments(max_results=1)
        except Exception as err:  # noqa: BLE001 - any damage to the store reads the same
            raise TrackingError(f"tracking store {db} cannot be used ({type(err).__name__}: "
                                f"{str(err).splitlines()[0][:200]}). {fix}") from err
        return client

    def _store_exists(self) -> bool:
        parsed = urlparse(self.uri)
        if parsed.scheme != "sqlite":
            return True
        return Path(self.uri.removeprefix("sqlite:///")).exists()

    def _experiment_id(self, campaign: str, create: bool = True) -> str | None:
        """The campaign's experiment (created when ``create``), tagged as mlflow's
        classic model-development kind: new ones, and existing ones when touched."""
        campaign = self.experiment or campaign
        exp = self.client.get_experiment_by_name(campaign)
        if exp is not None:
            if exp.tags.get(KIND_TAG) != EXPERIMENT_KIND:
                self.client.set_experiment_tag(exp.experiment_id, KIND_TAG, EXPERIMENT_KIND)
            self._tags[exp.experiment_id] = dict(exp.tags)
            return exp.experiment_id
        if not create:
            return None
        location = None  # a server stores artifacts where it serves them from
        if urlparse(self.uri).scheme not in ("http", "https"):
            folder = (self.artifact_root / campaign).resolve()
            folder.mkdir(parents=True, exist_ok=True)
            location = folder.as_uri()
        exp_id = self.client.create_experiment(campaign, artifact_location=location,
                                               tags={KIND_TAG: EXPERIMENT_KIND})
        self._tags[exp_id] = {KIND_TAG: EXPERIMENT_KIND}
        return exp_id

    def _save_view(self, exp_id: str, columns: list[str]) -> None:
        """Save the review view on the experiment: a saved view of mlflow 3.17 (tag
        ``mlflow.sharedViewState.<id>``, a JSON envelope with name, times and the state
        as JSON text), opened by ``?viewStateShareKey=<id>``.

        Written when missing or when the review columns change (a new target): a view a
        reviewer overrode in the UI is kept otherwise.
        """
        tags = self._tags.get(exp_id, {})
        wanted = json.dumps(columns)
        if VIEW_TAG in tags and tags.get(_COLUMNS_TAG) == wanted:
            return
        now = int(time.time() * 1000)
        value = json.dumps({"name": _VIEW_NAME, "createdAt": now, "updatedAt": now,
                            "state": json.dumps(_view_state(columns))})
        self.client.set_experiment_tag(exp_id, VIEW_TAG, value)
        self.client.set_experiment_tag(exp_id, _COLUMNS_TAG, wanted)
        self._tags.setdefault(exp_id, {}).update({VIEW_TAG: value, _COLUMNS_TAG: wanted})

    def _runs(self, exp_id: str, kind: str) -> list:
        return self.client.search_runs([exp_id], f"tags.kind = '{kind}'", max_results=50000)

    # ------------------------------------------------------------------ rounds
    def log_round(self, result: RoundResult, config: dict, description: str = "",
                  figures: dict | None = None) -> None:
        """Log the round as a parent run with a child run per proposal.

        Rounds of the ledger missing from the store (tracking was unreachable when they
        ran) are logged first, from the ledger, so the store catches up.

        Args:
            result: The planned round.
            config: The resolved config (params and ``config.yaml``).
            description: Markdown shown as the run's description.
            figures: Artifact path to matplotlib figure.
        """
        exp_id = self._experiment_id(result.campaign)
        targets = _targets(config, result)
        self._catch_up(exp_id, result, targets)
        self._log_round_run(exp_id, result, config, description, figures or {}, targets)
        self._save_view(exp_id, review_columns(result, targets))
        self.log_measurements(result.campaign, result.ledger, result.targets)

    def _log_round_run(self, exp_id: str, result: RoundResult, config: dict,
                       description: str, figures: dict, targets: dict[str, Target],
                       ) -> None:
        from mlflow.entities import Metric, Param

        start_ms = int((time.time() - result.metrics.get("round_s", 0.0)) * 1000)
        run = self.client.create_run(
            exp_id, run_name=f"round-{result.round:03d}", start_time=start_ms,
            tags={"kind": "round", "round": str(result.round),
                  "round_seed": str(result.seed), "strategy": str(result.strategy),
                  "git_sha": _git_sha(), "mlflow.note.content": description},
        )
        rid = run.info.run_id
        status = "FAILED"
        try:
            params = [Param(k, v) for k, v in flatten(config).items()]
            for i in range(0, len(params), _BATCH):
                self.client.log_batch(rid, params=params[i:i + _BATCH])
            metrics = {**result.metrics, **loo_scores(result.model_check)}
            self.client.log_batch(rid, metrics=[
                Metric(k, _round_metric(k, v), 0, result.round)
                for k, v in metrics.items() if v is not None and math.isfinite(v)])
            if config:
                self.client.log_dict(rid, config, "config.yaml")
            # the client's own call: mlflow.set_tracking_uri would set the process's
            # MLFLOW_TRACKING_URI, and the next campaign composed in this process (the
            # Python API) would then log into this store
            self.client.log_table(rid, result.batch, "batch.json")
            if result.waiting:  # cells still cycling: what they wait for, predicted final
                self.client.log_table(rid, waiting_table(result.waiting, result.stop),
                                      "cycling.json")
            with tempfile.TemporaryDirectory() as tmp:
                snap = Path(tmp) / "ledger.csv"
                result.ledger.to_csv(snap, index=False)
                self.client.log_artifact(rid, str(snap))
            for path, fig in figures.items():
                self.client.log_figure(rid, fig, path)
            self._log_children(exp_id, rid, result, targets)
            status = "FINISHED"
        finally:
            self.client.set_terminated(rid, status)

    def _log_children(self, exp_id: str, parent: str, result: RoundResult,
                      targets: dict[str, Target]) -> None:
        from mlflow.entities import Metric, Param

        for rec in result.batch.to_dict("records"):
            child = self.client.create_run(
                exp_id, run_name=rec["id"],
                tags={"mlflow.parentRunId": parent, "kind": "proposal",
                      "ledger_id": rec["id"], "round": str(result.round),
                      "status": rec["status"], "source": rec["source"]},
            )
            cid = child.info.run_id
            self.client.log_batch(
                cid,
                params=[Param(c, result.input_text(c, rec[c])) for c in result.inputs],
                metrics=[Metric(k, v, 0, result.round)
                         for k, v in prediction_metrics(rec, targets).items()],
            )
            self.client.set_terminated(cid, "FINISHED")

    def sync(self, result: RoundResult) -> int:
        """Bring the store in line with the ledger without planning a round: rounds it
        lacks are logged late, then the measurements and statuses.

        Args:
            result: The ledger as a round without a batch (``round`` -1).

        Returns:
            The number of rounds logged late.
        """
        exp_id = self._experiment_id(result.campaign)
        late = self._catch_up(exp_id, result, _targets({}, result))
        self.log_measurements(result.campaign, result.ledger, result.targets)
        return late

    def _catch_up(self, exp_id: str, result: RoundResult,
                  targets: dict[str, Target]) -> int:
        """Repair what an interrupted process left: runs still ``RUNNING`` are closed
        (``KILLED``), rounds of the ledger missing from the store are logged late, and
        proposals without a child run get one under their round's run.

        Returns:
            The number of rounds logged late.
        """
        rounds = self._runs(exp_id, "round")
        children = self._runs(exp_id, "proposal")
        for run in rounds + children:
            if run.info.status == "RUNNING":
                self.client.set_terminated(run.info.run_id, "KILLED")
        logged = {r.data.tags.get("round"): r.info.run_id for r in rounds}
        have = {r.data.tags.get("ledger_id") for r in children}
        ledger = result.ledger
        late_rounds = 0
        for rnd in sorted(set(ledger["round"]) - {0, result.round}):
            rows = ledger[ledger["round"] == rnd]
            late = RoundResult(
                result.campaign, int(rnd), StrategyLabel("unknown"),
                rows.reset_index(drop=True), ledger[ledger["round"] <= rnd],
                result.ledger_path, {"n_proposed": float(len(rows))},
                [], -1, result.inputs, result.targets, space=result.space)
            if str(rnd) not in logged:
                self._log_round_run(
                    exp_id, late, {},
                    f"**Round {rnd}** logged late from the ledger: tracking was unreachable "
                    "when it ran. Proposals are as recorded in the ledger; their child "
                    "runs show the predictions as the terminal did (median and 68 % "
                    "interval for log10-modelled targets, mean and sd otherwise).",
                    {}, targets)
                late_rounds += 1
            elif not set(rows["id"]) <= have:
                late.batch = late.batch[~late.batch["id"].isin(have)]
                self._log_children(exp_id, logged[str(rnd)], late, targets)
        return late_rounds

    # ------------------------------------------------------- measurements, decisions
    def log_measurements(self, campaign: str, ledger: pd.DataFrame,
                         targets: list[str]) -> int:
        """Bring the proposals' child runs in line with the ledger, both ways: measured
        values (``measured_<target>``, as recorded) and the ``status`` tag.

        A value cleared from the ledger (or one whose row left it) is logged as NaN, a
        changed one again: mlflow keeps a metric's history and shows its latest value
        (latest step), and cannot delete a metric. A row no longer in the ledger gets
        the status ``not in ledger``.

        Returns:
            The number of child runs updated.
        """
        if not self._store_exists():
            return 0
        exp_id = self._experiment_id(campaign, create=False)
        if exp_id is None:
            return 0
        from mlflow.entities import Metric, RunTag

        rows = {rec["id"]: rec for rec in ledger.to_dict("records")}
        now = int(time.time() * 1000)
        updated = 0
        for run in self._runs(exp_id, "proposal"):
            rec = rows.get(run.data.tags.get("ledger_id"))
            metrics = []
            for t in targets:
                key = f"measured_{t}".replace("@", "_at_")  # mlflow: no @ in names
                value = float(rec[t]) if rec is not None and _finite(rec.get(t)) else None
                shown = run.data.metrics.get(key)
                shown = shown if _finite(shown) else None
                if value != shown:
                    step = len(self.client.get_metric_history(run.info.run_id, key))
                    metrics.append(Metric(key, math.nan if value is None else value, now,
                                          step))
            status = rec["status"] if rec is not None else "not in ledger"
            tags = [RunTag("status", status)] if run.data.tags.get("status") != status else []
            if metrics or tags:
                self.client.log_batch(run.info.run_id, metrics=metrics, tags=tags)
                updated += 1
        return updated

    def decisions(self, campaign: str) -> dict[str, Decision]:
        """Reviewers' ``decision`` tags not yet applied, by ledger id, with who set them
        when: the ``decision_by``/``decision_at`` tags a signing server
        (``python -m optim.server --auth``) writes; empty on a store without sign-in."""
        if not self._store_exists():
            return {}
        exp_id = self._experiment_id(campaign, create=False)
        if exp_id is None:
            return {}
        # a local store has no sign-in: anyone with the UI could type a signature
        signed = urlparse(self.uri).scheme in ("http", "https")
        out = {}
        for run in self._runs(exp_id, "proposal"):
            tags = run.data.tags
            if "decision" in tags and tags.get("decision_applied") != tags["decision"]:
                out[tags["ledger_id"]] = Decision(
                    tags["decision"], tags.get("decision_by", "") if signed else "",
                    tags.get("decision_at", "") if signed else "")
        return out

    def mark_decisions(self, campaign: str, decisions: dict[str, str]) -> None:
        """Record decisions as applied (setting ``decision`` too, for CLI decisions).

        Only values that are decisions (approve/reject): a typo is never marked applied,
        so the next round reports it again and reads its correction.
        """
        decisions = {ident: value for ident, value in decisions.items()
                     if str(value).strip().lower() in DECISIONS}
        exp_id = self._experiment_id(campaign, create=False) if self._store_exists() else None
        if exp_id is None or not decisions:
            return
        from mlflow.entities import RunTag

        for run in self._runs(exp_id, "proposal"):
            ident = run.data.tags.get("ledger_id")
            if ident in decisions:
                # ``decision`` only when it differs (a command's decision): rewriting a
                # reviewer's tag would make a signing server sign it as this account
                tags = [RunTag("decision_applied", decisions[ident])]
                if run.data.tags.get("decision") != decisions[ident]:
                    tags.insert(0, RunTag("decision", decisions[ident]))
                self.client.log_batch(run.info.run_id, tags=tags)

    def log_recipe(self, campaign: str, round_number: int, paths: Sequence[Path],
                   ) -> str | None:
        """Attach weighing-sheet files to the round's run (artifacts ``recipes/``).

        Returns:
            The run's name (``round-003``), or ``None`` when the store has no run of
            that round (it was planned with tracking off).
        """
        exp_id = self._experiment_id(campaign, create=False) if self._store_exists() else None
        if exp_id is None:
            return None
        runs = self.client.search_runs(
            [exp_id], f"tags.kind = 'round' and tags.round = '{int(round_number)}'",
            max_results=1)
        if not runs:
            return None
        for path in paths:
            self.client.log_artifact(runs[0].info.run_id, str(path), "recipes")
        return runs[0].info.run_name

    def review_hint(self, campaign: str) -> str | None:
        """The command that opens the UI on this store, and the campaign's page in it:
        the runs table in mlflow's classic layout, with the review view's columns.

        A tracking server is its own UI: the hint is the campaign's page there.
        """
        exp_id = self._experiment_id(campaign, create=False) if self._store_exists() else None
        page = runs_page(exp_id, self._tags.get(exp_id)) if exp_id else ""
        if urlparse(self.uri).scheme in ("http", "https"):
            return f"open {self.uri.rstrip('/')}/{page}"
        return f"{ui_command(self.uri)}   then open http://{HOST}:{PORT}/{page}"
