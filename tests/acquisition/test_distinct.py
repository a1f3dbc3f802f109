"""No batch holds two copies of one experiment, nor repeats a pending one
(optim/search_space/distinct.py), whatever the acquisition surface looks like."""

from __future__ import annotations

import pytest
import torch
from botorch.acquisition.acquisition import AcquisitionFunction
from botorch.models.deterministic import GenericDeterministicModel

from optim.acquisition import AcquisitionContext, OptimizerSpec, propose
from optim.acquisition.specs import qLogNoisyExpectedHypervolumeImprovement
from optim.exceptions import ProposalError
from optim.objectives import Target
from optim.search_space import CategoricalParameter, NumericalParameter, SearchSpace
from optim.search_space.distinct import COPY_TOL, copies, distinct

TK = {"dtype": torch.float64}


class _Surface(AcquisitionFunction):
    """A pending-blind acquisition: ``flat`` (0 everywhere) or ``corner`` (minus the
    sum of the inputs: every start runs to the lowest corner, as a known cost pulls a
    batch when no hypervolume is to be gained)."""

    def __init__(self, kind: str, d: int) -> None:
        super().__init__(GenericDeterministicModel(lambda X: X[..., :1], num_outputs=1))
        self.kind = kind
        self.X_pending = None

    def set_X_pending(self, X_pending=None) -> None:  # noqa: N803 (botorch's name)
        self.X_pending = X_pending

    def forward(self, X):
        if self.kind == "flat":
            return (X * 0).sum(dim=(-1, -2))
        return -X.sum(dim=(-1, -2))


def _no_copies(space, X, pending=None, tol=COPY_TOL):
    feats = space.features(X)
    for k in range(len(X)):
        assert not copies(feats[k:k + 1], feats[:k], tol)[0], f"row {k} copies an earlier row"
    if pending is not None:
        assert not copies(feats, space.features(pending), tol).any(), "a pending row repeated"


def _context(space, pending):
    t = Target("a", "maximize", 0.0)
    Xb = space.sample(4, 0, **TK)
    model = GenericDeterministicModel(lambda X: X[..., :1], num_outputs=1)
    return AcquisitionContext(model, [t], space, Xb, pending, seed=3)


def _box():
    return SearchSpace((NumericalParameter("x1", 0.0, 1.0), NumericalParameter("x2", 0.0, 1.0)))


@pytest.mark.parametrize("kind", ["flat", "corner"])
@pytest.mark.parametrize("method", ["unit_cube", "polytope"])
def test_continuous_batch_has_no_copies_on_a_flat_or_cornered_surface(monkeypatch, kind,
                                                                     method):
    import optim.acquisition.builder as builder

    space = _box()
    pending = torch.tensor([[0.0, 0.0], [0.5, 0.5]], **TK)  # the corner itself is pending
    monkeypatch.setattr(builder, "_build", lambda ctx, spec, w=None: _Surface(kind, 2))
    X, _, notes = propose(_context(space, pending), 4, qLogNoisyExpectedHypervolumeImprovement(),
                          OptimizerSpec(num_restarts=4, raw_samples=64, method=method))
    assert X.shape == (4, 2)
    _no_copies(space, X, pending)
    assert float(space.max_violation(X).max()) <= 1e-6
    if kind == "corner":  # every start runs to (0, 0): all four were replaced
        assert any("copied a pending experiment" in n for n in notes)


def test_corner_replacements_are_the_best_distinct_points():
    # With the corner surface, a replacement is the best-scoring distinct alternative:
    # near the corner, not a random point.
    space = _box()
    X = torch.zeros(3, 2, **TK)

    def score(k, options, others):
        return -options.sum(-1)

    out, n = distinct(space, X, None, seed=0, score=score)
    assert n == 2
    _no_copies(space, out)
    torch.testing.assert_close(out[0], X[0])  # the first keeps its place
    for k in (1, 2):  # each replacement: the lowest-sum point of its own alternatives
        options = space.sample(512, 104729 * (k + 1), **TK)
        torch.testing.assert_close(out[k], options[options.sum(-1).argmin()], rtol=0, atol=0)
    assert float(out.sum(-1).max()) < 0.2


