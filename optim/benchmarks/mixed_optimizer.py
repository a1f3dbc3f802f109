"""Mixed-space acquisition optimizers compared on one fitted model: ours against botorch's.

    python -m optim.benchmarks.mixed_optimizer --campaign interlayer --n 100 --seeds 3
    python -m optim.benchmarks.mixed_optimizer --campaign oxychloride --n 100 --seeds 1

For each seed, a ledger of ``n`` measured rows (a random initial design answered by the
simulated lab: interlayer by ``SimulatedInterlayerLab`` with assembly faults off, so
every row is measured; oxychloride as in :mod:`optim.benchmarks.round_time`), then one
model-based round through the public API (``Campaign.propose``, ``tracking=none``),
timed per phase (:func:`optim.timing.phases`). On that round's fitted model, with the
round's seed and acquisition function (qLogNEHVI, built afresh for each variant, the
build not counted), the campaign's batch is proposed again by:

- ``arms``: ours, ``optim.acquisition.builder._greedy_mixed`` (what the round ran):
  raw samples over every arm (categorical combination), Boltzmann starts, L-BFGS-B in
  each start's arm cube over the relaxed grids, then snapped choosing by acquisition;
- ``alternating``: botorch's ``optimize_acqf_mixed_alternating`` (``q`` = the batch,
  sequential greedy inside), categorical inputs as ``cat_dims``, integer/discrete/
  ``resolution`` inputs as ``discrete_dims`` (botorch relaxes those with more than 20
  values and rounds them at the end), the space's linear constraints passed on; on
  the unit cube (inputs scaled to [0, 1] by their bounds, as botorch recommends);
- ``alternating_raw``: the same on the encoded inputs as they are (unscaled);
- ``enumerate``: botorch's ``optimize_acqf_mixed`` with ``fixed_features_list`` = the
  space's arms (every categorical combination, optimized exhaustively, each with the
  round's restarts and raw samples), on the unit cube.

botorch's candidates are then put on the grid by ``SearchSpace.snap`` (one row at a
time, scoring each rounding by the joint acquisition of the batch so far with it; a
candidate already on the grid stays as it is), as ours are. Every variant gets the
round's ``num_restarts`` and ``raw_samples`` (``acq_optimizer``).

Printed: the round's process-CPU seconds per phase and its wall and CPU seconds; per
variant the optimizer's CPU seconds (``time.process_time``) and wall seconds, and the
quality yardstick of :mod:`optim.benchmarks.round_time`: the batch's EHVI under one
common reference qLogNEHVI (256 MC samples, fresh, no pending points) on the same model,
also as % of ``arms`` on the same seed; medians over seeds. The largest
``SearchSpace.max_violation`` of any candidate (grid included) and the numerical
warnings each optimizer raised are printed too.

One thread (``OMP_NUM_THREADS=1``); every variant runs in this one process.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import torch
from botorch.acquisition.acquisition import AcquisitionFunction
from torch import Tensor

from optim.benchmarks import round_time

VARIANTS = ("arms", "alternating", "alternating_raw", "enumerate")
PHASES = ("fit", "acquisition", "initial_conditions", "optimize", "pending", "snap",
          "evaluate")
CAMPAIGNS = ("interlayer", "oxychloride")


# ------------------------------------------------------------------ the ledger
def measured_ledger(campaign: str, runs: Path, n: int, seed: int,
                    overrides: list[str] = ()) -> Path:
    """A campaign folder whose ledger holds ``n`` measured rows; returns the ledger."""
    if campaign == "oxychloride" and not overrides:
        return round_time.measured_ledger(runs, n, seed)
    from optim.campaign import Campaign
    from optim.labs import SimulatedInterlayerLab

    c = Campaign.from_config(campaign, [
        "tracking=none", *overrides, f"paths.runs={runs}", f"initial_design.n={n}",
        "+initial_design.method=random", f"seed={seed}"])
    c.propose()
    if campaign == "oxychloride":
        c.record(round_time._results(c.ledger, seed))
    else:
        c.record(SimulatedInterlayerLab(seed=seed, random_failure=0.0)(c.ledger))
    return c.ledger_path


# ----------------------------------------------------------- botorch's inputs
class UnitScaled(AcquisitionFunction):
    """An acquisition function of inputs scaled to [0, 1] by ``bounds`` (pending points
    and ``X_baseline`` scaled alike, for botorch's spray points and sequential loop)."""

    def __init__(self, acqf: AcquisitionFunction, bounds: Tensor) -> None:
        super().__init__(model=acqf.model)
        self.acqf = acqf
        self.lo = bounds[0]
        self.width = (bounds[1] - bounds[0]).clamp_min(1e-12)
        base = getattr(acqf, "X_baseline", None)
        if base is not None:
            self.X_baseline = self.to_unit(base)

    def to_unit(self, X: Tensor) -> Tensor:
        """Encoded inputs to unit-cube ones."""
        return (X - self.lo) / self.width

    def from_unit(self, U: Tensor) -> Tensor:
        """Unit-cube inputs to encoded ones."""
        return self.lo + U * self.width

    def forward(self, U: Tensor) -> Tensor:
        """``b x q x d`` unit inputs to acquisition values."""
        return self.acqf(self.from_unit(U))

    @property
    def X_pending(self) -> Tensor | None:  # noqa: D102 - the wrapped one's, scaled
        pending = self.acqf.X_pending
        return None if pending is None else self.to_unit(pending)

    def set_X_pending(self, X_pending: Tensor | None = None) -> None:
        """Pending unit inputs, set on the wrapped function (encoded)."""
        self.acqf.set_X_pending(None if X_pending is None
                                else self.from_unit(X_pending.detach()))


def grid_dims(space, composition: bool = True) -> tuple[dict[int, list[float]],
                                                         dict[int, list[float]]]:
    """``(discrete_dims, cat_dims)`` in botorch's form: encoded index to its allowed
    encoded values (integer, discrete, ``resolution`` inputs; categorical indices).
    ``composition``: the fractions of a composition with a resolution count as discrete
    too (each on multiples of it within its bounds)."""
    k = len(space.composition_names)
    discrete: dict[int, list[float]] = {}
    categorical: dict[int, list[float]] = {}
    comp = space.composition
    if composition and comp is not None and comp.resolution is not None:
        for j, (lo, hi) in enumerate(comp.bounds.values()):
            discrete[j] = _multiples(lo, hi, comp.resolution)
    for j, p in enumerate(space.parameters):
        if p.is_categorical:
            categorical[k + j] = [float(i) for i in range(len(p.choices))]
        elif p.on_grid:
            grid = p.grid if p.grid is not None else _multiples(p.lower, p.upper,
                                                                p.resolution)
            discrete[k + j] = [p.encode(float(g)) for g in grid if not p.log_scale or g > 0]
    return discrete, categorical


def _multiples(lo: float, hi: float, step: float) -> list[float]:
    """Multiples of ``step`` from ``lo`` to ``hi`` (rounded to its decimals)."""
    decimals = max(0, -math.floor(math.log10(step))) + 3
    ks = range(math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9) + 1)
    return [round(k * step, decimals) for k in ks]


