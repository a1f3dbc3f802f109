"""Learned feasibility: which ledger rows count as failures, and the classifier spec.

A row that failed (status ``failed``: a synthesis that lost AlCl3, a cell that shorted)
teaches the campaign where experiments fail; with ``learn_from: [failed, constraints]``
so does a measured row whose values break an outcome constraint. The classifier
(``surrogates.DirichletGPClassifier``) gives the probability of success at ``x``, which
weights the acquisition (``optim.acquisition.FeasibilityWeighted``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optim.exceptions import ConfigError
from optim.objectives import Objectives

__all__ = ["FEASIBILITY_MODELS", "FeasibilitySpec", "success_labels"]

FEASIBILITY_MODELS = ("gp", "none")
LEARN_FROM = ("failed", "constraints")


@dataclass(frozen=True)
class FeasibilitySpec:
    """How the campaign learns where experiments fail.

    Args:
        model: ``gp`` (Dirichlet GP classifier) or ``none`` (failed rows are recorded
            and left out of the fits, nothing more).
        learn_from: ``failed`` rows (always failures), and ``constraints``: measured
            rows breaking an outcome constraint count as failures too.
    """

    model: str = "gp"
    learn_from: tuple[str, ...] = ("failed",)

    def __post_init__(self) -> None:
        if self.model not in FEASIBILITY_MODELS:
            raise ConfigError(f"value={self.model!r}; expected one of "
                              f"{list(FEASIBILITY_MODELS)}. Fix: feasibility.model=gp, or "
                              "none to switch the classifier off.", key="model",
                              value=self.model)
        learn = self.learn_from
        if isinstance(learn, str) or not all(isinstance(v, str) for v in learn) \
                or not learn or set(learn) - set(LEARN_FROM):
            raise ConfigError(f"value={learn!r}; expected a list of {list(LEARN_FROM)}. "
                              "Fix: e.g. learn_from: [failed, constraints].",
                              key="learn_from", value=learn)
        object.__setattr__(self, "learn_from", tuple(learn))

    @property
    def enabled(self) -> bool:
        """A classifier is fitted (when the data hold both outcomes)."""
        return self.model != "none"


def success_labels(frame: pd.DataFrame, objectives: Objectives,
                   spec: FeasibilitySpec) -> pd.Series:
    """1 (succeeded) or 0 (failed) for the ledger's measured and failed rows.

    Args:
        frame: The ledger.
        objectives: The targets (their constraints).
        spec: What counts as a failure (known targets' constraints are exact
            constraints of the space, so they never label a row).
    """
    done = frame[frame["status"].isin(["measured", "failed"])]
    ok = (done["status"] == "measured").to_numpy().copy()
    if "constraints" in spec.learn_from:
        for t in objectives.constrained:
            if t.is_known:
                continue
            values = done[t.name].to_numpy(dtype=float)
            measured = ~np.isnan(values)
            ok &= ~measured | np.asarray(t.meets(values))
    return pd.Series(ok.astype(float), index=done.index)
