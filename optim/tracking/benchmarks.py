"""Benchmark suites in mlflow: one parent run per suite, one child run per arm.

mlflow is imported when a suite is logged, not with this module.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["BenchmarkArm", "log_benchmark"]

_BATCH = 900  # metrics per log_batch call (mlflow's limit is 1000)


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
    exp_id = exp.experiment_id if exp else client.create_experiment(experiment)
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