def _grid_bounds(space, dims: dict[int, list[float]], tkwargs: dict) -> Tensor:
    """The space's bounds, a grid input's set to its extreme allowed values (botorch
    requires a discrete input's values to start and end at its bounds)."""
    bounds = space.bounds(**tkwargs).clone()
    for j, values in dims.items():
        bounds[0, j], bounds[1, j] = min(values), max(values)
    return bounds


def _scaled_constraints(constraints, lo: Tensor, width: Tensor):
    """botorch ``(idx, coef, rhs)`` constraints on encoded inputs, on unit inputs."""
    if constraints is None:
        return None
    return [(idx, coef * width[idx], float(rhs - (coef * lo[idx]).sum()))
            for idx, coef, rhs in constraints]


# --------------------------------------------------------------- the variants
@dataclass
class Outcome:
    """What one optimizer proposed and what it cost."""

    X: Tensor | None = None
    wall_s: float = float("nan")
    cpu_s: float = float("nan")
    moved: int = 0  # rows the final snap moved (off-grid or duplicate)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None


def snap_batch(space, X: Tensor, fresh: AcquisitionFunction) -> tuple[Tensor, int]:
    """Each row of ``X`` on the grid (``SearchSpace.snap``): the rounding with the best
    joint acquisition of the rows before it and it, never a copy of an earlier row.
    Returns the rows and how many moved."""
    out: list[Tensor] = []
    moved = 0
    with torch.no_grad():
        for x in X:
            before = torch.stack(out) if out else X[:0]

            def score(opts, before=before):
                batch = torch.cat([before.expand(len(opts), *before.shape),
                                   opts.unsqueeze(-2)], dim=-2)
                return fresh(batch)

            y = space.snap(x.unsqueeze(0), score=score,
                           avoid=before if len(before) else None)[0]
            moved += bool((y - x).abs().max() > 1e-9 * max(1.0, float(x.abs().max())))
            out.append(y)
    return torch.stack(out), moved