def test_model_free_replacement_is_the_farthest_point():
    space = _box()
    pending = torch.tensor([[0.2, 0.2]], **TK)
    out, n = distinct(space, torch.tensor([[0.2, 0.2]], **TK), pending, seed=0)
    assert n == 1
    # the farthest of 512 uniform samples from (0.2, 0.2) in the Chebyshev sense
    assert float((out - 0.2).abs().max()) > 0.7


def test_copies_tolerance_is_a_tenth_of_a_percent_of_each_range():
    space = SearchSpace((NumericalParameter("T", 300.0, 700.0),))
    X = torch.tensor([[500.0], [500.3], [500.5]], **TK)  # 0.075 % and 0.125 % of 400 K
    feats = space.features(X)
    assert copies(feats[1:2], feats[:1])[0]
    assert not copies(feats[2:3], feats[:1])[0]


def test_pool_batch_replaces_copies_from_the_pool_exactly():
    space = _box()
    pool = torch.tensor([[0.1, 0.1], [0.1, 0.1 + 1e-6], [0.9, 0.9]], **TK)
    X = torch.tensor([[0.1, 0.1], [0.1, 0.1]], **TK)
    out, n = distinct(space, X, None, seed=0, choices=pool)
    # pool rows are what exists: 1e-6 apart is another design
    assert n == 1 and len({tuple(r) for r in out.tolist()}) == 2


def test_categorical_rows_differ_by_choice():
    space = SearchSpace((NumericalParameter("x", 0.0, 1.0),
                         CategoricalParameter("metal", ("Mg", "Al", "Ag"))))
    X = space.encode(space.decode(torch.tensor([[0.5, 0.0], [0.5, 1.0]], **TK)), **TK)
    out, n = distinct(space, X, None, seed=0)
    assert n == 0  # same x, different metal: two experiments
    torch.testing.assert_close(out, X)


def test_no_distinct_alternative_is_an_error_not_a_silent_copy():
    space = _box()
    pool = torch.tensor([[0.3, 0.3]], **TK)
    with pytest.raises(ProposalError, match="no distinct feasible alternative"):
        distinct(space, torch.tensor([[0.3, 0.3]], **TK), pool.clone(), seed=0, choices=pool)


def test_a_round_of_a_campaign_whose_results_are_all_equal_has_distinct_proposals(tmp_path):
    # The flattest real surface: every measured value the same (each at its threshold,
    # so no row beats the reference point either). The model-based batch copies
    # nothing pending and nothing of itself.
    from optim.campaign import Campaign

    c = Campaign.from_config("oxychloride", overrides=[f"paths.runs={tmp_path}",
                                                       "tracking=none", "batch_size=4"])
    first = c.propose()
    done = first.batch[["id"]].copy()
    for t in c.settings.objectives.measured:
        done[t.name] = t.threshold
    c.record(done)
    pending = c.propose()  # model-based, left pending
    second = c.propose()
    assert second.strategy.model_based
    space = c.settings.space
    X = space.encode(second.batch[space.names], **TK)
    _no_copies(space, X, space.encode(pending.batch[space.names], **TK))
    assert len(second.batch) == 4


# --- before any row beats the thresholds: the probability of beating them ------------

