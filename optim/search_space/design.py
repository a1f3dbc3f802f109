"""Model-free designs: spread-out or random points, over a space or a finite set."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["far_half", "pick_random", "pick_spread"]


def far_half(u: np.ndarray, existing_u: np.ndarray) -> np.ndarray:
    """Mask of the rows of ``u`` at least the median distance from ``existing_u``
    (both unit-scaled): where new points fill the gaps between existing ones."""
    dist = np.min(np.linalg.norm(u[:, None] - existing_u[None], axis=-1), axis=1)
    return dist >= np.median(dist)


def pick_spread(choices: Tensor, n: int, seed: int, bounds: Tensor | None = None,
                existing: Tensor | None = None, features: np.ndarray | None = None,
                existing_features: np.ndarray | None = None) -> Tensor:
    """``n`` distinct rows of ``choices`` spread over them (k-means, nearest member).

    The finite-set counterpart of ``SearchSpace.space_filling``: cluster the choices
    (unit-scaled by ``bounds``, or given as ``features``, e.g. with categorical inputs
    one-hot) into ``n`` groups and take the member nearest each centroid. With
    ``existing`` points, only the half of the choices farthest from them is clustered.
    """
    if n >= len(choices):
        return choices
    if features is None:
        width = (bounds[1] - bounds[0]).clamp_min(1e-12)
        u = ((choices - bounds[0]) / width).cpu().numpy()
        if existing is not None and len(existing):
            existing_features = ((existing - bounds[0]) / width).cpu().numpy()
    else:
        u = features
    candidates = np.arange(len(u))
    if existing_features is not None and len(existing_features):
        far = candidates[far_half(u, existing_features)]
        if len(far) >= n:
            candidates = far
    from sklearn.cluster import KMeans

    kmeans = KMeans(n_clusters=n, n_init=4, random_state=seed).fit(u[candidates])
    picked: list[int] = []
    for centre in kmeans.cluster_centers_:
        order = np.argsort(np.linalg.norm(u[candidates] - centre, axis=-1))
        picked.append(int(next(candidates[j] for j in order if candidates[j] not in picked)))
    return choices[torch.as_tensor(picked, device=choices.device)]


def pick_random(choices: Tensor, n: int, seed: int) -> Tensor:
    """``n`` distinct rows of ``choices`` uniformly at random (seeded)."""
    gen = torch.Generator().manual_seed(seed)
    index = torch.randperm(len(choices), generator=gen)[:n]
    return choices[index.to(choices.device)]
