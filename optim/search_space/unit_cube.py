"""The feasible polytope as the image of a unit cube, for box-bounded optimizers.

The mixture sum (an equality) and linear inequality constraints make botorch optimize
with SLSQP, which optimizes the restarts jointly and is slow. This map removes both:

1. the equality is solved for one fraction (the last precursor), ``x_p = (t - c.x)/c_p``;
2. Fourier-Motzkin elimination, from the last input to the first, turns the remaining
   inequalities (the bounds of every input, the solved fraction's bounds and the
   constraints) into per-input intervals: the feasible values of input ``i`` given
   inputs ``0..i-1`` are ``[max_k(G_k.r + h_k), min_l(G_l.r + h_l)]``;
3. ``u_i`` in ``[0, 1]`` places input ``i`` linearly in its interval.

Every ``u`` in the cube decodes to a point satisfying every bound, the sum and every
constraint (to round-off), every feasible point has a preimage (:meth:`encode`), and the
map is continuous and piecewise smooth, so L-BFGS-B under the cube's bounds optimizes the
acquisition function over exactly the feasible region. Redundant rows are dropped with a
linear program at each elimination step, which keeps the intervals small for the
compositions a lab writes (a handful of precursors and ratio constraints).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["MAX_ROWS", "UnitCubeMap", "UnsupportedSpaceError"]

MAX_ROWS = 400  # past this many inequalities in an elimination step, fall back (SLSQP)
_TOL = 1e-12


class UnsupportedSpaceError(ValueError):
    """The constraints do not reduce to a small set of intervals (use the polytope path)."""


@dataclass(frozen=True)
class _Interval:
    """``[max(lower @ r + lower_h), min(upper @ r + upper_h)]`` for one reduced input."""

    lower: np.ndarray  # k x i, coefficients on the inputs before this one
    lower_h: np.ndarray  # k
    upper: np.ndarray  # l x i
    upper_h: np.ndarray  # l


def _redundant(A: np.ndarray, b: np.ndarray, k: int) -> bool:
    """Row ``k`` of ``A r >= b`` is implied by the other rows (a linear program)."""
    from scipy.optimize import linprog

    others = np.arange(len(b)) != k
    if not others.any():
        return False
    res = linprog(A[k], A_ub=-A[others], b_ub=-b[others], bounds=[(None, None)] * A.shape[1],
                  method="highs")
    return res.status == 0 and res.fun >= b[k] - 1e-10 * max(1.0, abs(b[k]))


def _prune(A: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop trivial, duplicate and redundant rows of ``A r >= b``."""
    keep = np.abs(A).max(axis=1, initial=0.0) > _TOL
    if np.any(b[~keep] > 1e-9):
        raise UnsupportedSpaceError("the constraints leave no feasible point")
    A, b = A[keep], b[keep]
    if len(b) == 0:
        return A, b
    scale = np.abs(A).max(axis=1)
    A, b = A / scale[:, None], b / scale
    _, first = np.unique(np.round(np.column_stack([A, b]), 12), axis=0, return_index=True)
    A, b = A[np.sort(first)], b[np.sort(first)]
    k = 0
    while k < len(b):
        if _redundant(A, b, k):
            A, b = np.delete(A, k, axis=0), np.delete(b, k)
        else:
            k += 1
    return A, b


