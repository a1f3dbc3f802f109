"""Outcome constraints and learned feasibility in the acquisition function.

Hand-built models on one input x in [0, 1]: the objectives improve with x, while a
constraint target (or the failures) rule out x > 0.6. The constrained acquisition must
prefer a feasible x = 0.4 over the infeasible x = 0.9 with the better objectives; the
same models without the constraint prefer x = 0.9.
"""

from __future__ import annotations

import pytest
import torch
from botorch.models.model import ModelList

from optim.acquisition import AcquisitionContext, batch_value
from optim.acquisition.specs import qLogNoisyExpectedHypervolumeImprovement, qLogNParEGO
from optim.objectives import Target
from optim.search_space import NumericalParameter, SearchSpace
from surrogates import DirichletGPClassifier, GPSurrogate, success_probability

TK = {"dtype": torch.float64}
X = torch.linspace(0, 1, 15, **TK).unsqueeze(-1)
BOUNDS = torch.tensor([[0.0], [1.0]], **TK)
SPACE = SearchSpace((NumericalParameter("x", 0.0, 1.0),))
FEASIBLE, INFEASIBLE = torch.tensor([[0.4]], **TK), torch.tensor([[0.9]], **TK)
BASE = X[:4]  # measured so far: x <= 0.21 (both points below improve on them)
A = Target("a", "maximize", 0.0)
B = Target("b", "maximize", 0.0)
SPECS = (qLogNoisyExpectedHypervolumeImprovement(mc_samples=128), qLogNParEGO(mc_samples=128))


def _gp(y):
    noise = 0.05 * torch.randn(len(y), generator=torch.Generator().manual_seed(len(y)), **TK)
    return GPSurrogate().fit(X, (y + noise).unsqueeze(-1), BOUNDS)


def _objectives():
    # both objectives grow with x: x = 0.9 dominates x = 0.4
    return _gp(2 * X[:, 0]), _gp(1 + X[:, 0] ** 2)


def _value(ctx, spec, x):
    weights = torch.tensor([0.5, 0.5], **TK) if isinstance(spec, qLogNParEGO) else None
    return batch_value(ctx, spec, x, weights)


@pytest.mark.filterwarnings("ignore::linear_operator.utils.warnings.NumericalWarning")
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_a_declared_constraint_prefers_the_feasible_point(spec):
    ga, gb = _objectives()
    gc = _gp(1.0 - 2 * (X[:, 0] - 0.6))  # >= 1 exactly where x <= 0.6
    limit = Target("c", "maximize", 0.5, constraint=(1.0, None), objective=False)
    free = AcquisitionContext(ModelList(ga, gb), [A, B], SPACE, BASE, None, seed=0)
    assert _value(free, spec, INFEASIBLE) > _value(free, spec, FEASIBLE)
    bound = AcquisitionContext(ModelList(ga, gb, gc), [A, B, limit], SPACE, BASE, None,
                               seed=0)
    assert _value(bound, spec, FEASIBLE) > 10 * _value(bound, spec, INFEASIBLE)


@pytest.mark.filterwarnings("ignore::linear_operator.utils.warnings.NumericalWarning")
def test_a_constraint_on_an_objective_keeps_it_an_objective():
    ga, gb = _objectives()
    capped = Target("b", "maximize", 0.0, constraint=(None, 1.5))  # b <= 1.5: x <= 0.7
    ctx = AcquisitionContext(ModelList(ga, gb), [A, capped], SPACE, BASE, None, seed=0)
    assert [t.name for t in ctx.objectives] == ["a", "b"]
    spec = SPECS[0]
    assert _value(ctx, spec, FEASIBLE) > 10 * _value(ctx, spec, INFEASIBLE)


@pytest.mark.filterwarnings("ignore::linear_operator.utils.warnings.NumericalWarning")
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_learned_feasibility_prefers_where_experiments_succeed(spec):
    ga, gb = _objectives()
    ok = (X[:, 0] <= 0.6).to(**TK)  # every experiment above x = 0.6 failed
    classifier = DirichletGPClassifier().fit(X, ok, BOUNDS)
    with torch.no_grad():
        p = success_probability(classifier, torch.cat([FEASIBLE, INFEASIBLE]))
    assert p[0] > 0.8 and p[1] < 0.3
    free = AcquisitionContext(ModelList(ga, gb), [A, B], SPACE, BASE, None, seed=0)
    ctx = AcquisitionContext(ModelList(ga, gb), [A, B], SPACE, BASE, None, seed=0,
                             feasibility=classifier)
    assert _value(free, spec, INFEASIBLE) > _value(free, spec, FEASIBLE)
    assert _value(ctx, spec, FEASIBLE) > _value(ctx, spec, INFEASIBLE)
    # the weight is the classifier's probability: the ratio to the unweighted value
    for x, prob in ((FEASIBLE, p[0]), (INFEASIBLE, p[1])):
        ratio = _value(ctx, spec, x) / _value(free, spec, x)
        assert ratio == pytest.approx(float(prob), abs=0.1)


@pytest.mark.filterwarnings("ignore::linear_operator.utils.warnings.NumericalWarning")
def test_pending_points_still_count_with_feasibility():
    # botorch's probability form of a classifier constraint (fat=None) made every
    # baseline and pending point look infeasible to qLogNEHVI's partitioning, so a
    # pending copy of a candidate left its value unchanged (batches of duplicates)
    ga, gb = _objectives()
    ok = (X[:, 0] <= 0.6).to(**TK)
    classifier = DirichletGPClassifier().fit(X, ok, BOUNDS)
    spec = SPECS[0]
    alone = AcquisitionContext(ModelList(ga, gb), [A, B], SPACE, BASE, None, seed=0,
                               feasibility=classifier)
    pending = AcquisitionContext(ModelList(ga, gb), [A, B], SPACE, BASE, FEASIBLE, seed=0,
                                 feasibility=classifier)
    assert _value(pending, spec, FEASIBLE) < 0.5 * _value(alone, spec, FEASIBLE)
