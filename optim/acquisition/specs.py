"""Frozen acquisition and optimizer specs; the config's ``_target_`` points here.

Names follow botorch's (``q`` prefix for Monte-Carlo batch acquisition functions).
"""

from __future__ import annotations

from dataclasses import dataclass

from optim.exceptions import ConfigError

__all__ = [
    "AcquisitionSpec",
    "OptimizerSpec",
    "QuasiRandom",
    "qLogNParEGO",
    "qLogNoisyExpectedHypervolumeImprovement",
]


OPTIMIZER_METHODS = ("unit_cube", "polytope")


def _positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name}={value!r}; expected a positive whole number. Fix: e.g. "
                          f"{name}=64 for samples, 4 for restarts.", key=name,
                          value=value)


BEFORE_THRESHOLDS = ("probability", "acquisition")


def _before_thresholds(value: str) -> None:
    if value not in BEFORE_THRESHOLDS:
        raise ConfigError(f"before_thresholds={value!r}; expected one of "
                          f"{list(BEFORE_THRESHOLDS)}. Fix: probability (maximize the "
                          "probability of beating every threshold until a row does) or "
                          "acquisition.", key="before_thresholds", value=value)


@dataclass(frozen=True)
class qLogNoisyExpectedHypervolumeImprovement:  # noqa: N801 (botorch's name)
    """qLogNEHVI (Ament et al. 2023): the default multi-objective acquisition.

    Args:
        mc_samples: Quasi-Monte-Carlo samples of the posterior.
        prune_baseline: Drop baseline points unlikely to be on the Pareto front.
        before_thresholds: What a batch maximizes while no measured row beats every
            threshold and meets every constraint (the hypervolume improvement is flat
            there): ``probability`` (the probability that at least one experiment of
            the batch, or of those pending, does; :func:`optim.acquisition.builder.
            probability_of_beating`) or ``acquisition`` (this one regardless).
    """

    mc_samples: int = 64
    prune_baseline: bool = True
    before_thresholds: str = "probability"

    def __post_init__(self) -> None:
        _positive("mc_samples", self.mc_samples)
        _before_thresholds(self.before_thresholds)

    @property
    def name(self) -> str:
        """Short name for logs."""
        return "qLogNEHVI"


@dataclass(frozen=True)
class qLogNParEGO:  # noqa: N801 (botorch's name)
    """qLogNParEGO: each candidate maximizes qLogNEI of a random Chebyshev scalarization.

    Args:
        mc_samples: Quasi-Monte-Carlo samples of the posterior.
        before_thresholds: As for qLogNEHVI.
    """

    mc_samples: int = 64
    before_thresholds: str = "probability"

    def __post_init__(self) -> None:
        _positive("mc_samples", self.mc_samples)
        _before_thresholds(self.before_thresholds)

    @property
    def name(self) -> str:
        """Short name for logs."""
        return "qLogNParEGO"


@dataclass(frozen=True)
class QuasiRandom:
    """Baseline: space-filling feasible points, ignoring every model.

    Args:
        mc_samples: Unused; accepted so that overrides shared by every strategy
            (``debug=smoke``, benchmark sweeps) apply to this one too.
    """

    mc_samples: int | None = None

    @property
    def name(self) -> str:
        """Short name for logs."""
        return "quasi-random"


AcquisitionSpec = qLogNoisyExpectedHypervolumeImprovement | qLogNParEGO | QuasiRandom


@dataclass(frozen=True)
class OptimizerSpec:
    """Settings of ``botorch.optim.optimize_acqf``.

    Args:
        num_restarts: Starting points of the gradient-based optimizer.
        raw_samples: Feasible points scored to pick the starting points.
        maxiter: Iteration cap of each scipy run.
        sequential: Build the batch greedily, one candidate at a time (much faster
            than joint optimization of q candidates; README "Performance").
        method: ``unit_cube`` (default): L-BFGS-B over a unit cube mapped onto the
            feasible region, raw samples drawn once per round; ``polytope``: botorch's
            ``optimize_acqf`` under the linear constraints (SLSQP, botorch's polytope
            sampler for starting points), also used for joint (non-sequential) batches
            and for constraints that do not reduce to intervals.
        discrete_candidates: Feasible points sampled from the space when the surrogate
            has no gradient (forests): the batch is picked from them.
    """

    num_restarts: int = 8
    raw_samples: int = 512
    maxiter: int = 200
    sequential: bool = True
    discrete_candidates: int = 2048
    method: str = "unit_cube"

    def __post_init__(self) -> None:
        for field in ("num_restarts", "raw_samples", "maxiter", "discrete_candidates"):
            _positive(field, getattr(self, field))
        if self.method not in OPTIMIZER_METHODS:
            raise ConfigError(f"method={self.method!r}; expected one of "
                              f"{', '.join(OPTIMIZER_METHODS)}. Fix: e.g. "
                              "acq_optimizer.method=unit_cube.", key="method",
                              value=self.method)
