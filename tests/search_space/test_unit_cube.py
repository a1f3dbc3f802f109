"""The unit cube mapped onto the feasible region (optim.search_space.unit_cube).

Every point of the cube must decode to a point satisfying every bound, the mixture sum
and every inequality constraint to 1e-9, and every feasible point must have a
preimage; checked on both campaigns and on a 5-component composition with ratio and
sum constraints.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from optim.search_space import CompositionParameter, NumericalParameter, SearchSpace
from optim.search_space.constraints import LinearConstraint
from tests.helpers import make_settings

TOL = 1e-9


def _five_component() -> SearchSpace:
    comp = CompositionParameter(
        "aLi2S-bP2S5-cLiCl-dLiBr-eLiI",
        {"Li2S": (0.3, 0.8), "P2S5": (0.05, 0.4), "LiCl": (0.0, 0.3), "LiBr": (0.0, 0.3),
         "LiI": (0.0, 0.2)})
    constraints = (
        # halides together at least 10 % and at most 40 %
        LinearConstraint({"LiCl": 1.0, "LiBr": 1.0, "LiI": 1.0}, 0.1, description="X >= 0.1"),
        LinearConstraint({"LiCl": -1.0, "LiBr": -1.0, "LiI": -1.0}, -0.4,
                         description="X <= 0.4"),
        # Li2S / P2S5 <= 6  <=>  6 P2S5 - Li2S >= 0
        LinearConstraint({"P2S5": 6.0, "Li2S": -1.0}, 0.0, description="Li2S/P2S5 <= 6"),
        # a process parameter coupled to the composition: T + 400 LiI >= 150
        LinearConstraint({"anneal_C": 1.0, "LiI": 400.0}, 150.0,
                         description="anneal_C + 400 LiI >= 150"),
    )
    return SearchSpace((NumericalParameter("anneal_C", 25.0, 300.0),
                        NumericalParameter("time_h", 0.5, 24.0, log_scale=True)),
                       comp, constraints)


@pytest.fixture(params=["oxychloride", "interlayer", "five_component"])
def space(request, tmp_path) -> SearchSpace:
    if request.param == "five_component":
        return _five_component()
    return make_settings(request.param, tmp_path).space


def _cube_points(m: int, n: int = 20_000) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    inside = torch.rand(n, m, generator=gen, dtype=torch.float64)
    corners = torch.tensor(list(itertools.product([0.0, 1.0], repeat=m)),
                           dtype=torch.float64)
    return torch.cat([inside, corners])


def test_every_point_of_the_cube_decodes_to_a_feasible_input(space):
    cube = space.unit_cube
    assert cube is not None
    assert cube.m == space.dim - (1 if space.composition else 0)
    X = cube.decode(_cube_points(cube.m))
    assert X.shape[-1] == space.dim
    assert float(space.max_violation(X, grid=False).max()) <= TOL  # grids: snapped later
    if space.composition:  # the sum holds exactly to round-off
        k = len(space.composition_names)
        torch.testing.assert_close(X[:, :k].sum(-1), torch.ones(len(X), dtype=X.dtype),
                                   rtol=0, atol=TOL)


def test_every_feasible_input_has_a_preimage(space):
    cube = space.unit_cube
    X = space.sample(2000, seed=3, dtype=torch.float64)
    U = cube.encode(X)
    assert float(U.min()) >= 0.0 and float(U.max()) <= 1.0
    torch.testing.assert_close(cube.decode(U), X, rtol=0, atol=TOL)


def test_the_cube_reaches_the_constraint_boundaries(tmp_path):
    # the map is onto: the extreme compositions a chemist would ask about are reachable
    space = make_settings("oxychloride", tmp_path).space
    X = space.unit_cube.decode(_cube_points(space.unit_cube.m))
    li2o = X[:, 0]
    assert float(li2o.min()) == pytest.approx(0.30, abs=TOL)  # its lower bound
    # O/(Zr+Al) <= 2.3 caps Li2O at 2.3/3.3 of the mixture
    assert float(li2o.max()) == pytest.approx(2.3 / 3.3, abs=TOL)


def test_decode_is_differentiable_for_gradient_based_optimizers():
    space = _five_component()
    U = torch.full((3, 1, space.unit_cube.m), 0.4, dtype=torch.float64, requires_grad=True)
    space.unit_cube.decode(U).sum().backward()
    assert U.grad is not None and torch.isfinite(U.grad).all()


def test_a_model_round_proposes_on_the_cube_within_1e9(tmp_path):
    from tests.helpers import SMOKE, make_campaign, measure

    campaign = make_campaign("oxychloride", tmp_path, [*SMOKE, "initial_design.n=8"])
    campaign.propose()
    measure(campaign.settings, tmp_path)
    result = campaign.propose()
    assert result.strategy.model_based
    space = campaign.settings.space
    X = space.encode(result.batch, dtype=torch.float64)
    assert float(space.max_violation(X).max()) <= TOL