def test_probability_of_beating_matches_the_normal_probabilities_of_a_hand_built_model():
    # Two objectives, each a GP with a known posterior at x; independent outputs, so
    # P(both beat) = Phi((mu1 - r1)/s1) * Phi((mu2 - r2)/s2) for one point (MC with
    # 2048 samples and botorch's eta = 1e-3 smoothing: tolerance 0.02).
    from botorch.models.model import ModelList
    from scipy.stats import norm

    from optim.acquisition.builder import probability_of_beating
    from surrogates import GPSurrogate

    gen = torch.Generator().manual_seed(0)
    X = torch.rand(12, 2, generator=gen, **TK)
    bounds = torch.tensor([[0.0, 0.0], [1.0, 1.0]], **TK)
    y1 = X.sum(-1, keepdim=True) + 0.05 * torch.randn(12, 1, generator=gen, **TK)
    y2 = (1 - X[:, :1]) + 0.05 * torch.randn(12, 1, generator=gen, **TK)
    m1, m2 = GPSurrogate().fit(X, y1, bounds), GPSurrogate().fit(X, y2, bounds)
    targets = [Target("a", "maximize", 1.2), Target("b", "minimize", 0.6)]
    ctx = AcquisitionContext(ModelList(m1, m2), targets, _box(), X, None, seed=0,
                             beaten=False)
    acqf = probability_of_beating(ctx, 2048)
    x = torch.tensor([[0.7, 0.6]], **TK)
    with torch.no_grad():
        p = float(acqf(x.unsqueeze(0)).exp())
        p1, p2 = (m.posterior(x) for m in (m1, m2))
        want = norm.cdf((float(p1.mean) - 1.2) / float(p1.variance.sqrt())) * \
            norm.cdf((0.6 - float(p2.mean)) / float(p2.variance.sqrt()))
    assert abs(p - want) < 0.02, (p, want)


def _demanding(tmp_path, threshold):
    from optim.campaign import Campaign

    return Campaign.from_config("oxychloride", overrides=[
        f"paths.runs={tmp_path}", "tracking=none", "lab=simulated",
        f"targets.conductivity_mS_cm.threshold={threshold}",
        "targets.cost_usd_per_L.threshold=1000"])  # every composition's cost beats it


def test_rows_all_missing_a_threshold_seek_the_probability_then_the_hypervolume(tmp_path):
    from optim.metrics import thresholds_beaten

    c = _demanding(tmp_path, 40.0)  # 40 mS/cm: no initial row comes near
    c.run(rounds=1)  # the initial design, measured by the simulated lab
    assert not thresholds_beaten(c.ledger, c.settings)
    result = c.propose()
    assert result.strategy.acquisition == "qLogPOF"
    assert result.strategy.improves == "probability"
    assert any(n.startswith("No measured experiment beats every threshold yet")
               for n in result.notes)
    p = result.metrics["p_beats_thresholds"]
    assert 0.0 < p < 0.5 and "expected_improvement" not in result.metrics
    space = c.settings.space
    _no_copies(space, space.encode(result.batch[space.names], **TK))
    # one of the batch measured beyond every threshold: the hypervolume returns
    c.record(result.batch[["id"]].iloc[:1].assign(conductivity_mS_cm=45.0,
                                                   retention_pct=95.0))
    assert thresholds_beaten(c.ledger, c.settings)
    after = c.propose()
    assert after.strategy.acquisition == "qLogNEHVI"
    assert "expected_improvement" in after.metrics


def test_before_thresholds_acquisition_keeps_the_hypervolume(tmp_path):
    from optim.campaign import Campaign

    c = Campaign.from_config("oxychloride", overrides=[
        f"paths.runs={tmp_path}", "tracking=none", "lab=simulated",
        "targets.conductivity_mS_cm.threshold=40",
        "acquisition.before_thresholds=acquisition"])
    c.run(rounds=1)
    assert c.propose().strategy.acquisition == "qLogNEHVI"


def test_before_thresholds_typo_is_a_config_error(tmp_path):
    from optim.campaign import Campaign
    from optim.exceptions import ConfigError

    with pytest.raises(ConfigError, match="before_thresholds='probabilty'"):
        Campaign.from_config("oxychloride", overrides=[
            f"paths.runs={tmp_path}", "tracking=none",
            "acquisition.before_thresholds=probabilty"])
