"""The search space: a composition (optional), process parameters and constraints."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import torch
from botorch.utils.sampling import get_polytope_samples
from torch import Tensor

from optim.exceptions import ConfigError
from optim.search_space.composition import CompositionParameter
from optim.search_space.constraints import LinearConstraint, mixture_sum_constraint
from optim.search_space.design import far_half
from optim.search_space.parameters import NumericalParameter
from optim.search_space.unit_cube import UnitCubeMap, UnsupportedSpaceError

__all__ = ["BotorchConstraint", "SearchSpace"]

BotorchConstraint = tuple[Tensor, Tensor, float]


@dataclass(frozen=True)
class SearchSpace:
    """Every input of a campaign, in the order of the ledger's input columns.

    Composition fractions come first (mole fractions, encoded as themselves), then the
    process parameters (encoded as value or log10 value).

    Args:
        parameters: Process parameters.
        composition: The precursor mixture, if any.
        constraints: Linear inequality constraints (besides the mixture sum).
        sums: Sums of parameters fixed to a total (``{sum: [FA, MA], equals: 1}``):
            mixtures that are not chemical formulas. Like a composition's fractions,
            rows are accepted when their sum is within the ledger's rounding tolerance
            and normalized for modelling.
    """

    parameters: tuple[NumericalParameter, ...]
    composition: CompositionParameter | None = None
    constraints: tuple[LinearConstraint, ...] = field(default=())
    sums: tuple[LinearConstraint, ...] = field(default=())

    def __post_init__(self) -> None:
        names = self.names
        if len(set(names)) != len(names):
            raise ConfigError(f"duplicate parameter names in {names}.", value=names)
        if not names:
            raise ConfigError("no parameters. Fix: add a composition or parameters.")
        log_names = {p.name for p in self.parameters if p.log_scale}
        for c in self.constraints:
            if c.is_equality:
                raise ConfigError(f"constraint {c.description!r} is an equality. Fix: "
                                  "pass it in sums=.")
        for c in self.sums:
            if not c.is_equality or set(c.coefficients.values()) != {1.0}:
                raise ConfigError(f"sum {c.description!r} is not a plain sum equality "
                                  "(coefficients 1, ==).")
        for c in (*self.constraints, *self.sums):
            if log_names & set(c.coefficients):
                raise ConfigError(
                    f"constraint {c.description!r} involves log-scaled "
                    f"{sorted(log_names & set(c.coefficients))}; linear constraints need "
                    "linear parameters. Fix: set log_scale: false for them."
                )

        self._check_feasible()

    def _check_feasible(self) -> None:
        """Some point satisfies every bound and constraint (a linear program)."""
        ineq, eq = self.botorch_constraints(dtype=torch.float64)
        if ineq is None and eq is None:
            return
        bounds = self.bounds(dtype=torch.float64).numpy()

        def rows(constraints):
            A = np.zeros((len(constraints or []), self.dim))
            b = np.zeros(len(constraints or []))
            for k, (idx, coef, rhs) in enumerate(constraints or []):
                A[k, idx.numpy()] = coef.numpy()
                b[k] = rhs
            return A, b

        (A_ge, b_ge), (A_eq, b_eq) = rows(ineq), rows(eq)
        from scipy.optimize import linprog

        result = linprog(np.zeros(self.dim), A_ub=-A_ge if len(b_ge) else None,
                         b_ub=-b_ge if len(b_ge) else None,
                         A_eq=A_eq if len(b_eq) else None, b_eq=b_eq if len(b_eq) else None,
                         bounds=list(zip(bounds[0], bounds[1], strict=True)), method="highs")
        if result.status == 2:
            described = "; ".join(c.description for c in self.all_constraints)
            raise ConfigError(f"no feasible region: no point satisfies the bounds and the "
                              f"constraints ({described}). Fix: widen the bounds or relax a "
                              "constraint.")

    # ----------------------------------------------------------------- structure
    @property
    def composition_names(self) -> list[str]:
        """Precursor columns (empty without a composition)."""
        return self.composition.names if self.composition else []

    @property
    def names(self) -> list[str]:
        """Input column names, in encoded-tensor order."""
        return self.composition_names + [p.name for p in self.parameters]

    @property
    def dim(self) -> int:
        """Number of input dimensions ``d``."""
        return len(self.names)

    @property
    def physical_bounds(self) -> dict[str, tuple[float, float]]:
        """Column to ``(lower, upper)`` in physical units."""
        out = dict(self.composition.bounds) if self.composition else {}
        out.update({p.name: (p.lower, p.upper) for p in self.parameters})
        return out

    @property
    def all_constraints(self) -> list[LinearConstraint]:
        """The mixture-sum equality (if any), the other sum equalities and every
        inequality."""
        eq = [mixture_sum_constraint(self.composition)] if self.composition else []
        return eq + list(self.sums) + list(self.constraints)

    def _normalize_sums(self, array: np.ndarray) -> np.ndarray:
        """Rescale each ``sums`` group of an ``n x d`` array to its total (rows typed
        with rounded fractions; exact rows are unchanged)."""
        if not self.sums:
            return array
        array = array.copy()
        for c in self.sums:
            idx = [self.names.index(n) for n in c.coefficients]
            totals = array[:, idx].sum(axis=1, keepdims=True)
            array[:, idx] *= np.divide(c.rhs, totals, out=np.ones_like(totals),
                                       where=totals > 0)
        return array

    def bounds(self, **tkwargs) -> Tensor:
        """``2 x d`` bounds in the encoded space."""
        lo = [b[0] for b in self.composition.bounds.values()] if self.composition else []
        hi = [b[1] for b in self.composition.bounds.values()] if self.composition else []
        lo += [p.encoded_bounds[0] for p in self.parameters]
        hi += [p.encoded_bounds[1] for p in self.parameters]
        return torch.tensor([lo, hi], **tkwargs)

    def botorch_constraints(
        self, **tkwargs
    ) -> tuple[list[BotorchConstraint] | None, list[BotorchConstraint] | None]:
        """``(inequality_constraints, equality_constraints)`` for botorch optimizers."""
        index = {n: i for i, n in enumerate(self.names)}
        ineq: list[BotorchConstraint] = []
        eq: list[BotorchConstraint] = []
        for c in self.all_constraints:
            names = [n for n, v in c.coefficients.items() if v != 0.0]
            idx = torch.tensor([index[n] for n in names], dtype=torch.long,
                               device=tkwargs.get("device"))
            coef = torch.tensor([c.coefficients[n] for n in names], **tkwargs)
            (eq if c.is_equality else ineq).append((idx, coef, float(c.rhs)))
        return (ineq or None), (eq or None)

    @cached_property
    def unit_cube(self) -> UnitCubeMap | None:
        """The unit cube mapped onto the feasible region (``None`` where the
        constraints do not reduce to a few intervals; optimizers then fall back to
        constrained SLSQP). See :mod:`optim.search_space.unit_cube`."""
        ineq, eq = self.botorch_constraints(dtype=torch.float64)
        try:
            return UnitCubeMap(self.bounds(dtype=torch.float64), ineq, eq)
        except UnsupportedSpaceError:
            return None

    # ------------------------------------------------------------- conversions
    def encode(self, frame: pd.DataFrame, **tkwargs) -> Tensor:
        """Physical values (one row per configuration) to an ``n x d`` tensor.

        Composition fractions are normalized to sum exactly to ``total`` (rows typed with
        rounded fractions); proposals already do, so for them this changes nothing.
        """
        cols = []
        if self.composition_names:
            fractions = frame[self.composition_names].to_numpy(dtype=float)
            sums = fractions.sum(axis=1, keepdims=True)
            fractions = fractions * np.divide(self.composition.total, sums,
                                              out=np.ones_like(sums), where=sums > 0)
            cols += list(fractions.T)
        for p in self.parameters:
            values = frame[p.name].to_numpy(dtype=float)
            cols.append(np.log10(values) if p.log_scale else values)
        array = np.stack(cols, axis=-1) if cols else np.zeros((len(frame), 0))
        return torch.as_tensor(self._normalize_sums(array), **tkwargs)

    def decode(self, X: Tensor) -> pd.DataFrame:
        """An ``n x d`` encoded tensor to physical values, one column per input."""
        array = X.detach().cpu().double().numpy()
        data = {}
        for j, name in enumerate(self.names):
            col = array[:, j]
            k = j - len(self.composition_names)
            if k >= 0 and self.parameters[k].log_scale:
                col = 10.0**col
            data[name] = col
        return pd.DataFrame(data)

    # --------------------------------------------------------------- feasibility
    def max_violation(self, X: Tensor) -> Tensor:
        """Largest bound or constraint violation per row of an ``n x d`` tensor (>= 0)."""
        b = self.bounds(dtype=X.dtype, device=X.device)
        viol = torch.cat([(b[0] - X).clamp_min(0), (X - b[1]).clamp_min(0)], dim=-1)
        worst = viol.amax(dim=-1)
        ineq, eq = self.botorch_constraints(dtype=X.dtype, device=X.device)
        for idx, coef, rhs in ineq or []:
            worst = torch.maximum(worst, (rhs - X[:, idx] @ coef).clamp_min(0))
        for idx, coef, rhs in eq or []:
            worst = torch.maximum(worst, (X[:, idx] @ coef - rhs).abs())
        return worst

    def sample(self, n: int, seed: int, **tkwargs) -> Tensor:
        """``n x d`` feasible points, uniform over the constrained polytope (hit-and-run)."""
        ineq, eq = self.botorch_constraints(**tkwargs)
        bounds = self.bounds(**tkwargs)
        if ineq is None and eq is None:
            gen = torch.Generator(device="cpu").manual_seed(seed)
            u = torch.rand(n, self.dim, generator=gen, dtype=bounds.dtype)
            return bounds[0] + u.to(bounds) * (bounds[1] - bounds[0])
        return get_polytope_samples(
            n, bounds, inequality_constraints=ineq, equality_constraints=eq,
            seed=seed, n_burnin=500, n_thinning=4,
        )

    def space_filling(
        self, n: int, seed: int, existing: Tensor | None = None, n_pool: int = 2048,
        **tkwargs,
    ) -> Tensor:
        """``n x d`` feasible points spread evenly: a centroidal Voronoi design.

        A pool of feasible points is drawn uniformly from the constrained polytope and
        clustered into ``n`` groups by k-means (in unit-scaled coordinates); the design is
        the cluster centroids. Each centroid is an average of feasible points, so it is
        feasible too (the polytope is convex). Unlike greedy maximin, which pushes points
        onto the edges, centroids cover the interior and the edges alike.

        With ``existing`` points (rows already proposed), the pool is first restricted to
        the half farthest from them, so the new points fill the gaps.

        Args:
            n: Number of points.
            seed: Seed of the pool and of k-means.
            existing: ``m x d`` encoded points to stay away from.
            n_pool: Pool size.
        """
        pool = self.sample(max(n_pool, 16 * n), seed, **tkwargs)
        bounds = self.bounds(**tkwargs)
        width = bounds[1] - bounds[0]
        pool_u = ((pool - bounds[0]) / width).cpu().numpy()
        if existing is not None and len(existing):
            pool_u = pool_u[far_half(pool_u, ((existing - bounds[0]) / width).cpu().numpy())]
        from sklearn.cluster import KMeans

        kmeans = KMeans(n_clusters=n, n_init=4, random_state=seed).fit(pool_u)
        centres = torch.as_tensor(kmeans.cluster_centers_, **tkwargs)
        X = bounds[0] + centres * width
        # exact feasibility of the mixture sum despite float round-off in the averaging
        if self.composition is not None:
            k = len(self.composition_names)
            X[:, :k] = X[:, :k] * (self.composition.total / X[:, :k].sum(-1, keepdim=True))
        if self.sums:
            X = torch.as_tensor(self._normalize_sums(X.cpu().numpy()), **tkwargs)
        return X

    def describe(self) -> Sequence[str]:
        """Human-readable lines describing the space."""
        lines = []
        if self.composition:
            lines.append(f"composition {self.composition.formula} (mole fractions sum to "
                         f"{self.composition.total})")
        for name, (lo, hi) in self.physical_bounds.items():
            lines.append(f"  {name}: [{lo}, {hi}]")
        lines += [f"  constraint {c.description}" for c in (*self.sums, *self.constraints)]
        return lines