def _arms(ctx, acqf, optimizer, q: int) -> Tensor:
    from optim.acquisition.builder import _greedy_mixed

    return _greedy_mixed(ctx, [acqf] * q, optimizer)


def _alternating(ctx, acqf, optimizer, q: int, scaled: bool = True,
                 composition_discrete: bool = False) -> Tensor:
    from botorch.optim.optimize_mixed import optimize_acqf_mixed_alternating

    space, tk = ctx.space, ctx.tkwargs
    discrete, categorical = grid_dims(space, composition=composition_discrete)
    bounds = _grid_bounds(space, {**discrete, **categorical}, tk)
    ineq, eq = space.botorch_constraints(**tk)
    if scaled:
        lo, width = bounds[0], (bounds[1] - bounds[0]).clamp_min(1e-12)
        f = UnitScaled(acqf, bounds)

        def unit(dims):
            return {j: [(v - float(lo[j])) / float(width[j]) for v in vals]
                    for j, vals in dims.items()}

        discrete, categorical = unit(discrete), unit(categorical)
        ineq, eq = _scaled_constraints(ineq, lo, width), _scaled_constraints(eq, lo, width)
        run_bounds = torch.stack([torch.zeros_like(lo), torch.ones_like(lo)])
    else:
        f, run_bounds = acqf, bounds
    U, _ = optimize_acqf_mixed_alternating(
        f, bounds=run_bounds, discrete_dims=discrete or None, cat_dims=categorical or None,
        q=q, raw_samples=optimizer.raw_samples, num_restarts=optimizer.num_restarts,
        inequality_constraints=ineq, equality_constraints=eq)
    X = f.from_unit(U) if scaled else U
    for j in categorical:  # an index back from the unit scale: 1.9999999999999998 is 2
        X[:, j] = X[:, j].round()
    return X.detach()


def _enumerate(ctx, acqf, optimizer, q: int) -> Tensor:
    from botorch.optim import optimize_acqf_mixed

    space, tk = ctx.space, ctx.tkwargs
    bounds = space.bounds(**tk)
    lo, width = bounds[0], (bounds[1] - bounds[0]).clamp_min(1e-12)
    f = UnitScaled(acqf, bounds)
    ineq, eq = space.botorch_constraints(**tk)
    fixed = [{j: (v - float(lo[j])) / float(width[j]) for j, v in arm.fixed.items()}
             for arm in space.arms]
    U, _ = optimize_acqf_mixed(
        f, bounds=torch.stack([torch.zeros_like(lo), torch.ones_like(lo)]), q=q,
        num_restarts=optimizer.num_restarts, raw_samples=optimizer.raw_samples,
        fixed_features_list=fixed, options={"maxiter": optimizer.maxiter},
        inequality_constraints=_scaled_constraints(ineq, lo, width),
        equality_constraints=_scaled_constraints(eq, lo, width))
    X = f.from_unit(U).detach()
    for j in space.cat_dims:
        X[:, j] = X[:, j].round()
    return X


RUNNERS = {"arms": _arms, "alternating": _alternating,
           "alternating_raw": lambda *a: _alternating(*a, scaled=False),
           "enumerate": _enumerate}


