"""Benchmark suites in mlflow: one parent run per suite, one child run per arm; the
experiment is tagged as mlflow's classic model-development kind.

mlflow is imported when a suite is logged, not with this module.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["BenchmarkArm", "log_benchmark"]

_BATCH = 900  # metrics per log_batch call (mlflow's limit is 1000)
# mlflow's experiment kind for classic model development, the UI's "Machine learning" /
# "Model training" (mlflow/server/js/build/static/js/main.*.js: the enum with
# CUSTOM_MODEL_DEVELOPMENT="custom_model_development"; no tag reads as GenAI). Every
# experiment optim logs to gets it. mlflow 3.17.2's UI takes its layout from the URL's
# ``workflowType`` (``optim.ui.runs_page``) and the browser's last choice instead.
KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"


@dataclass(frozen=True)
class BenchmarkArm:
    """One arm (strategy, dataset) of a benchmark suite.

    Args:
        name: The child run's name.
        params: Parameters (strings).
        metrics: ``(key, value, step)`` triples; step is the experiment count.
    """

    name: str
    params: dict[str, str] = field(default_factory=dict)
    metrics: Sequence[tuple[str, float, int]] = ()


def log_benchmark(uri: str, experiment: str, run_name: str, params: dict[str, str],
                  metrics: dict[str, float], artifacts: Sequence[Path],
                  arms: Sequence[BenchmarkArm]) -> str:
    """Log a suite: parameters, summary metrics and files on a parent run; each arm's
    curves on a child run. Returns the parent run's id."""
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        exp_id = client.create_experiment(experiment, tags={KIND_TAG: EXPERIMENT_KIND})
    else:
        exp_id = exp.experiment_id
        if exp.tags.get(KIND_TAG) != EXPERIMENT_KIND:
            client.set_experiment_tag(exp_id, KIND_TAG, EXPERIMENT_KIND)
    parent = client.create_run(exp_id, run_name=run_name, tags={"kind": "benchmark"})
    pid = parent.info.run_id
    now = int(time.time() * 1000)
    client.log_batch(pid, params=[Param(k, str(v)) for k, v in params.items()],
                     metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()])
    for path in artifacts:
        client.log_artifact(pid, str(path))
    for arm in arms:
        child = client.create_run(exp_id, run_name=arm.name,
                                  tags={MLFLOW_PARENT_RUN_ID: pid, "kind": "benchmark-arm"})
        cid = child.info.run_id
        if arm.params:
            client.log_batch(cid, params=[Param(k, str(v)) for k, v in arm.params.items()])
        points = [Metric(k, float(v), now, int(step)) for k, v, step in arm.metrics]
        for i in range(0, len(points), _BATCH):
            client.log_batch(cid, metrics=points[i:i + _BATCH])
        client.set_terminated(cid)
    client.set_terminated(pid)
    return pid
