"""Model checks: leave-one-out predictions of a fitted surrogate.

GPs: closed form for fixed hyperparameters (Rasmussen & Williams 2006, section 5.4.2): with
``K`` the noisy training covariance and ``alpha = K^-1 y``, the prediction for point
``i`` from all other points has mean ``y_i - alpha_i / [K^-1]_ii`` and variance
``1 / [K^-1]_ii``. One Cholesky factorization instead of ``n`` refits. Forests are
refitted ``n`` times (cheap for campaign-sized data).

Replicates (rows with identical inputs: a second pellet of the same sample) are left
out together: leaving one out while its twin stays in would predict it from its own
measurement and overstate the model. For a group ``G`` the closed form is the block
version, mean ``y_G - ([K^-1]_GG)^-1 alpha_G`` and covariance ``([K^-1]_GG)^-1``.
"""

from __future__ import annotations

import torch
from botorch.models import SingleTaskGP
from torch import Tensor

from surrogates.checkpoints import AtFidelity
from surrogates.forest import ForestModel

__all__ = ["loo_predictions"]


def loo_predictions(model: SingleTaskGP | ForestModel) -> tuple[Tensor, Tensor, Tensor]:
    """Leave-one-out predictions of a fitted single-output model.

    Args:
        model: Fitted ``SingleTaskGP`` (with optional ``Normalize``/``Standardize``
            transforms) or ``ForestModel``.

    Returns:
        ``(observed, mean, sd)``, each ``n``, on the model's original output scale
        (before ``Standardize``), i.e. the scale the model was fitted on.
    """
    if isinstance(model, ForestModel):
        return _forest_loo(model)
    if isinstance(model, AtFidelity):
        return _checkpoint_loo(model)
    return _gp_loo(model)


def _gp_loo(model: SingleTaskGP, groups: list[Tensor] | None = None,
            ) -> tuple[Tensor, Tensor, Tensor]:
    """Closed-form leave-one-out of a GP; ``groups``: index sets left out together
    (default: rows sharing their inputs)."""
    model.eval()
    X = model.train_inputs[0]
    y = model.train_targets  # standardized when an outcome transform is present
    with torch.no_grad():
        prior_mean = model.mean_module(X)
        K = model.covar_module(X).to_dense()
        # each training row's noise (per-point for fixed or fidelity noise models)
        noise = model.likelihood.noise_covar(X, shape=torch.Size([X.shape[0]])).diagonal()
        noise = noise.reshape(-1).expand(X.shape[0])
        K = K + torch.diag_embed(noise)
        L = torch.linalg.cholesky(K)
        K_inv = torch.cholesky_inverse(L)
        resid = (y - prior_mean).unsqueeze(-1)
        alpha = (K_inv @ resid).squeeze(-1)
        diag = K_inv.diagonal()
        mean = y - alpha / diag
        var = 1.0 / diag
        for group in _replicate_groups(X) if groups is None else groups:  # left out
            # together (block closed form)
            block = torch.linalg.inv(K_inv[group][:, group])
            mean[group] = y[group] - block @ alpha[group]
            var[group] = block.diagonal()
        observed = y
        tf = getattr(model, "outcome_transform", None)
        if tf is not None:
            observed = tf.untransform(observed.unsqueeze(-1))[0].squeeze(-1)
            mean_u, var_u = tf.untransform(mean.unsqueeze(-1), var.unsqueeze(-1))
            mean, var = mean_u.squeeze(-1), var_u.squeeze(-1)
    return observed, mean, var.clamp_min(0).sqrt()


def _checkpoint_loo(model: AtFidelity) -> tuple[Tensor, Tensor, Tensor]:
    """Each cell with a final reading left out with all its readings: its final value
    predicted from the other cells (what the round predicts for a new cell)."""
    gp = model.model
    X = gp.train_inputs[0]
    inputs, fidelity = X[:, :-1], X[:, -1]
    _, cell = torch.unique(inputs, dim=0, return_inverse=True)
    groups = [torch.nonzero(cell == c).flatten() for c in torch.unique(cell)]
    observed, mean, sd = _gp_loo(gp, groups)
    final = fidelity >= 1 - 1e-9
    return observed[final], mean[final], sd[final]


def _replicate_groups(X: Tensor) -> list[Tensor]:
    """Indices of rows sharing their inputs, one tensor per group of two or more."""
    _, inverse, counts = torch.unique(X, dim=0, return_inverse=True, return_counts=True)
    return [torch.nonzero(inverse == g).flatten() for g in torch.nonzero(counts > 1).flatten()]


def _forest_loo(model: ForestModel) -> tuple[Tensor, Tensor, Tensor]:
    """Refit without each row (and its replicates); mean and sd over the trees there."""
    means, sds = [], []
    _, inverse = torch.unique(model.train_X, dim=0, return_inverse=True)
    with torch.no_grad():
        for i in range(model.train_X.shape[0]):
            post = model.refit_without(inverse == inverse[i]).posterior(
                model.train_X[i : i + 1])
            means.append(post.mean.reshape(()))
            sds.append(post.variance.clamp_min(0).sqrt().reshape(()))
    return model.train_Y.squeeze(-1), torch.stack(means), torch.stack(sds)
