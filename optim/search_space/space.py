"""The search space: a composition (optional), process parameters and constraints.

Mixed spaces (integer, discrete, categorical parameters, a composition with a
``resolution``, ``max_components`` or ``min_fraction``) are one mechanism: the space is
a union of polytopes (:mod:`optim.search_space.arms`: one per combination of choices),
optimized and sampled continuously within each, and every proposal is then snapped to
the allowed values (:mod:`optim.search_space.snapping`) and re-checked against every
bound and constraint.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from optim.exceptions import ConfigError
from optim.search_space.arms import MAX_ARMS, Arm, enumerate_arms, lp_feasible
from optim.search_space.composition import CompositionParameter
from optim.search_space.constraints import LinearConstraint, mixture_sum_constraint
from optim.search_space.design import far_half, pick_spread
from optim.search_space.parameters import Parameter, is_finite_number
from optim.search_space.snapping import SNAP_TOLERANCE, snap_nearest, snap_options
from optim.search_space.unit_cube import UnitCubeMap, UnsupportedSpaceError

__all__ = ["BotorchConstraint", "SearchSpace"]

BotorchConstraint = tuple[Tensor, Tensor, float]


def _tidy(p: Parameter, value: float) -> float:
    """A physical value within round-off of an allowed value, as that value."""
    near = min(p.neighbours(value), key=lambda g: abs(g - value))
    return near if abs(near - value) <= 1e-9 * max(1.0, abs(value)) else value


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

    parameters: tuple[Parameter, ...]
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
        categorical = set(self.categorical_names)
        for c in self.constraints:
            if c.is_equality:
                raise ConfigError(f"constraint {c.description!r} is an equality. Fix: "
                                  "pass it in sums=.")
        for c in self.sums:
            if not c.is_equality or set(c.coefficients.values()) != {1.0}:
                raise ConfigError(f"sum {c.description!r} is not a plain sum equality "
                                  "(coefficients 1, ==).")
        for c in (*self.constraints, *self.sums):
            if categorical & set(c.coefficients):
                raise ConfigError(
                    f"constraint {c.description!r} involves categorical "
                    f"{sorted(categorical & set(c.coefficients))}, whose values are names, "
                    "not numbers. Fix: constrain numerical parameters only.")
            if log_names & set(c.coefficients):
                raise ConfigError(
                    f"constraint {c.description!r} involves log-scaled "
                    f"{sorted(log_names & set(c.coefficients))}; linear constraints need "
                    "linear parameters. Fix: set log_scale: false for them."
                )

        self._check_feasible()

    def _check_feasible(self) -> None:
        """Some point satisfies every bound and constraint (a linear program), and
        some combination of choices leaves a feasible region."""
        ineq, eq = self.botorch_constraints(dtype=torch.float64)
        bounds = self.bounds(dtype=torch.float64).numpy()
        if (ineq is not None or eq is not None) and not lp_feasible(bounds, ineq, eq,
                                                                     self.dim):
            described = "; ".join(c.description for c in self.all_constraints)
            raise ConfigError(f"no feasible region: no point satisfies the bounds and the "
                              f"constraints ({described}). Fix: widen the bounds or relax a "
                              "constraint.")
        if self.is_mixed:
            count = len(self.arms)  # raises past MAX_ARMS
            if count == 0:
                raise ConfigError(
                    "no feasible region: no combination of the categorical choices and "
                    "precursors present (max_components, min_fraction) satisfies the "
                    "bounds and constraints. Fix: relax max_components/min_fraction or "
                    "a constraint.")

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
    def categorical_names(self) -> list[str]:
        """Columns holding category names."""
        return [p.name for p in self.parameters if p.is_categorical]

    def parameter(self, name: str) -> Parameter | None:
        """The process parameter of a column (``None`` for a precursor)."""
        return next((p for p in self.parameters if p.name == name), None)

    def format_value(self, name: str, value: object) -> str:
        """An input's value as people read it (terminal table, mlflow params, plots):
        a category by name, a grid value with the grid's decimals (``550``), a
        fraction or continuous value to 4 significant digits; ``-`` when missing."""
        p = self.parameter(name)
        if p is not None:
            return p.format(value)
        if isinstance(value, str):
            return value or "-"
        return f"{value:.4g}" if is_finite_number(value) else "-"

    @property
    def cat_dims(self) -> dict[int, int]:
        """Encoded index of each unordered categorical input to its number of choices
        (what a categorical kernel treats by equality, not distance)."""
        k = len(self.composition_names)
        return {k + j: len(p.choices) for j, p in enumerate(self.parameters)
                if p.is_categorical and not p.ordered}

    @property
    def shared_dims(self) -> list[int]:
        """Encoded indices of the parameters one batch shares (``shared: true``)."""
        k = len(self.composition_names)
        return [k + j for j, p in enumerate(self.parameters) if p.shared]

    @property
    def is_mixed(self) -> bool:
        """Some input takes values from a grid or a set of choices, or the composition
        has a resolution or a cardinality constraint."""
        comp = self.composition
        return (any(p.on_grid or p.shared for p in self.parameters)
                or (comp is not None and (comp.resolution is not None
                                          or comp.has_cardinality)))

    @cached_property
    def arms(self) -> list[Arm]:
        """The feasible combinations of categorical values and precursors present
        (one arm fixing nothing for a space without choices)."""
        ineq, eq = self.botorch_constraints(dtype=torch.float64)
        bounds = self.bounds(dtype=torch.float64)
        k = len(self.composition_names)
        categorical = {k + j: list(p.choices) for j, p in enumerate(self.parameters)
                       if p.is_categorical}
        presence = None
        comp = self.composition
        if comp is not None and comp.has_cardinality:
            n = len(comp.names)
            sizes = ([comp.max_components] if comp.min_fraction is None
                     else range(1, (comp.max_components or n) + 1))
            presence = [list(s) for size in sizes
                        for s in itertools.combinations(range(n), size)]
        size = int(np.prod([len(c) for c in categorical.values()] or [1])) * len(
            presence or [None])
        if size > MAX_ARMS:
            raise ConfigError(
                f"{size} combinations of categorical choices and precursor sets, more than "
                f"the {MAX_ARMS} the optimizer enumerates. Fix: fewer choices, mark a "
                "categorical parameter ordered: true, or a smaller max_components.")
        return enumerate_arms(bounds, ineq, eq, categorical, self.names, presence,
                              comp.min_fraction if comp is not None else None)

    def restricted_arms(self, held: dict[int, float]) -> list[Arm]:
        """The arms compatible with ``held`` values (encoded index to value), with
        them held; raises when none is feasible."""
        arms = [a.restrict(held) for a in self.arms
                if all(abs(a.fixed[j] - v) <= 1e-9 for j, v in held.items() if j in a.fixed)]
        arms = [a for a in arms if a.feasible]
        if not arms:
            raise UnsupportedSpaceError(f"no feasible point with the held values {held}")
        return arms

    def arm_of(self, X: Tensor) -> list[int]:
        """Index of the arm whose held inputs each row of ``n x d`` ``X`` takes (the
        first such arm; -1 for none)."""
        out = torch.full((X.shape[0],), -1, dtype=torch.long)
        for a in reversed(range(len(self.arms))):
            out[self.arms[a].contains(X).cpu()] = a
        return out.tolist()

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
            if p.is_categorical:
                cols.append(np.array([p.encode(v) for v in frame[p.name]], dtype=float))
                continue
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
            p = self.parameters[k] if k >= 0 else None
            if p is not None and p.is_categorical:
                data[name] = [p.decode(v) for v in col]
                continue
            if p is not None and p.log_scale:
                col = 10.0**col
            if p is not None and p.on_grid:  # 300.00000000000006 rpm is 300
                col = np.array([_tidy(p, v) for v in col])
            data[name] = col
        return pd.DataFrame(data)

    # --------------------------------------------------------------- feasibility
    def max_violation(self, X: Tensor, grid: bool = True) -> Tensor:
        """Largest bound or constraint violation per row of an ``n x d`` tensor (>= 0).

        With ``grid``, also how far an integer, discrete, categorical or ``resolution``
        input is from an allowed value (relative to the grid's spacing), and a
        composition's breach of ``max_components`` (1) or ``min_fraction``.
        """
        b = self.bounds(dtype=X.dtype, device=X.device)
        viol = torch.cat([(b[0] - X).clamp_min(0), (X - b[1]).clamp_min(0)], dim=-1)
        worst = viol.amax(dim=-1)
        ineq, eq = self.botorch_constraints(dtype=X.dtype, device=X.device)
        for idx, coef, rhs in ineq or []:
            worst = torch.maximum(worst, (rhs - X[:, idx] @ coef).clamp_min(0))
        for idx, coef, rhs in eq or []:
            worst = torch.maximum(worst, (X[:, idx] @ coef - rhs).abs())
        if grid and self.is_mixed:
            worst = torch.maximum(worst, torch.as_tensor(self._grid_violation(X)).to(worst))
        return worst

    def _grid_violation(self, X: Tensor) -> np.ndarray:
        """Off-grid distance and cardinality breach per row (see :meth:`max_violation`)."""
        array = X.detach().cpu().double().numpy()
        out = np.zeros(len(array))
        k = len(self.composition_names)
        for j, p in enumerate(self.parameters):
            if not p.on_grid:
                continue
            col = array[:, k + j]
            if p.is_categorical:
                out = np.maximum(out, np.abs(col - np.round(col)))
                continue
            for i, v in enumerate(col):
                value = p.decode(v)
                near = min(abs(g - value) for g in p.neighbours(value))
                out[i] = max(out[i], near / p._spacing)
        comp = self.composition
        if comp is not None and comp.resolution is not None:
            units = array[:, :k] / comp.resolution
            out = np.maximum(out, np.abs(units - np.round(units)).max(axis=1, initial=0))
        if comp is not None and comp.has_cardinality:
            for i, row in enumerate(array[:, :k]):
                present = row > 1e-9
                if comp.max_components is not None and present.sum() > comp.max_components:
                    out[i] = max(out[i], 1.0)
                if comp.min_fraction is not None and present.any():
                    out[i] = max(out[i], float((comp.min_fraction - row[present]).max()))
        return out

    def snap(self, X: Tensor, score=None, avoid: Tensor | None = None,
             max_radius: int = 3) -> Tensor:
        """Each row of ``n x d`` ``X`` moved to allowed values (integer, discrete,
        categorical, ``resolution``) that satisfy every bound and constraint.

        Among the feasible roundings next to a row (widening up to ``max_radius``
        grid steps when none is), the one ``score`` (a function of ``k x d`` options
        returning ``k`` values) rates highest, else the nearest in unit-scaled
        coordinates. A row never becomes a copy of an ``avoid`` row or of an earlier
        row of ``X``. Continuous spaces are returned unchanged.

        Raises:
            UnsupportedSpaceError: No allowed point near a row (a resolution too
                coarse for the constraints): the message says which row.
        """
        if not self.is_mixed:
            return X
        bounds = self.bounds(dtype=X.dtype, device=X.device)
        width = (bounds[1] - bounds[0]).clamp_min(1e-12)
        taken = [a for a in (avoid if avoid is not None else X[:0])]
        out = []
        for i, x in enumerate(X):
            chosen = None
            for radius in range(1, max_radius + 1):
                options = snap_options(self, x, radius)
                options = options[self.max_violation(options) <= SNAP_TOLERANCE]
                if taken and len(options):
                    T = torch.stack(taken).to(options)
                    dup = ((options[:, None, :] - T[None]).abs() <= 1e-9 * width).all(-1)
                    options = options[~dup.any(-1)]
                if len(options):
                    if score is not None:
                        chosen = options[int(torch.as_tensor(score(options)).argmax())]
                    else:
                        dist = (((options - x) / width) ** 2).sum(-1)
                        chosen = options[int(dist.argmin())]
                    break
            if chosen is None:
                raise UnsupportedSpaceError(
                    f"no allowed point (grid values, resolution, constraints) within "
                    f"{max_radius} steps of proposal {i + 1} "
                    f"({dict(zip(self.names, x.tolist(), strict=True))})")
            taken.append(chosen)
            out.append(chosen)
        return torch.stack(out) if out else X

    def features(self, X: Tensor) -> np.ndarray:
        """``n x f`` unit-scaled coordinates for distances between designs: each
        numerical input scaled by its range, each unordered categorical one-hot
        (scaled so two different choices are 1 apart)."""
        bounds = self.bounds(dtype=X.dtype, device=X.device)
        u = ((X - bounds[0]) / (bounds[1] - bounds[0]).clamp_min(1e-12)).cpu().numpy()
        cats = self.cat_dims
        cols = [u[:, [j]] for j in range(self.dim) if j not in cats]
        for j, n in cats.items():
            idx = np.clip(np.round(X[:, j].cpu().numpy()).astype(int), 0, n - 1)
            cols.append(np.eye(n)[idx] / np.sqrt(2.0))
        return np.concatenate(cols, axis=1) if cols else u

    def sample(self, n: int, seed: int, held: dict[int, float] | None = None,
               **tkwargs) -> Tensor:
        """``n x d`` feasible points, uniform over the constrained polytope (hit-and-run).

        A mixed space draws ``n`` points spread over its arms (equal shares, in
        turn) and snaps each to the nearest allowed values (points with no feasible
        rounding are redrawn); the rows are distinct. ``held``: encoded input index
        to a value every point takes (a batch-shared parameter).
        """
        bounds = self.bounds(**tkwargs)
        if held:
            return self._sample_arms(self.restricted_arms(held), n, seed, **tkwargs)
        if not self.is_mixed:
            ineq, eq = self.botorch_constraints(**tkwargs)
            if ineq is None and eq is None:
                gen = torch.Generator(device="cpu").manual_seed(seed)
                u = torch.rand(n, self.dim, generator=gen, dtype=bounds.dtype)
                return bounds[0] + u.to(bounds) * (bounds[1] - bounds[0])
            from botorch.utils.sampling import get_polytope_samples

            return get_polytope_samples(
                n, bounds, inequality_constraints=ineq, equality_constraints=eq,
                seed=seed, n_burnin=500, n_thinning=4,
            )
        return self._sample_arms(self.arms, n, seed, **tkwargs)

    def _sample_arms(self, arms: list[Arm], n: int, seed: int, **tkwargs) -> Tensor:
        """``n`` distinct allowed points over ``arms`` (equal shares)."""
        points: list[Tensor] = []
        for attempt in range(4):
            per_arm = -(-2 * n // len(arms)) * (attempt + 1)
            burnin = 500 if len(arms) <= 4 else 200  # small polytopes mix fast
            raw = torch.cat([arm.sample(per_arm, seed + 7919 * a + attempt, burnin)
                             .to(**tkwargs) for a, arm in enumerate(arms)])
            gen = torch.Generator().manual_seed(seed + attempt)
            raw = raw[torch.randperm(len(raw), generator=gen).to(raw.device)]
            near = snap_nearest(self, raw)
            bad = self.max_violation(near) > SNAP_TOLERANCE
            snapped = list(near[~bad])
            for x in raw[bad][:max(n, 16)]:  # the slow path for the few near a constraint
                try:
                    snapped.append(self.snap(x.unsqueeze(0), max_radius=1)[0])
                except UnsupportedSpaceError:
                    continue
            points += snapped
            unique = torch.unique(torch.stack(points), dim=0) if points else None
            if unique is not None and len(unique) >= n:
                break
        if not points:
            raise UnsupportedSpaceError("no allowed point found: the grid values and "
                                        "resolution leave no feasible design")
        X = torch.stack(points)
        # distinct rows, first occurrence order (deterministic)
        keep, seen = [], set()
        for i, row in enumerate(X.tolist()):
            key = tuple(round(v, 9) for v in row)
            if key not in seen:
                seen.add(key)
                keep.append(i)
        X = X[keep]
        # balanced over arms: take rows round-robin by arm
        which = torch.as_tensor(self.arm_of(X)) if len(arms) > 1 else torch.zeros(len(X))
        order = sorted(range(len(X)), key=lambda i: (int((which[:i] == which[i]).sum()), i))
        return X[torch.as_tensor(order[:n])]

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

        A mixed space (a union of polytopes, values on grids) takes the allowed pool
        point nearest each centroid instead (categorical inputs one-hot in the
        distances), and batch-shared parameters take the values of the design's
        most central point for the whole batch.

        Args:
            n: Number of points.
            seed: Seed of the pool and of k-means.
            existing: ``m x d`` encoded points to stay away from.
            n_pool: Pool size.
        """
        if self.is_mixed:
            return self._spread_mixed(n, seed, existing, n_pool, **tkwargs)
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

    def _spread_mixed(self, n: int, seed: int, existing: Tensor | None, n_pool: int,
                      **tkwargs) -> Tensor:
        pool_size = min(max(n_pool // 2, 16 * n), 1024)
        pool = self.sample(pool_size, seed, **tkwargs)
        if self.shared_dims:
            centre = pick_spread(pool, 1, seed, features=self.features(pool))[0]
            held = {j: float(centre[j]) for j in self.shared_dims}
            pool = self._sample_arms(self.restricted_arms(held), pool_size, seed, **tkwargs)
        return pick_spread(pool, n, seed, existing=existing,
                           features=self.features(pool),
                           existing_features=None if existing is None or not len(existing)
                           else self.features(existing))

    def describe(self) -> Sequence[str]:
        """Human-readable lines describing the space."""
        lines = []
        if self.composition:
            lines.append(f"composition {self.composition.formula} (mole fractions sum to "
                         f"{self.composition.total})")
        for name, (lo, hi) in self.physical_bounds.items():
            p = self.parameter(name)
            if p is not None and (p.is_categorical or p.kind != "continuous"):
                lines.append(f"  {name}: {p.allowed}" + (" (shared by a batch)"
                                                         if p.shared else ""))
            else:
                extra = f", resolution {p.resolution:g}" if p and p.resolution else ""
                lines.append(f"  {name}: [{lo}, {hi}]{extra}"
                             + (" (shared by a batch)" if p and p.shared else ""))
        comp = self.composition
        if comp is not None and (comp.resolution or comp.has_cardinality):
            parts = [f"resolution {comp.resolution:g}" if comp.resolution else "",
                     f"at most {comp.max_components} precursors" if comp.max_components
                     else "",
                     f"each present one >= {comp.min_fraction:g}" if comp.min_fraction
                     else ""]
            lines.append("  composition: " + ", ".join(p for p in parts if p))
        lines += [f"  constraint {c.description}" for c in (*self.sums, *self.constraints)]
        return lines
