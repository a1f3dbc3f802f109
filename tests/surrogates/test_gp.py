"""GP surrogate: contract, equality with raw botorch, input validation."""

from __future__ import annotations

import pickle

import pytest
import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.input import Normalize
from botorch.models.transforms.outcome import Standardize
from gpytorch.mlls import ExactMarginalLogLikelihood

from surrogates import GPSurrogate, SurrogateSettingsError, TrainingDataError, known_model

TK = {"dtype": torch.float64}


def _data(n=12, d=3):
    X = torch.rand(n, d, **TK) * torch.tensor([1.0, 10.0, 100.0], **TK)[:d]
    Y = (X[:, :1] - 0.5) ** 2 + torch.sin(X[:, 1:2])
    bounds = torch.tensor([[0.0, 0.0, 0.0], [1.0, 10.0, 100.0]], **TK)[:, :d]
    return X, Y, bounds


def test_fit_shapes_dtype_and_variance():
    X, Y, bounds = _data()
    model = GPSurrogate().fit(X, Y, bounds)
    post = model.posterior(torch.rand(5, 3, **TK))
    assert post.mean.shape == (5, 1) and post.mean.dtype == torch.float64
    assert (post.variance > 0).all()
    pickle.loads(pickle.dumps(model))


def test_equals_raw_botorch_under_same_seed():
    X, Y, bounds = _data()
    torch.manual_seed(1)
    ours = GPSurrogate().fit(X, Y, bounds)
    torch.manual_seed(1)
    raw = SingleTaskGP(X, Y, input_transform=Normalize(3, bounds=bounds),
                       outcome_transform=Standardize(1))
    fit_gpytorch_mll(ExactMarginalLogLikelihood(raw.likelihood, raw))
    raw.eval()
    Xt = torch.rand(4, 3, **TK)
    # Same deterministic L-BFGS-B fit on the same data: equal to float64 round-off.
    torch.testing.assert_close(ours.posterior(Xt).mean, raw.posterior(Xt).mean,
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda X, Y: (X.float(), Y), "float64"),
        (lambda X, Y: (X, Y.clone().fill_(float("nan"))), "NaN"),
        (lambda X, Y: (X[:5], Y), "rows"),
        (lambda X, Y: (X[:2], Y[:2]), "need at least 3"),
    ],
    ids=["float32", "nan", "mismatch", "too-few"],
)
def test_bad_training_data(mutate, match):
    X, Y, bounds = _data()
    X, Y = mutate(X, Y)
    with pytest.raises(TrainingDataError, match=match):
        GPSurrogate().fit(X, Y, bounds)


def test_bad_settings_are_a_settings_error():
    with pytest.raises(SurrogateSettingsError, match="min_measurements=1") as err:
        GPSurrogate(min_measurements=1)
    assert err.value.field == "min_measurements" and err.value.value == 1


