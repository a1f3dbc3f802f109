"""Cross-validated variance calibration of the GP (surrogates/calibration.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from surrogates import GPSurrogate
from surrogates.calibration import FACTOR_RANGE, Z90, cv_factor, fold_errors, scaled
from surrogates.exceptions import SurrogateSettingsError

TK = {"dtype": torch.float64}


def _data(n=30, seed=0):
    gen = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 3, generator=gen, **TK)
    y = (torch.sin(6 * X[:, :1]) + X[:, 1:2] ** 2 + 0.3 * (X[:, 2:] > 0.5)
         + 0.05 * torch.randn(n, 1, generator=gen, **TK))
    return X, y, torch.stack([torch.zeros(3), torch.ones(3)]).to(**TK)


def test_cv_factor_by_hand():
    # |z| = 0.1 .. 1.0 and 3.0: the 90th percentile (numpy's linear rule) of the 11
    # values is 1.0; c = (1.0 / 1.6449)^2 = 0.3696
    z = np.array([0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.7, -0.8, 0.9, 1.0, 3.0])
    assert np.quantile(np.abs(z), 0.9) == pytest.approx(1.0)
    assert cv_factor(z) == pytest.approx((1.0 / Z90) ** 2, rel=1e-12)
    assert cv_factor(np.full(10, 1e-6)) == FACTOR_RANGE[0]  # clipped
    assert cv_factor(np.full(10, 1e3)) == FACTOR_RANGE[1]


def test_scaled_keeps_the_mean_and_multiplies_every_variance():
    X, y, bounds = _data()
    model = GPSurrogate().fit(X, y, bounds)
    big = scaled(model, 2.5)
    Xq = torch.rand(7, 3, **TK)
    with torch.no_grad():
        p0, p1 = model.posterior(Xq), big.posterior(Xq)
        n0, n1 = model.posterior(Xq, observation_noise=True), big.posterior(
            Xq, observation_noise=True)
    torch.testing.assert_close(p1.mean, p0.mean, rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(p1.variance, 2.5 * p0.variance, rtol=1e-6, atol=1e-12)
    torch.testing.assert_close(n1.variance, 2.5 * n0.variance, rtol=1e-6, atol=1e-12)
    torch.testing.assert_close(p1.mvn.covariance_matrix, 2.5 * p0.mvn.covariance_matrix,
                               rtol=1e-6, atol=1e-12)
    assert big.variance_factor == 2.5
    # the original is untouched
    with torch.no_grad():
        torch.testing.assert_close(model.posterior(Xq).variance, p0.variance)


def test_calibrated_gp_is_the_plain_fit_scaled_by_its_own_fold_errors():
    # Fixed seed: the calibrated model's variances are the plain model's times the
    # factor recomputed here from the fold errors (5 refits on fixed folds).
    X, y, bounds = _data()
    torch.manual_seed(0)
    plain = GPSurrogate().fit(X, y, bounds)
    torch.manual_seed(0)
    cal = GPSurrogate(calibrate="cv").fit(X, y, bounds)
    z = fold_errors(lambda a, b: GPSurrogate(min_measurements=2).fit(a, b, bounds), X, y)
    assert z.shape == (30,)
    c = cv_factor(z)
    assert cal.variance_factor == pytest.approx(c, rel=1e-9)
    assert c > 1.0  # over-confident at 30 points, as on the Liang sets
    Xq = torch.rand(5, 3, **TK)
    with torch.no_grad():
        torch.testing.assert_close(cal.posterior(Xq).variance, c * plain.posterior(Xq).variance,
                                   rtol=1e-5, atol=1e-12)


def test_calibrated_gp_has_batched_shapes_and_gradients():
    X, y, bounds = _data()
    cal = GPSurrogate(calibrate="cv").fit(X, y, bounds)
    Xq = torch.rand(4, 2, 3, **TK, requires_grad=True)
    post = cal.posterior(Xq)
    assert post.mean.shape == (4, 2, 1)
    (post.mean.sum() + post.variance.sum()).backward()
    assert Xq.grad is not None and torch.isfinite(Xq.grad).all()


def test_few_rows_are_not_calibrated_and_a_typo_is_an_error():
    X, y, bounds = _data(n=5)
    assert not hasattr(GPSurrogate(calibrate="cv").fit(X, y, bounds), "variance_factor")
    with pytest.raises(SurrogateSettingsError, match="calibrate='CV'"):
        GPSurrogate(calibrate="CV")


def test_calibrated_intervals_cover_held_out_points_better_at_30_rows():
    # A rough function with a jump, 30 training rows: the plain GP's held-out 90 %
    # intervals cover less than the calibrated one's (each on 400 held-out points).
    X, y, bounds = _data(n=430, seed=3)
    covers = []
    for calibrate in ("none", "cv"):
        torch.manual_seed(0)
        m = GPSurrogate(calibrate=calibrate).fit(X[:30], y[:30], bounds)
        with torch.no_grad():
            post = m.posterior(X[30:], observation_noise=True)
        z = ((y[30:] - post.mean) / post.variance.sqrt()).abs()
        covers.append(float((z <= Z90).double().mean()))
    assert covers[1] > covers[0], covers