def run_variant(variant: str, ctx, spec, optimizer, q: int, seed: int) -> Outcome:
    """One optimizer on a fresh acquisition function: timed (optimizer and snap; the
    build is not counted), snapped, warnings collected."""
    from optim.acquisition.builder import _build

    out = Outcome()
    # the same torch generator state for every variant: pruning the baseline and
    # botorch's raw samples draw from it
    torch.manual_seed(seed)
    acqf = _build(ctx, spec)
    torch.manual_seed(seed)
    fresh = _build(ctx, spec)  # for snapping botorch's batches (pending-free)
    torch.manual_seed(seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            X = RUNNERS[variant](ctx, acqf, optimizer, q)
            if variant != "arms":  # ours snaps each candidate before the next
                X, out.moved = snap_batch(ctx.space, X, fresh)
            out.X = X
        except Exception as err:  # noqa: BLE001 - reported in the table, not raised
            out.error = f"{type(err).__name__}: {str(err).splitlines()[0]}"
        out.wall_s, out.cpu_s = time.perf_counter() - wall, time.process_time() - cpu
    out.warnings = sorted({f"{w.category.__name__}: {str(w.message).splitlines()[0][:90]}"
                           for w in caught})
    return out


# ----------------------------------------------------------------- one seed
def one_seed(campaign: str, n: int, seed: int, variants: list[str],
             overrides: list[str] = (), probe_composition: bool = True) -> list[dict]:
    """The round and every variant on one seed's ledger: one row per variant (and one
    for the round itself)."""
    from optim.acquisition import AcquisitionContext
    from optim.campaign import Campaign
    from optim.timing import phases

    runs = Path(tempfile.mkdtemp(prefix=f"bench-mixed-{campaign}-{n}-"))
    try:
        measured_ledger(campaign, runs, n, seed, list(overrides))
        c = Campaign.from_config(campaign, ["tracking=none", *overrides,
                                            f"paths.runs={runs}", f"seed={seed}"])
        wall, cpu = time.perf_counter(), time.process_time()
        with phases() as spent:
            result = c.propose()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        s = c.settings
        space = s.space
        measured = c.ledger.query("status == 'measured'")  # the batch is 'proposed'
        X_base = space.encode(measured, dtype=torch.float64)
        ctx = AcquisitionContext(result.model, result.model_targets, space, X_base, None,
                                 result.seed)
        q = len(result.batch)
        X_round = space.encode(result.batch, dtype=torch.float64)
        rows = [{"seed": seed, "variant": "round", "wall_s": wall, "cpu_s": cpu,
                 "quality": _quality(result, space, X_base, X_round),
                 "violation": float(space.max_violation(X_round).max()),
                 "n_measured": len(measured), "q": q,
                 **{f"cpu_{p}": spent[p].cpu_s if p in spent else 0.0 for p in PHASES}}]
        for variant in variants:
            out = run_variant(variant, ctx, s.acquisition, s.optimizer, q, result.seed)
            row = {"seed": seed, "variant": variant, "wall_s": out.wall_s,
                   "cpu_s": out.cpu_s, "moved": out.moved, "warnings": out.warnings,
                   "error": out.error, "X": out.X}
            if out.X is not None:
                row["quality"] = _quality(result, space, X_base, out.X)
                row["violation"] = float(space.max_violation(out.X).max())
                row["metals"] = _choices(space, out.X)
            rows.append(row)
        if probe_composition and space.composition is not None \
                and space.composition.resolution is not None:
            rows.append({"seed": seed, "variant": "alternating (composition discrete)",
                         **_probe_composition(ctx, s.optimizer, q)})
        return rows
    finally:
        shutil.rmtree(runs, ignore_errors=True)


def _probe_composition(ctx, optimizer, q: int) -> dict:
    """botorch's alternating optimizer with the composition's fractions as discrete
    inputs (their resolution), as a mixed space has them: what it says."""
    from optim.acquisition.builder import _build
    from optim.acquisition.specs import qLogNoisyExpectedHypervolumeImprovement

    acqf = _build(ctx, qLogNoisyExpectedHypervolumeImprovement(mc_samples=8))
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            _alternating(ctx, acqf, SimpleNamespace(raw_samples=8, num_restarts=1), 1,
                         composition_discrete=True)
        error = None
    except Exception as err:  # noqa: BLE001 - the error is the finding
        error = f"{type(err).__name__}: {str(err).splitlines()[0]}"
    return {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu,
            "error": error or "no error (ran)", "warnings": []}


def _quality(result, space, X_baseline: Tensor, X: Tensor) -> float:
    """round_time's yardstick: EHVI under the common reference qLogNEHVI."""
    batch = SimpleNamespace(batch=space.decode(X), model=result.model,
                            model_targets=result.model_targets)
    return round_time._reference_value(batch, space, X_baseline)


def _choices(space, X: Tensor) -> str:
    """The categorical values of a batch, counted (``Mg x5, Au x3``)."""
    names = space.categorical_names
    if not names:
        return "-"
    frame = space.decode(X)
    counts = frame[names].astype(str).agg("/".join, axis=1).value_counts()
    return ", ".join(f"{k} x{v}" for k, v in counts.items())


# ------------------------------------------------------------------ report
def _median(values) -> float:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(values) if values else float("nan")


def report(rows: list[dict], campaign: str, n: int) -> None:
    """Print the round's phases and the variants' table."""
    rounds = [r for r in rows if r["variant"] == "round"]
    seeds = sorted({r["seed"] for r in rows})
    q = rounds[0]["q"]
    print(f"\nOne {campaign} round at n={rounds[0]['n_measured']} measured rows (batch "
          f"{q}), Campaign.propose with tracking=none: process-CPU seconds per phase, "
          f"median over seeds {seeds}")
    head = [*PHASES, "round CPU (min-max)", "round wall"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    cpus = [r["cpu_s"] for r in rounds]
    print("| " + " | ".join([*(f"{_median([r[f'cpu_{p}'] for r in rounds]):.2f}"
                               for p in PHASES),
                             f"{_median(cpus):.2f} ({min(cpus):.2f}-{max(cpus):.2f})",
                             f"{_median([r['wall_s'] for r in rounds]):.2f}"]) + " |")

    print(f"\nThe batch proposed again on each round's model ({campaign}, n={n}, q={q}); "
          "optimizer CPU and wall seconds (acquisition build excluded), median over "
          "seeds")
    head = ["variant", "CPU s (min-max)", "wall s", "EHVI (reference)", "% of arms",
            "max violation", "snap moved", "seed metals (first seed)", "notes"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    arms = {r["seed"]: r.get("quality") for r in rows if r["variant"] == "arms"}
    variants = [v for v in dict.fromkeys(r["variant"] for r in rows)]
    for variant in variants:
        mine = [r for r in rows if r["variant"] == variant]
        ok = [r for r in mine if r.get("quality") is not None]
        cpus = [r["cpu_s"] for r in mine]
        ratios = [r["quality"] / arms[r["seed"]] for r in ok
                  if arms.get(r["seed"]) not in (None, 0)]
        notes = []
        errors = sorted({r["error"] for r in mine if r.get("error")})
        notes += errors
        warns = sorted({w for r in mine for w in r.get("warnings", [])})
        if warns:
            notes.append(f"{len(warns)} kind(s) of warning, e.g. {warns[0]}")
        cells = [variant,
                 f"{_median(cpus):.2f} ({min(cpus):.2f}-{max(cpus):.2f})",
                 f"{_median([r['wall_s'] for r in mine]):.2f}",
                 f"{_median([r['quality'] for r in ok]):.4g}" if ok else "-",
                 f"{100 * _median(ratios):.1f} %" if ratios else "-",
                 f"{max(r['violation'] for r in ok):.2g}" if ok else "-",
                 (f"{sum(r.get('moved', 0) for r in ok)}/{q * len(ok)}"
                  if ok and variant not in ("arms", "round") else "-"),
                 (mine[0].get("metals") or "-"), "; ".join(notes) or "-"]
        print("| " + " | ".join(cells) + " |")
    print("EHVI: the batch's expected hypervolume improvement under the reference "
          "qLogNEHVI (256 MC samples, fresh, no pending) on the round's model; % of arms: "
          "median over seeds of the ratio to 'arms' on the same seed. 'round' is the "
          "whole Campaign.propose (fit included). max violation: SearchSpace."
          "max_violation with the grid (feasible <= 1e-6).")
    per_seed = {(r["seed"], r["variant"]): r for r in rows}
    print("per seed, EHVI (reference) and CPU s: " + "; ".join(
        f"seed {s}: " + ", ".join(
            f"{v} {per_seed[(s, v)]['quality']:.4g} ({per_seed[(s, v)]['cpu_s']:.1f} s)"
            for v in variants
            if per_seed.get((s, v), {}).get("quality") is not None) for s in seeds))


def main(argv: list[str] | None = None) -> list[dict]:
    """Run the benchmark, print its figures and return its rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaign", choices=CAMPAIGNS, default="interlayer")
    parser.add_argument("--n", type=int, default=100, help="measured rows")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS),
                        choices=VARIANTS)
    parser.add_argument("--override", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="a Hydra override for the ledger and the round, e.g. "
                             "acq_optimizer.raw_samples=64 or batch_size=2")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, one torch thread "
          f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}); {args.campaign}, "
          f"n={args.n}, seeds {list(range(args.seeds))}, variants {args.variants}"
          + (f", overrides {args.override}" if args.override else ""), flush=True)
    rows: list[dict] = []
    for seed in range(args.seeds):
        start = time.perf_counter()
        rows += one_seed(args.campaign, args.n, seed, args.variants, args.override)
        print(f"  seed {seed} done ({time.perf_counter() - start:.0f} s)", flush=True)
    report(rows, args.campaign, args.n)
    return rows


if __name__ == "__main__":
    main()
