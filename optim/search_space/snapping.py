"""Allowed values next to a continuous point: what a proposal may be rounded to.

Per input: the grid values below and above (integer, discrete, categorical index,
``resolution``); per composition with a ``resolution``: the vectors of multiples of it
that sum exactly to the total and lie next to the point (largest-remainder rounding
and its alternatives). Their product is every rounding of the point;
``SearchSpace.snap`` keeps the ones that satisfy every bound and constraint and
chooses among them.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from torch import Tensor

__all__ = ["MAX_OPTIONS", "SNAP_TOLERANCE", "composition_options", "snap_nearest",
           "snap_options"]

MAX_OPTIONS = 4096  # roundings of one point considered; beyond, far inputs take the nearest
SNAP_TOLERANCE = 1e-6  # bound/constraint violation a snapped point may have (round-off)


def composition_options(x: np.ndarray, resolution: float, total: float,
                        radius: int = 1) -> np.ndarray:
    """``k x p`` fraction vectors on multiples of ``resolution`` summing to ``total``,
    each fraction within ``radius`` units of ``x`` (below: ``radius - 1`` units under
    the floor; above: ``radius`` over it)."""
    units = round(total / resolution)
    floor = np.floor(x / resolution + 1e-9).astype(int)
    ranges = [range(max(0, f - radius + 1), min(units, f + radius) + 1) for f in floor]
    options = [v for v in itertools.product(*ranges) if sum(v) == units]
    if not options:  # every fraction at its floor already sums to the total
        options = [tuple(floor)]
    decimals = max(0, -math.floor(math.log10(resolution))) + 3
    return np.round(np.asarray(options, dtype=float) * resolution, decimals)


def snap_options(space, x: Tensor, radius: int = 1) -> Tensor:
    """Every rounding of the encoded point ``x`` (``d``) to allowed values: ``k x d``
    (not yet checked against constraints)."""
    blocks: list[tuple[list[int], np.ndarray]] = []  # (columns, options x len(columns))
    values = x.detach().cpu().double().numpy()
    k = len(space.composition_names)
    comp = space.composition
    if comp is not None and comp.resolution is not None:
        blocks.append((list(range(k)),
                       composition_options(values[:k], comp.resolution, comp.total, radius)))
    else:
        blocks += [([j], values[[j]][None]) for j in range(k)]
    for j, p in enumerate(space.parameters):
        v = values[k + j]
        if p.is_categorical:
            opts = p.neighbours(v, radius)
        elif p.on_grid:
            opts = [p.encode(g) for g in p.neighbours(p.decode(v), radius)
                    if not p.log_scale or g > 0]
        else:
            opts = [v]
        blocks.append(([k + j], np.asarray(opts, dtype=float)[:, None]))
    # too many combinations: the blocks with most options keep only their nearest
    while math.prod(len(b) for _, b in blocks) > MAX_OPTIONS:
        i = max(range(len(blocks)), key=lambda b: len(blocks[b][1]))
        cols, opts = blocks[i]
        if len(opts) == 1:
            break
        blocks[i] = (cols, opts[[np.argmin(np.abs(opts - values[cols]).sum(-1))]])
    out = np.empty((math.prod(len(b) for _, b in blocks), space.dim))
    for row, combo in enumerate(itertools.product(*[range(len(b)) for _, b in blocks])):
        for (cols, opts), c in zip(blocks, combo, strict=True):
            out[row, cols] = opts[c]
    return torch.as_tensor(out, dtype=x.dtype, device=x.device)


def snap_nearest(space, X: Tensor) -> Tensor:
    """Each row of ``n x d`` ``X`` at its nearest allowed values, input by input
    (vectorized; a composition with a resolution by largest remainders). Not checked
    against constraints: rows that break one go through ``SearchSpace.snap``."""
    A = X.detach().cpu().double().numpy().copy()
    k = len(space.composition_names)
    comp = space.composition
    if comp is not None and comp.resolution is not None and k:
        r, units = comp.resolution, round(comp.total / comp.resolution)
        u = A[:, :k] / r
        floor = np.floor(u + 1e-9)
        left = (units - floor.sum(axis=1)).astype(int)
        order = np.argsort(-(u - floor), axis=1, kind="stable")
        for i in range(len(A)):
            floor[i, order[i, :max(left[i], 0)]] += 1
        decimals = max(0, -math.floor(math.log10(r))) + 3
        A[:, :k] = np.round(floor * r, decimals)
    for j, p in enumerate(space.parameters):
        if not p.on_grid:
            continue
        col = A[:, k + j]
        if p.is_categorical:
            A[:, k + j] = p.nearest(col)
        else:
            phys = 10.0**col if p.log_scale else col
            near = p.nearest(phys)
            A[:, k + j] = np.log10(near) if p.log_scale else near
    return torch.as_tensor(A, dtype=X.dtype, device=X.device)
