"""No batch holds two copies of one experiment, nor repeats a pending one.

Every strategy's batch passes through :func:`distinct`: a row that copies a pending row
(proposed, approved, a cell still cycling) or an earlier row of the batch is replaced by
the best alternative that copies nothing. Alternatives are the pool's candidates (a pool
campaign) or feasible points drawn from the space (holding the batch's shared values);
"best" is the highest ``score`` (the round's acquisition function with the rest of the
batch pending), ties and model-free batches broken by the largest distance to what is
taken. One rule, whatever produced the batch: a flat acquisition surface, an optimizer
that sends every start to one corner, or two centroids snapped to one grid point.

Two rows are copies when every unit-scaled coordinate (``SearchSpace.features``: each
numerical input over its range, categorical inputs one-hot) differs by at most ``tol``
(``COPY_TOL`` = 0.1 % of the range: below what a lab can weigh or set; exact equality
when the batch is picked from given candidates: a pool, whose rows are what exists, or
the sampled candidates of a surrogate without gradients).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from optim.exceptions import ProposalError

__all__ = ["COPY_TOL", "copies", "distinct"]

COPY_TOL = 1e-3
N_ALTERNATIVES = 512


def copies(features: np.ndarray, taken: np.ndarray, tol: float = COPY_TOL) -> np.ndarray:
    """For each row of ``features`` (``n x f``), whether it copies a row of ``taken``
    (``t x f``): Chebyshev distance ``<= tol``."""
    if len(taken) == 0 or len(features) == 0:
        return np.zeros(len(features), dtype=bool)
    gap = np.abs(features[:, None, :] - taken[None, :, :]).max(-1)
    return (gap <= tol + 1e-12).any(-1)


def distinct(space, X: Tensor, pending: Tensor | None, seed: int,
             score: Callable[[int, Tensor, Tensor], Tensor] | None = None,
             choices: Tensor | None = None, tol: float | None = None) -> tuple[Tensor, int]:
    """``X`` with every copy (of a pending row or an earlier row) replaced.

    Args:
        space: The search space (features, sampling, shared parameters).
        X: ``q x d`` encoded batch.
        pending: ``p x d`` encoded rows a batch must not repeat, or ``None``.
        seed: Seed for drawing alternatives.
        score: ``(k, options, others) -> values``: how good each of ``c x d``
            ``options`` is as row ``k`` with ``others`` (the rest of the batch)
            pending; higher is better. ``None``: the farthest option from what is
            taken.
        choices: ``c x d`` candidates to replace from (a pool), else drawn from the
            space.
        tol: Copy tolerance (default ``COPY_TOL``; ``0`` with ``choices``).

    Returns:
        The batch and how many rows were replaced.

    Raises:
        ProposalError: No alternative copies nothing (a pool or grid used up).
    """
    if tol is None:
        tol = 0.0 if choices is not None else COPY_TOL
    rows = list(X)
    taken = space.features(pending) if pending is not None and len(pending) else \
        np.zeros((0, space.features(X[:1]).shape[1]))
    replaced = 0
    for k in range(len(rows)):
        feat = space.features(rows[k].unsqueeze(0))
        if not copies(feat, taken, tol)[0]:
            taken = np.concatenate([taken, feat])
            continue
        options = _alternatives(space, rows, k, seed, choices)
        f_opt = space.features(options)
        keep = ~copies(f_opt, taken, tol)
        later = [r for j, r in enumerate(rows) if j > k]
        if later:  # nor a copy of a later row, which keeps its place
            keep &= ~copies(f_opt, space.features(torch.stack(later)), tol)
        options, f_opt = options[torch.as_tensor(keep)], f_opt[keep]
        if len(options) == 0:
            raise ProposalError(
                f"proposal {k + 1} copies a pending experiment or another proposal, and "
                f"no distinct feasible alternative was found among {len(keep)} "
                "candidates. Fix: widen the search space, add pool candidates, or "
                "reduce batch_size.")
        spread = np.abs(f_opt[:, None, :] - taken[None, :, :]).max(-1).min(-1) \
            if len(taken) else np.ones(len(f_opt))
        if score is None:
            best = int(np.argmax(spread))
        else:
            others = torch.stack([r for j, r in enumerate(rows) if j != k]) \
                if len(rows) > 1 else None
            values = torch.as_tensor(score(k, options, others)).detach().cpu().double()
            top = values.max()
            ties = (values >= top - 1e-9 * max(1.0, abs(float(top)))).numpy()
            best = int(np.flatnonzero(ties)[np.argmax(spread[ties])])
        rows[k] = options[best]
        taken = np.concatenate([taken, f_opt[best:best + 1]])
        replaced += 1
    return torch.stack(rows) if rows else X, replaced


def _alternatives(space, rows: list[Tensor], k: int, seed: int,
                  choices: Tensor | None) -> Tensor:
    """Candidates for row ``k``: the pool, or feasible points, holding the batch's
    shared values (the other rows keep them)."""
    shared = space.shared_dims
    if choices is not None:
        if not shared or len(rows) == 1:
            return choices
        same = (choices[:, shared] - rows[k][shared]).abs().amax(-1) <= 1e-9
        if same.any():
            return choices[same]
    held = {j: float(rows[k][j]) for j in shared} if len(rows) > 1 else None
    return space.sample(N_ALTERNATIVES, seed + 104729 * (k + 1), held=held or None,
                        dtype=rows[k].dtype, device=rows[k].device)
