"""The tree-ensemble surrogate as a botorch EnsembleModel."""

from __future__ import annotations

import pytest
import torch
from botorch.models.model import ModelList
from botorch.posteriors.ensemble import EnsemblePosterior

from surrogates import (
    ForestSurrogate,
    GPSurrogate,
    SurrogateSettingsError,
    loo_predictions,
)

TK = {"dtype": torch.float64}


def _data(n: int = 24, d: int = 3):
    gen = torch.Generator().manual_seed(0)
    X = torch.rand(n, d, generator=gen, **TK)
    Y = (torch.sin(6 * X[:, :1]) + X[:, 1:2]).to(**TK)
    bounds = torch.tensor([[0.0] * d, [1.0] * d], **TK)
    return X, Y, bounds


@pytest.mark.parametrize("kind", ["random_forest", "extra_trees"])
def test_forward_is_batch_x_members_x_n_x_m(kind):
    X, Y, bounds = _data()
    model = ForestSurrogate(kind=kind, n_estimators=30, random_state=0).fit(X, Y, bounds)
    out = model(torch.rand(5, 4, 3, **TK))
    assert out.shape == (5, 30, 4, 1)  # batch x s x n x m
    post = model.posterior(torch.rand(7, 3, **TK))
    assert isinstance(post, EnsemblePosterior)
    assert post.mean.shape == (7, 1) and post.variance.shape == (7, 1)
    # the posterior mean is the mean over the trees (tolerance: float64 round-off)
    Xt = torch.rand(7, 3, **TK)
    torch.testing.assert_close(model.posterior(Xt).mean, model(Xt).mean(-3), rtol=0,
                               atol=1e-12)


def test_fits_the_data_and_spreads_away_from_it():
    X, Y, bounds = _data(60)
    model = ForestSurrogate(n_estimators=100, random_state=0).fit(X, Y, bounds)
    Xt = torch.rand(200, 3, generator=torch.Generator().manual_seed(1), **TK)
    Yt = torch.sin(6 * Xt[:, :1]) + Xt[:, 1:2]
    post = model.posterior(Xt)
    rmse = float((post.mean - Yt).pow(2).mean().sqrt())
    assert rmse < 0.35 * float(Yt.std())  # it learned the function, not the mean
    assert float(post.variance.min()) > 0  # bootstrap trees disagree off the data


def test_same_seed_same_model_and_round_seed_drives_default():
    X, Y, bounds = _data()
    Xt = torch.rand(9, 3, **TK)
    a = ForestSurrogate(random_state=3).fit(X, Y, bounds).posterior(Xt).mean
    b = ForestSurrogate(random_state=3).fit(X, Y, bounds).posterior(Xt).mean
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.manual_seed(11)
    c = ForestSurrogate().fit(X, Y, bounds).posterior(Xt).mean
    torch.manual_seed(11)
    d = ForestSurrogate().fit(X, Y, bounds).posterior(Xt).mean
    torch.testing.assert_close(c, d, rtol=0, atol=0)


def test_model_list_with_a_gp_gives_joint_mean_and_variance():
    X, Y, bounds = _data()
    gp = GPSurrogate().fit(X, Y, bounds)
    forest = ForestSurrogate(n_estimators=20, random_state=0).fit(X, -Y, bounds)
    post = ModelList(gp, forest).posterior(torch.rand(6, 3, **TK))
    assert post.mean.shape == (6, 2) and post.variance.shape == (6, 2)
    assert torch.isfinite(post.variance).all()


def test_leave_one_out_refits_without_the_row():
    X, Y, bounds = _data(15)
    model = ForestSurrogate(n_estimators=40, random_state=0).fit(X, Y, bounds)
    observed, mean, sd = loo_predictions(model)
    assert observed.shape == mean.shape == sd.shape == (15,)
    torch.testing.assert_close(observed, Y.squeeze(-1), rtol=0, atol=0)
    # left-out rows are predicted, not remembered: some error, finite everywhere
    assert float((mean - observed).abs().max()) > 1e-6 and torch.isfinite(sd).all()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"kind": "boosted"}, "kind='boosted'"),
    ({"n_estimators": 1}, "n_estimators=1"),
    ({"max_features": 0.0}, "max_features=0.0"),
])
def test_bad_settings_are_named(kwargs, match):
    # bad settings are a settings error (not a data error), naming the field
    with pytest.raises(SurrogateSettingsError, match=match) as err:
        ForestSurrogate(**kwargs)
    assert err.value.field == next(iter(kwargs))


def test_measured_designs_bring_no_hypervolume_improvement_with_forests():
    # with botorch's IndexSampler the baseline front and the candidates are drawn from
    # different trees per MC sample, and measured designs score as improvements
    from botorch.acquisition.multi_objective.logei import (
        qLogNoisyExpectedHypervolumeImprovement,
    )
    from botorch.sampling.get_sampler import get_sampler

    from optim.acquisition.builder import _sampler

    X, Y, bounds = _data(20, 2)
    model = ModelList(ForestSurrogate(random_state=0).fit(X, Y, bounds),
                      ForestSurrogate(random_state=1).fit(X, -Y + X[:, 1:], bounds))
    shape = torch.Size([64])

    def hvi_at_measured(sampler):
        acqf = qLogNoisyExpectedHypervolumeImprovement(
            model, ref_point=[-2.0, -2.0], X_baseline=X, sampler=sampler,
            prune_baseline=False, cache_root=False)
        with torch.no_grad():
            return float(acqf(X.unsqueeze(1)).exp().max())

    consistent = hvi_at_measured(_sampler(model, X, shape, 0))
    mixed = hvi_at_measured(get_sampler(model.posterior(X[:1]), shape, seed=0))
    # log-EI's smooth approximations leave ~1e-6 where the improvement is exactly 0
    assert consistent < 1e-5 and mixed > 100 * consistent, (consistent, mixed)
