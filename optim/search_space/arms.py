"""The continuous pieces of a mixed space: one *arm* per combination of choices.

A space with categorical parameters, or a composition with ``max_components`` or
``min_fraction``, is a union of polytopes: one for each combination of categorical
values and each set of precursors present. An :class:`Arm` is one of them: some
inputs fixed (a category's index, an absent precursor's 0), the others in a polytope
(a present precursor at least ``min_fraction``, every bound and linear constraint).
Each arm is sampled, and mapped onto a unit cube for the optimizer, over its free
inputs only (:class:`~optim.search_space.unit_cube.UnitCubeMap`), so a gradient
optimizer never sees the choices; the optimizer picks the best arm (see
``optim.acquisition.builder``). A space without choices has one arm that fixes
nothing.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch
from botorch.utils.sampling import get_polytope_samples
from torch import Tensor

from optim.search_space.unit_cube import UnitCubeMap, UnsupportedSpaceError

__all__ = ["MAX_ARMS", "Arm", "enumerate_arms", "lp_feasible"]

MAX_ARMS = 256  # combinations of choices enumerated; more is a config error
Constraint = tuple[Tensor, Tensor, float]


def lp_feasible(bounds: np.ndarray, ineq: list[Constraint] | None,
                eq: list[Constraint] | None, dim: int) -> bool:
    """Some point within ``bounds`` (``2 x dim``) satisfies the constraints (an LP)."""
    if not ineq and not eq:
        return bool(np.all(bounds[0] <= bounds[1] + 1e-12))

    def rows(constraints):
        A = np.zeros((len(constraints or []), dim))
        b = np.zeros(len(constraints or []))
        for k, (idx, coef, rhs) in enumerate(constraints or []):
            A[k, idx.cpu().numpy()] = coef.double().cpu().numpy()
            b[k] = rhs
        return A, b

    (A_ge, b_ge), (A_eq, b_eq) = rows(ineq), rows(eq)
    from scipy.optimize import linprog

    result = linprog(np.zeros(dim), A_ub=-A_ge if len(b_ge) else None,
                     b_ub=-b_ge if len(b_ge) else None,
                     A_eq=A_eq if len(b_eq) else None, b_eq=b_eq if len(b_eq) else None,
                     bounds=list(zip(bounds[0], bounds[1], strict=True)), method="highs")
    return result.status != 2


@dataclass(frozen=True)
class Arm:
    """One polytope of a mixed space: ``fixed`` inputs held, the rest free.

    Args:
        bounds: ``2 x d`` encoded bounds of every input (fixed ones: ``lo == hi``).
        ineq: The space's inequality constraints (botorch form, full ``d``).
        eq: The space's equality constraints.
        fixed: Input index to its held encoded value.
        label: The choices in words (``seed_metal=Sn``; ``Li2O+ZrCl4 present``).
    """

    bounds: Tensor
    ineq: list[Constraint] | None = field(hash=False)
    eq: list[Constraint] | None = field(hash=False)
    fixed: dict[int, float] = field(hash=False, default_factory=dict)
    label: str = ""

    @property
    def d(self) -> int:
        """Inputs of the space."""
        return self.bounds.shape[-1]

    @cached_property
    def free(self) -> list[int]:
        """Inputs the arm leaves free, in order."""
        return [j for j in range(self.d) if j not in self.fixed]

    @cached_property
    def reduced(self) -> tuple[Tensor, list[Constraint] | None, list[Constraint] | None,
                               bool]:
        """Bounds and constraints over the free inputs (fixed values moved to the
        right-hand sides), and whether every constraint left without a free input
        holds."""
        tk = {"dtype": self.bounds.dtype, "device": self.bounds.device}
        position = {j: k for k, j in enumerate(self.free)}
        ok = True

        def reduce(constraints, equality):
            nonlocal ok
            out = []
            for idx, coef, rhs in constraints or []:
                keep_i, keep_c = [], []
                for i, c in zip(idx.tolist(), coef.tolist(), strict=True):
                    if i in self.fixed:
                        rhs -= c * self.fixed[i]
                    else:
                        keep_i.append(position[i])
                        keep_c.append(c)
                if not keep_i:
                    ok = ok and (abs(rhs) <= 1e-9 if equality else rhs <= 1e-9)
                    continue
                out.append((torch.tensor(keep_i, dtype=torch.long, device=tk["device"]),
                            torch.tensor(keep_c, **tk), float(rhs)))
            return out or None

        return (self.bounds[:, self.free], reduce(self.ineq, False), reduce(self.eq, True),
                ok)

    @cached_property
    def feasible(self) -> bool:
        """Some point of the arm satisfies every bound and constraint."""
        bounds, ineq, eq, ok = self.reduced
        if not ok:
            return False
        if not self.free:
            return True
        return lp_feasible(bounds.double().cpu().numpy(), ineq, eq, len(self.free))

    @cached_property
    def cube(self) -> UnitCubeMap | None:
        """The unit cube mapped onto the arm's free inputs (``None`` where the
        constraints do not reduce to intervals, or nothing is free)."""
        bounds, ineq, eq, _ = self.reduced
        if not self.free:
            return None
        try:
            return UnitCubeMap(bounds.double(), ineq, eq)
        except UnsupportedSpaceError:
            return None

    def full(self, free: Tensor) -> Tensor:
        """``... x f`` free inputs to ``... x d`` inputs (fixed values inserted)."""
        out = free.new_zeros(*free.shape[:-1], self.d)
        for j, v in self.fixed.items():
            out[..., j] = v
        if self.free:
            out[..., self.free] = free
        return out

    def decode(self, U: Tensor) -> Tensor:
        """``... x m`` cube points to ``... x d`` inputs of the arm (differentiable)."""
        return self.full(self.cube.decode(U))

    def encode(self, X: Tensor) -> Tensor:
        """``... x d`` inputs of the arm to cube points."""
        return self.cube.encode(X[..., self.free])

    def sample(self, n: int, seed: int, n_burnin: int = 500) -> Tensor:
        """``n x d`` points of the arm, uniform over its polytope (hit-and-run)."""
        bounds, ineq, eq, _ = self.reduced
        if not self.free:
            return self.full(bounds.new_zeros(n, 0))
        if ineq is None and eq is None:
            gen = torch.Generator(device="cpu").manual_seed(seed)
            u = torch.rand(n, len(self.free), generator=gen, dtype=bounds.dtype)
            return self.full(bounds[0] + u.to(bounds) * (bounds[1] - bounds[0]))
        fixed = (bounds[1] - bounds[0]) <= 1e-12
        if fixed.any():  # a bound of zero width (a shared value): hold it
            held = {self.free[j]: float(bounds[0, j]) for j in fixed.nonzero().flatten()}
            return self.restrict(held).sample(n, seed, n_burnin)
        return self.full(get_polytope_samples(n, bounds, inequality_constraints=ineq,
                                              equality_constraints=eq, seed=seed,
                                              n_burnin=n_burnin, n_thinning=4))

    def contains(self, X: Tensor, tol: float = 1e-9) -> Tensor:
        """Rows of ``n x d`` ``X`` whose fixed inputs take this arm's values."""
        ok = torch.ones(X.shape[0], dtype=torch.bool, device=X.device)
        for j, v in self.fixed.items():
            ok &= (X[:, j] - v).abs() <= tol
        return ok

    def restrict(self, held: dict[int, float]) -> Arm:
        """This arm with more inputs held (a batch-shared value)."""
        bounds = self.bounds.clone()
        for j, v in held.items():
            bounds[:, j] = v
        return Arm(bounds, self.ineq, self.eq, {**self.fixed, **held},
                   self.label)


