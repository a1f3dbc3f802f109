"""The typed, validated settings of a campaign: everything a round needs.

Built from a campaign config by ``optim.config`` (the one place that knows YAML key
names), or directly from Python. Validation messages name the fields of this class;
the config layer adds the file and key they came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from optim.acquisition import (
    AcquisitionSpec,
    OptimizerSpec,
    qLogNoisyExpectedHypervolumeImprovement,
)
from optim.checkpoints import CheckpointSpec
from optim.exceptions import ConfigError
from optim.feasibility import FeasibilitySpec
from optim.ledger import LedgerSchema
from optim.objectives import Objectives
from optim.pool import CandidatePool
from optim.search_space import SearchSpace
from optim.weighing import WeighingSpec
from surrogates import GPSurrogate, Surrogate

__all__ = ["CampaignSettings", "INITIAL_METHODS", "MAX_BATCH_SIZE"]

INITIAL_METHODS = ("space_filling", "random")
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}")
MAX_BATCH_SIZE = 1000  # a lab runs tens per round; more is a typo that would hang a round


@dataclass(frozen=True)
class CampaignSettings:
    """Everything a round needs, validated.

    Args:
        name: Campaign name (mlflow experiment, ledger folder).
        space: Inputs, bounds and constraints.
        objectives: Targets.
        ledger_path: The ledger CSV.
        batch_size: Experiments proposed per model-based round.
        n_initial: Size of the initial design.
        surrogate: Model builder for measured targets.
        acquisition: Acquisition spec.
        optimizer: Acquisition optimizer settings.
        seed: Base seed; each round derives its own from it and the round number.
        device: Torch device for models and optimization.
        id_prefix: Prefix of experiment ids.
        pool: For a pool campaign, the finite table of candidates; proposals come only
            from its rows not yet in the ledger.
        initial_method: ``space_filling`` (centroidal design) or ``random`` (uniform
            over the feasible space or the pool) for the initial design.
        accept_changes: Ids (or ``"all"``) whose recorded ledger values were changed on
            purpose since the tool last wrote the ledger (``optim.history``).
        weighing: For a composition campaign, how proposals are weighed (batch mass,
            balance, purities): the weighing sheet (``recipe=``) and grams recorded
            with results; ``None``: no sheet.
        feasibility: How failed rows (and rows breaking a constraint) train the
            classifier of where experiments succeed.
        checkpoints: How checkpointed targets (retention read as a cell cycles) are
            modelled (``optim.checkpoints``).

    Raises:
        ConfigError: A bad value; ``key`` is the field's name (``batch_size``).
    """

    name: str
    space: SearchSpace
    objectives: Objectives
    ledger_path: Path
    batch_size: int = 4
    n_initial: int = 8
    surrogate: Surrogate = field(default_factory=GPSurrogate)
    acquisition: AcquisitionSpec = field(
        default_factory=qLogNoisyExpectedHypervolumeImprovement)
    optimizer: OptimizerSpec = field(default_factory=OptimizerSpec)
    seed: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    id_prefix: str = "exp"
    pool: CandidatePool | None = None
    initial_method: str = "space_filling"
    accept_changes: tuple[str, ...] | str = ()
    weighing: WeighingSpec | None = None
    feasibility: FeasibilitySpec = field(default_factory=FeasibilitySpec)
    checkpoints: CheckpointSpec = field(default_factory=CheckpointSpec)

    def __post_init__(self) -> None:
        self._check_weighing()
        if self.initial_method not in INITIAL_METHODS:
            raise ConfigError(f"value={self.initial_method!r}; expected one of "
                              f"{list(INITIAL_METHODS)}. Fix: pick one of them.",
                              key="initial_method",
                              value=self.initial_method)
        for name in ("batch_size", "n_initial"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"value={value!r}; expected a positive whole number. "
                                  "Fix: the number of experiments, e.g. 4.", key=name,
                                  value=value)
            if value > MAX_BATCH_SIZE:
                raise ConfigError(f"value={value} experiments in one round; at most "
                                  f"{MAX_BATCH_SIZE}. Fix: a batch your lab can run.",
                                  key=name, value=value)
        if not NAME_PATTERN.fullmatch(str(self.name)):
            raise ConfigError(f"value={self.name!r} is not a campaign name. Fix: letters, "
                              "digits, '-', '_' or '.' (it names a folder under paths.runs).",
                              key="name", value=self.name)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"value={self.seed!r}; expected a whole number. Fix: e.g. "
                              "seed=3.", key="seed",
                              value=self.seed)

    def _check_weighing(self) -> None:
        if self.weighing is None:
            return
        if self.space.composition is None:
            raise ConfigError("a weighing spec needs a composition (precursors to weigh), "
                              "and this search space has none. Fix: delete the weighing "
                              "block, or add a composition.", key="weighing")
        try:
            self.weighing.check_precursors(self.space.composition_names)
        except ConfigError as err:
            raise ConfigError(err.message, key=f"weighing.{err.key}",
                              value=err.value) from err

    @property
    def schema(self) -> LedgerSchema:
        """The ledger's columns."""
        labels = (self.pool.ledger_label,) if self.pool is not None and self.pool.label else ()
        return LedgerSchema(self.space, self.objectives, self.id_prefix, labels,
                            self.weighing)

    @property
    def tkwargs(self) -> dict:
        """Tensor dtype (float64) and device."""
        return {"dtype": torch.float64, "device": self.device}