class UnitCubeMap:
    """A map from ``[0, 1]^m`` onto the feasible inputs of ``d`` dimensions.

    Args:
        bounds: ``2 x d`` lower and upper bounds.
        inequalities: ``(indices, coefficients, rhs)`` rows meaning ``coef . x[idx] >= rhs``.
        equalities: At most one such row meaning ``==`` (the mixture sum).

    Raises:
        UnsupportedSpaceError: More than one equality, or an elimination step with more
            than :data:`MAX_ROWS` inequalities.
    """

    def __init__(self, bounds: Tensor, inequalities=None, equalities=None) -> None:
        lo, hi = (bounds[0].double().cpu().numpy(), bounds[1].double().cpu().numpy())
        d = len(lo)
        rows = [self._dense(c, d) for c in (inequalities or [])]
        eqs = [self._dense(c, d) for c in (equalities or [])]
        if len(eqs) > 1:
            raise UnsupportedSpaceError("more than one equality constraint")
        A = np.vstack([np.eye(d), -np.eye(d), *[a for a, _ in rows]]) if rows else \
            np.vstack([np.eye(d), -np.eye(d)])
        b = np.concatenate([lo, -hi, [r for _, r in rows]])
        self.d = d
        self.pivot: int | None = None
        self._solve = (np.zeros(0), 0.0)
        keep = list(range(d))
        if eqs:
            c, t = eqs[0]
            self.pivot = int(np.flatnonzero(np.abs(c) > _TOL)[-1])
            keep.remove(self.pivot)
            # x_p = (t - c_rest . r) / c_p
            g, h = -c[keep] / c[self.pivot], t / c[self.pivot]
            self._solve = (g, h)
            A, b = A[:, keep] + np.outer(A[:, self.pivot], g), b - A[:, self.pivot] * h
        self.keep = keep
        self.m = len(keep)
        self.intervals = self._eliminate(A, b)
        tk = {"dtype": torch.float64}
        self._t = [tuple(torch.as_tensor(a, **tk) for a in (iv.lower, iv.lower_h, iv.upper,
                                                             iv.upper_h))
                   for iv in self.intervals]
        self._g = torch.as_tensor(self._solve[0], **tk)

    @staticmethod
    def _dense(constraint, d: int) -> tuple[np.ndarray, float]:
        idx, coef, rhs = constraint
        a = np.zeros(d)
        a[idx.cpu().numpy()] = coef.double().cpu().numpy()
        return a, float(rhs)

    def _eliminate(self, A: np.ndarray, b: np.ndarray) -> list[_Interval]:
        """Fourier-Motzkin elimination from the last reduced input to the first."""
        A, b = _prune(A, b)
        intervals: list[_Interval] = [None] * self.m  # type: ignore[list-item]
        for i in range(self.m - 1, -1, -1):
            a_i = A[:, i]
            low, up, rest = a_i > _TOL, a_i < -_TOL, np.abs(a_i) <= _TOL
            if not low.any() or not up.any():
                raise UnsupportedSpaceError(f"input {i} is unbounded")
            # a_i r_i + a_rest . r_<i >= b  ->  r_i >=/<= (b - a_rest . r_<i) / a_i
            lower = -A[low, :i] / a_i[low, None]
            upper = -A[up, :i] / a_i[up, None]
            intervals[i] = _Interval(lower, b[low] / a_i[low], upper, b[up] / a_i[up])
            pairs_A = (upper[None, :, :] - lower[:, None, :]).reshape(low.sum() * up.sum(), i)
            pairs_b = (b[low][:, None] / a_i[low][:, None]
                       - b[up][None, :] / a_i[up][None, :]).reshape(-1)
            A = np.vstack([A[rest, :i], pairs_A])
            b = np.concatenate([b[rest], pairs_b])
            if len(b) > MAX_ROWS:
                raise UnsupportedSpaceError(f"{len(b)} inequalities after eliminating "
                                            f"input {i} (> {MAX_ROWS})")
            A, b = _prune(A, b)
        return intervals

    def _bounds_of(self, i: int, r: Tensor) -> tuple[Tensor, Tensor]:
        """The interval of reduced input ``i`` given ``r = r_<i`` (``... x i``)."""
        G_lo, h_lo, G_up, h_up = (t.to(r) for t in self._t[i])
        lo = (r @ G_lo.T + h_lo).amax(dim=-1)
        up = (r @ G_up.T + h_up).amin(dim=-1)
        return lo, torch.maximum(lo, up)

    def decode(self, U: Tensor) -> Tensor:
        """``... x m`` points of the cube to ``... x d`` feasible inputs (differentiable)."""
        cols: list[Tensor] = []
        for i in range(self.m):
            r = torch.stack(cols, dim=-1) if cols else U[..., :0]
            lo, up = self._bounds_of(i, r)
            cols.append(lo + U[..., i] * (up - lo))
        r = torch.stack(cols, dim=-1)
        if self.pivot is None:
            return r
        x_p = r @ self._g.to(r) + float(self._solve[1])
        return torch.cat([r[..., :self.pivot], x_p.unsqueeze(-1), r[..., self.pivot:]], dim=-1)

    def encode(self, X: Tensor) -> Tensor:
        """``... x d`` feasible inputs to their points in the cube (inverse of decode)."""
        r = X[..., self.keep]
        cols = []
        for i in range(self.m):
            lo, up = self._bounds_of(i, r[..., :i])
            width = up - lo
            u = torch.where(width > 1e-14, (r[..., i] - lo) / width.clamp_min(1e-14),
                            torch.full_like(lo, 0.5))
            cols.append(u.clamp(0.0, 1.0))
        return torch.stack(cols, dim=-1)