def enumerate_arms(bounds: Tensor, ineq, eq, categorical: dict[int, list[str]],
                   names: list[str], presence: list[list[int]] | None,
                   present_lower: float | None) -> list[Arm]:
    """Every feasible combination of categorical values and precursors present.

    Args:
        bounds: ``2 x d`` encoded bounds.
        ineq: Inequality constraints (botorch form).
        eq: Equality constraints.
        categorical: Input index to its choices (held at each index in turn).
        names: Input names, for labels.
        presence: Precursor index sets that may be present (``None``: no cardinality
            constraint); the others are held at 0.
        present_lower: A present precursor's lowest fraction (``min_fraction``).

    Returns:
        The feasible arms, in a fixed order.
    """
    cat_items = list(categorical.items())
    patterns = presence if presence is not None else [None]
    arms = []
    for values in itertools.product(*[range(len(c)) for _, c in cat_items]):
        for pattern in patterns:
            b = bounds.clone()
            fixed: dict[int, float] = {}
            words = [f"{names[j]}={c[v]}" for (j, c), v in zip(cat_items, values,
                                                                strict=True)]
            for (j, _), v in zip(cat_items, values, strict=True):
                fixed[j] = float(v)
                b[:, j] = float(v)
            if pattern is not None:
                comp = sorted({j for p in presence for j in p})
                for j in comp:
                    if j in pattern:
                        if present_lower is not None:
                            b[0, j] = max(float(b[0, j]), present_lower)
                    elif float(bounds[0, j]) > 0:
                        break
                    else:
                        fixed[j] = 0.0
                        b[:, j] = 0.0
                else:
                    words.append("+".join(names[j] for j in pattern) + " present")
                    arms.append(Arm(b, ineq, eq, fixed, ", ".join(words)))
                continue
            arms.append(Arm(b, ineq, eq, fixed, ", ".join(words)))
    return [a for a in arms if bool((a.bounds[0] <= a.bounds[1] + 1e-12).all())
            and a.feasible]