def test_known_model_is_exact():
    model = known_model(lambda X: X.sum(-1, keepdim=True))
    X = torch.rand(2, 4, 3, **TK)
    post = model.posterior(X)
    torch.testing.assert_close(post.mean, X.sum(-1, keepdim=True), rtol=0, atol=0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fit_on_cuda():
    X, Y, bounds = _data()
    model = GPSurrogate().fit(X.cuda(), Y.cuda(), bounds.cuda())
    assert model.posterior(X[:2].cuda()).mean.device.type == "cuda"


def test_closed_form_loo_equals_explicit_leave_one_out():
    """Against n explicit posteriors, each conditioned on the other n-1 points.

    Hyperparameters stay fixed (as in the closed form), so both are exact; agreement to
    1e-8 allows for the different order of float64 operations.
    """
    from surrogates import loo_predictions

    X, Y, bounds = _data(n=10)
    model = GPSurrogate().fit(X, Y, bounds)
    observed, mean, sd = loo_predictions(model)
    torch.testing.assert_close(observed, Y.squeeze(-1), rtol=1e-10, atol=1e-10)
    Xn, yn = model.train_inputs[0], model.train_targets
    for i in range(10):
        keep = [j for j in range(10) if j != i]
        K = model.covar_module(Xn[keep]).to_dense() + model.likelihood.noise * torch.eye(9,
                                                                                         **TK)
        k = model.covar_module(Xn[[i]], Xn[keep]).to_dense()
        m0 = model.mean_module(Xn)
        mu = m0[i] + (k @ torch.linalg.solve(K, (yn[keep] - m0[keep]).unsqueeze(-1))).squeeze()
        var = (model.covar_module(Xn[[i]]).to_dense().squeeze() + model.likelihood.noise
               - (k @ torch.linalg.solve(K, k.T)).squeeze())
        std = model.outcome_transform.stdvs.squeeze()
        mean_i = mu * std + model.outcome_transform.means.squeeze()
        torch.testing.assert_close(mean[i], mean_i.squeeze(), rtol=1e-8, atol=1e-8)
        torch.testing.assert_close(sd[i], (var.sqrt() * std).squeeze(), rtol=1e-8, atol=1e-8)


def test_many_rows_learn_hyperparameters_on_a_subset_and_condition_on_all():
    gen = torch.Generator().manual_seed(0)
    X = torch.rand(60, 3, generator=gen, **TK) * torch.tensor([1.0, 10.0, 100.0], **TK)
    Y = (X[:, :1] - 0.5) ** 2 + torch.sin(X[:, 1:2])
    _, _, bounds = _data()
    model = GPSurrogate(fit_rows=20).fit(X, Y, bounds)
    # conditioned on every row ...
    assert model.train_inputs[0].shape[-2] == 60
    # ... with the hyperparameters of an exact fit on the documented subset
    rows = torch.randperm(60, generator=torch.Generator().manual_seed(60))[:20]
    subset = GPSurrogate(fit_rows=None).fit(X[rows], Y[rows], bounds)
    torch.testing.assert_close(model.covar_module.lengthscale,
                               subset.covar_module.lengthscale, rtol=1e-12, atol=0)
    torch.testing.assert_close(model.likelihood.noise, subset.likelihood.noise,
                               rtol=1e-12, atol=0)
    # the full data's standardization, not the subset's
    torch.testing.assert_close(model.outcome_transform.means.squeeze(), Y.mean(),
                               rtol=1e-12, atol=0)
    # at or below fit_rows: the exact fit, unchanged
    exact = GPSurrogate(fit_rows=None).fit(X, Y, bounds)
    same = GPSurrogate(fit_rows=60).fit(X, Y, bounds)
    torch.testing.assert_close(same.covar_module.lengthscale, exact.covar_module.lengthscale,
                               rtol=0, atol=0)


@pytest.mark.parametrize("value", [5, 2.5, True, "300"])
def test_bad_fit_rows_is_a_settings_error(value):
    with pytest.raises(SurrogateSettingsError, match="fit_rows") as err:
        GPSurrogate(fit_rows=value)
    assert err.value.field == "fit_rows"


def test_replicates_are_left_out_together():
    """A row with a twin (the same inputs, a second measurement) is predicted from the
    other samples only: equal to the explicit posterior without both rows."""
    from surrogates import loo_predictions

    X, Y, bounds = _data(n=10)
    X = torch.cat([X, X[[3]]])  # row 10 replicates row 3
    Y = torch.cat([Y, Y[[3]] + 0.05])
    model = GPSurrogate().fit(X, Y, bounds)
    _, mean, sd = loo_predictions(model)
    Xn, yn = model.train_inputs[0], model.train_targets
    keep = [j for j in range(11) if j not in (3, 10)]
    K = model.covar_module(Xn[keep]).to_dense() + model.likelihood.noise * torch.eye(9, **TK)
    m0 = model.mean_module(Xn)
    std = model.outcome_transform.stdvs.squeeze()
    for i in (3, 10):
        k = model.covar_module(Xn[[i]], Xn[keep]).to_dense()
        mu = m0[i] + (k @ torch.linalg.solve(K, (yn[keep] - m0[keep]).unsqueeze(-1))).squeeze()
        var = (model.covar_module(Xn[[i]]).to_dense().squeeze() + model.likelihood.noise
               - (k @ torch.linalg.solve(K, k.T)).squeeze())
        mean_i = mu * std + model.outcome_transform.means.squeeze()
        torch.testing.assert_close(mean[i], mean_i.squeeze(), rtol=1e-8, atol=1e-8)
        torch.testing.assert_close(sd[i], (var.sqrt() * std).squeeze(), rtol=1e-8, atol=1e-8)
