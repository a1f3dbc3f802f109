"""mlflow tracker: experiment = campaign, one run per round, one child run per proposal.

Uses ``MlflowClient`` with explicit run ids (no global active run). Child runs carry the
tag ``ledger_id``; measured values recorded later are logged onto them, and reviewers'
``decision`` tags on them are read back into the ledger.

Decisions are events: a ``decision`` tag is applied once, then marked with
``decision_applied``, so a later hand edit of the ledger is not overridden by an old tag.

mlflow itself (about 1 s to import) is imported on the tracker's first use of the store,
not with this module: ``tracking=none``, and commands that never reach the store, skip it.
"""

from __future__ import annotations

import math
import os
import subprocess
import tempfile
import time
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import pandas as pd
from filelock import FileLock

from optim.exceptions import TrackingError
from optim.metrics import loo_scores
from optim.rounds import RoundResult
from optim.strategies import StrategyLabel
from optim.ui import HOST, PORT
from optim.ui import command as ui_command

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

__all__ = ["MlflowTracker"]

_MAX_PARAM = 6000
_BATCH = 100


def flatten(config: dict, prefix: str = "") -> dict[str, str]:
    """Flatten nested config into ``a.b.c`` keys with string values."""
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = str(value)[:_MAX_PARAM]
    return out


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
    """

    records_artifacts = True

    def __init__(self, uri: str, artifact_root: str | Path, http_max_retries: int = 2,
                 http_timeout_s: int = 10) -> None:
        self.uri = uri
        self.artifact_root = Path(artifact_root)
        self.http_max_retries = http_max_retries
        self.http_timeout_s = http_timeout_s

    @cached_property
    def client(self) -> MlflowClient:
        """The client; created on first use (an sqlite store is created then).

        mlflow reads its HTTP retry settings from the environment only: they are set
        here, on first use, unless the user set them.
        """
        from mlflow.tracking import MlflowClient

        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(self.http_max_retries))
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(self.http_timeout_s))
        if urlparse(self.uri).scheme != "sqlite":
            return MlflowClient(tracking_uri=self.uri)
        db = Path(self.uri.removeprefix("sqlite:///"))
        fix = (f"Fix: move it aside (mv {db} {db}.broken); the next round creates a new "
               "store and logs the missed rounds from the ledger.")
        if db.is_file() and db.stat().st_size == 0:
            raise TrackingError(f"tracking store {db} is empty (0 bytes), a damaged store. "
                                f"{fix}")
        db.parent.mkdir(parents=True, exist_ok=True)
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
        exp = self.client.get_experiment_by_name(campaign)
        if exp is not None:
            return exp.experiment_id
        if not create:
            return None
        location = (self.artifact_root / campaign).resolve()
        location.mkdir(parents=True, exist_ok=True)
        return self.client.create_experiment(campaign, artifact_location=location.as_uri())

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
        self._catch_up(exp_id, result)
        self._log_round_run(exp_id, result, config, description, figures or {})
        self.log_measurements(result.campaign, result.ledger, result.targets)

    def _log_round_run(self, exp_id: str, result: RoundResult, config: dict,
                       description: str, figures: dict) -> None:
        import mlflow
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
                Metric(k, float(v), 0, result.round) for k, v in metrics.items()
                if v is not None and math.isfinite(v)])
            if config:
                self.client.log_dict(rid, config, "config.yaml")
            mlflow.set_tracking_uri(self.uri)
            mlflow.log_table(result.batch, "batch.json", run_id=rid)
            with tempfile.TemporaryDirectory() as tmp:
                snap = Path(tmp) / "ledger.csv"
                result.ledger.to_csv(snap, index=False)
                self.client.log_artifact(rid, str(snap))
            for path, fig in figures.items():
                self.client.log_figure(rid, fig, path)
            self._log_children(exp_id, rid, result)
            status = "FINISHED"
        finally:
            self.client.set_terminated(rid, status)

    def _log_children(self, exp_id: str, parent: str, result: RoundResult) -> None:
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
                params=[Param(c, repr(float(rec[c]))) for c in result.inputs],
                metrics=[Metric(c, float(rec[c]), 0, result.round) for c in rec
                         if c.startswith("pred_") and isinstance(rec[c], float)
                         and math.isfinite(rec[c])],
            )
            self.client.set_terminated(cid, "FINISHED")

    def _catch_up(self, exp_id: str, result: RoundResult) -> None:
        """Repair what an interrupted process left: runs still ``RUNNING`` are closed
        (``KILLED``), rounds of the ledger missing from the store are logged late, and
        proposals without a child run get one under their round's run."""
        rounds = self._runs(exp_id, "round")
        children = self._runs(exp_id, "proposal")
        for run in rounds + children:
            if run.info.status == "RUNNING":
                self.client.set_terminated(run.info.run_id, "KILLED")
        logged = {r.data.tags.get("round"): r.info.run_id for r in rounds}
        have = {r.data.tags.get("ledger_id") for r in children}
        ledger = result.ledger
        for rnd in sorted(set(ledger["round"]) - {0, result.round}):
            rows = ledger[ledger["round"] == rnd]
            late = RoundResult(
                result.campaign, int(rnd), StrategyLabel("unknown"),
                rows.reset_index(drop=True), ledger[ledger["round"] <= rnd],
                result.ledger_path, {"n_proposed": float(len(rows))},
                [], -1, result.inputs, result.targets)
            if str(rnd) not in logged:
                self._log_round_run(
                    exp_id, late, {},
                    f"**Round {rnd}** logged late from the ledger: tracking was unreachable "
                    "when it ran. Proposals and predictions are as recorded in the ledger.",
                    {})
            elif not set(rows["id"]) <= have:
                late.batch = late.batch[~late.batch["id"].isin(have)]
                self._log_children(exp_id, logged[str(rnd)], late)

    # ------------------------------------------------------- measurements, decisions
    def log_measurements(self, campaign: str, ledger: pd.DataFrame,
                         targets: list[str]) -> int:
        """Log measured values and statuses onto the proposals' child runs.

        Returns:
            The number of child runs updated.
        """
        if not self._store_exists():
            return 0
        exp_id = self._experiment_id(campaign, create=False)
        if exp_id is None:
            return 0
        from mlflow.entities import Metric, RunTag

        by_id = {r.data.tags.get("ledger_id"): r for r in self._runs(exp_id, "proposal")}
        updated = 0
        for rec in ledger.to_dict("records"):
            run = by_id.get(rec["id"])
            if run is None:
                continue
            metrics = [Metric(f"measured_{t}", float(rec[t]), 0, 0) for t in targets
                       if isinstance(rec[t], float) and math.isfinite(rec[t])
                       and run.data.metrics.get(f"measured_{t}") != float(rec[t])]
            tags = ([RunTag("status", rec["status"])]
                    if run.data.tags.get("status") != rec["status"] else [])
            if metrics or tags:
                self.client.log_batch(run.info.run_id, metrics=metrics, tags=tags)
                updated += 1
        return updated

    def decisions(self, campaign: str) -> dict[str, str]:
        """Reviewers' ``decision`` tags not yet applied, by ledger id."""
        if not self._store_exists():
            return {}
        exp_id = self._experiment_id(campaign, create=False)
        if exp_id is None:
            return {}
        out = {}
        for run in self._runs(exp_id, "proposal"):
            tags = run.data.tags
            if "decision" in tags and tags.get("decision_applied") != tags["decision"]:
                out[tags["ledger_id"]] = tags["decision"]
        return out

    def mark_decisions(self, campaign: str, decisions: dict[str, str]) -> None:
        """Record decisions as applied (setting ``decision`` too, for CLI decisions)."""
        exp_id = self._experiment_id(campaign, create=False) if self._store_exists() else None
        if exp_id is None or not decisions:
            return
        from mlflow.entities import RunTag

        for run in self._runs(exp_id, "proposal"):
            ident = run.data.tags.get("ledger_id")
            if ident in decisions:
                self.client.log_batch(run.info.run_id, tags=[
                    RunTag("decision", decisions[ident]),
                    RunTag("decision_applied", decisions[ident])])

    def review_hint(self, campaign: str) -> str | None:
        """The command that opens the UI on this store, and the campaign's page in it.

        A tracking server is its own UI: the hint is the campaign's page there.
        """
        exp_id = self._experiment_id(campaign, create=False) if self._store_exists() else None
        page = f"#/experiments/{exp_id}/runs" if exp_id else ""
        if urlparse(self.uri).scheme in ("http", "https"):
            return f"open {self.uri.rstrip('/')}/{page}"
        return f"{ui_command(self.uri)}   then open http://{HOST}:{PORT}/{page}"
