"""Mixed spaces: integer, discrete, categorical, resolution, cardinality, shared."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from optim.exceptions import ConfigError, LedgerError
from optim.ledger import Ledger
from optim.pool import CandidatePool
from optim.rounds import plan_round
from optim.search_space import (
    CategoricalParameter,
    CompositionParameter,
    NumericalParameter,
    SearchSpace,
)
from optim.search_space.snapping import SNAP_TOLERANCE
from surrogates import ForestSurrogate
from surrogates.gp import GPSurrogate
from tests.helpers import SMOKE, make_campaign, make_settings

TK = {"dtype": torch.float64}


def _space(**comp) -> SearchSpace:
    composition = CompositionParameter(
        "xLi2O-yZrCl4-zAlCl3", {"Li2O": (0.3, 0.75), "ZrCl4": (0.0, 0.6),
                                "AlCl3": (0.0, 0.5)}, **comp)
    params = (NumericalParameter("T_C", 25, 320, resolution=5),
              NumericalParameter("rpm", 300, 650, kind="integer", step=50),
              NumericalParameter("t_h", 1, 12, kind="integer"),
              NumericalParameter("T2_C", None, None, kind="discrete", values=(150, 200, 250)),
              CategoricalParameter("seed", ("Mg", "Sn", "Au", "none")))
    return SearchSpace(params, composition)


def _on_grid(space: SearchSpace, frame: pd.DataFrame) -> None:
    assert set(frame["rpm"]) <= {300.0 + 50 * k for k in range(8)}
    assert set(frame["t_h"]) <= set(map(float, range(1, 13)))
    assert set(frame["T2_C"]) <= {150.0, 200.0, 250.0}
    assert set(frame["seed"]) <= {"Mg", "Sn", "Au", "none"}
    assert ((frame["T_C"] / 5).round() * 5 - frame["T_C"]).abs().max() < 1e-9


# ------------------------------------------------------------------ config errors
@pytest.mark.parametrize("make, key", [
    (lambda: CategoricalParameter("seed", ()), "choices"),
    (lambda: CategoricalParameter("seed", ("Mg", "Mg")), "choices"),
    (lambda: NumericalParameter("rpm", 300, 650, kind="integer", step=40), "step"),
    (lambda: NumericalParameter("t", 1.5, 11.5, kind="integer"), "lower"),
    (lambda: NumericalParameter("T", None, None, kind="discrete", values=(1,)), "values"),
    (lambda: NumericalParameter("T", 0, 10, resolution=-1), "resolution"),
    (lambda: NumericalParameter("T", 0, 10, kind="integer", resolution=1), "resolution"),
    (lambda: CompositionParameter("xLi2O-yZrCl4", {}, max_components=3), "max_components"),
    (lambda: CompositionParameter("xLi2O-yZrCl4", {}, resolution=0.3), "resolution"),
    (lambda: CompositionParameter("xLi2O-yZrCl4", {}, min_fraction=1.5), "min_fraction"),
])
def test_bad_parameter_settings_name_the_key(make, key):
    with pytest.raises(ConfigError) as err:
        make()
    assert err.value.key == key


def test_config_errors_name_file_and_key(tmp_path):
    with pytest.raises(ConfigError, match=r"oxychloride.yaml, key search_space.parameters"
                       r".milling_speed_rpm.step: step=40 does not divide"):
        make_settings("oxychloride", tmp_path,
                      ["search_space.parameters.milling_speed_rpm.step=40"])
    with pytest.raises(ConfigError, match=r"interlayer.yaml, key search_space.parameters"
                       r".seed_metal.choices"):
        make_settings("interlayer", tmp_path, ["search_space.parameters.seed_metal.choices=[]"])
    with pytest.raises(ConfigError, match=r"key search_space.composition.max_components"):
        make_settings("oxychloride", tmp_path, ["+search_space.composition.max_components=4"])


# ------------------------------------------------------------ reading the ledger
@pytest.mark.parametrize("column, text, match", [
    ("seed", "Cu", r"column 'seed': value='Cu' is not one of the choices \['Mg', 'Sn', "
                   r"'Au', 'none'\]"),
    ("seed", "sn", r"did you mean 'Sn'"),
    ("rpm", "375", r"column 'rpm': value='375' is not a value 300 \+ k x 50"),
    ("t_h", "300.5", r"column 't_h': value=300.5 is outside the bounds \[1, 12\]"),
    ("t_h", "4.5", r"column 't_h': value='4.5' is not a whole number in \[1, 12\]"),
    ("T2_C", "175", r"column 'T2_C': value='175' is not one of \[150, 200, 250\]"),
])
def test_bad_cells_name_row_column_value_and_choices(column, text, match):
    from optim.cells import parse_inputs

    rec = {"Li2O": "0.6", "ZrCl4": "0.3", "AlCl3": "0.1", "T_C": "100", "rpm": "500",
           "t_h": "3", "T2_C": "200", "seed": "Mg"}
    assert parse_inputs(rec, 1, _space(), "ledger.csv")["t_h"] == 3.0
    assert parse_inputs({**rec, "t_h": "3.0"}, 1, _space(), "ledger.csv")["t_h"] == 3.0
    with pytest.raises(LedgerError, match=match):
        parse_inputs({**rec, column: text}, 2, _space(), "ledger.csv")


def test_max_components_breach_in_a_row_stops():
    from optim.cells import parse_inputs

    rec = {"Li2O": "0.6", "ZrCl4": "0.3", "AlCl3": "0.1", "T_C": "100", "rpm": "500",
           "t_h": "3", "T2_C": "200", "seed": "Mg"}
    with pytest.raises(LedgerError, match=r"3 precursors present .* more than "
                                          r"max_components=2"):
        parse_inputs(rec, 4, _space(max_components=2), "ledger.csv")
    with pytest.raises(LedgerError, match=r"AlCl3=0.1 below min_fraction=0.15"):
        parse_inputs(rec, 4, _space(min_fraction=0.15), "ledger.csv")


def test_bad_categorical_in_ledger_leaves_bytes_unchanged(tmp_path):
    campaign = make_campaign("interlayer", tmp_path, ["debug=smoke", *SMOKE])
    campaign.propose()
    path = campaign.settings.ledger_path
    text = path.read_text().replace(",Mg,", ",Cu,", 1)
    assert ",Cu," in text
    path.write_text(text)
    before = path.read_bytes()
    with pytest.raises(LedgerError, match=r"column 'seed_metal': value='Cu' is not one of "
                                          r"the choices"):
        make_campaign("interlayer", tmp_path, ["debug=smoke", *SMOKE]).propose()
    assert path.read_bytes() == before


def test_ledger_round_trip_keeps_categories_and_integers(tmp_path):
    campaign = make_campaign("interlayer", tmp_path, ["debug=smoke", *SMOKE])
    result = campaign.propose()
    ledger = Ledger.load(campaign.settings.ledger_path, campaign.settings.schema)
    assert ledger.frame["seed_metal"].tolist() == result.batch["seed_metal"].tolist()
    assert set(ledger.frame["seed_metal"]) <= {"Mg", "Sn", "Au", "none"}



def test_ledger_writes_whole_numbers_without_decimals(tmp_path):
    campaign = make_campaign("oxychloride", tmp_path, ["debug=smoke", *SMOKE])
    campaign.propose()
    frame = pd.read_csv(campaign.settings.ledger_path, dtype=str)
    for column in ("milling_speed_rpm", "anneal_time_h"):
        assert frame[column].str.fullmatch(r"\d+").all(), frame[column].tolist()
    assert (frame["milling_speed_rpm"].astype(int) % 50 == 0).all()
    again = Ledger.load(campaign.settings.ledger_path, campaign.settings.schema)
    assert again.frame["anneal_time_h"].dtype == float


def test_values_read_as_people_write_them():
    space = _space(resolution=0.005)
    assert space.format_value("rpm", 550.0) == "550"
    assert space.format_value("T_C", 265.0) == "265"
    assert space.format_value("T2_C", 200.0) == "200"
    assert space.format_value("seed", "Sn") == "Sn"
    assert space.format_value("seed", "") == "-"
    assert space.format_value("Li2O", 0.58329) == "0.5833"
    assert space.format_value("t_h", float("nan")) == "-"
    half = NumericalParameter("mill_h", 0.5, 12, resolution=0.5)
    assert half.format(2.5) == "2.5" and half.format(2.0) == "2.0"
    assert half.format(2.26) == "2.26"  # an off-grid value typed by hand is shown as is
    assert not half.is_whole and space.parameter("rpm").is_whole


# ----------------------------------------------------------------- designs
@pytest.mark.parametrize("seed", [0, 1])
def test_sample_and_space_filling_are_allowed_feasible_distinct(seed):
    space = _space()
    for X in (space.sample(40, seed, **TK), space.space_filling(8, seed, **TK)):
        assert float(space.max_violation(X).max()) <= SNAP_TOLERANCE
        frame = space.decode(X)
        _on_grid(space, frame)
        assert len(frame.drop_duplicates()) == len(frame)
        fractions = frame[["Li2O", "ZrCl4", "AlCl3"]]
        assert (fractions.sum(axis=1) - 1).abs().max() < 1e-9
    frame = space.decode(space.space_filling(8, seed, **TK))
    assert frame["seed"].nunique() >= 3  # spread over the choices too


def test_cardinality_designs_hold_at_most_k_present():
    space = SearchSpace((NumericalParameter("T_C", 25, 320),), CompositionParameter(
        "xLi2O-yZrCl4-zAlCl3-wLiCl", {"Li2O": (0.3, 0.75)}, max_components=2,
        min_fraction=0.05, resolution=0.01))
    assert {a.label for a in space.arms} == {"Li2O+ZrCl4 present", "Li2O+AlCl3 present",
                                             "Li2O+LiCl present"}
    X = space.space_filling(9, 0, **TK)
    comp = X[:, :4]
    assert ((comp > 1e-12).sum(-1) <= 2).all()
    assert (comp[comp > 1e-12] >= 0.05 - 1e-12).all()
    assert float(space.max_violation(X).max()) <= SNAP_TOLERANCE


def test_snap_keeps_every_constraint_and_avoids_copies(oxy):
    space = oxy.space  # the example: resolution 0.005, O/(Zr+Al) <= 2.3, Zr+Al >= 0.25
    gen = torch.Generator().manual_seed(0)
    X = space.arms[0].sample(200, 3)
    X = X + 0.002 * torch.randn(X.shape, generator=gen, dtype=X.dtype) * (
        space.bounds(**TK)[1] - space.bounds(**TK)[0])
    X = X.clamp(space.bounds(**TK)[0], space.bounds(**TK)[1])
    snapped = space.snap(X[:60])
    assert float(space.max_violation(snapped).max()) <= SNAP_TOLERANCE
    units = snapped[:, :3] / 0.005
    assert (units - units.round()).abs().max() < 1e-9
    assert len(torch.unique(snapped, dim=0)) == len(snapped)
    again = space.snap(snapped[:1], avoid=snapped[:1])
    assert not torch.equal(again, snapped[:1])


def test_hand_rounding_breaking_a_constraint_is_not_chosen():
    # Zr + Al >= 0.25 exactly at the boundary: rounding down would break it
    space = SearchSpace((), CompositionParameter(
        "xLi2O-yZrCl4-zAlCl3", {"Li2O": (0.3, 0.75)}, resolution=0.1),
        constraints=(__import__("optim.search_space.constraints", fromlist=["x"])
                     .LinearConstraint({"ZrCl4": 1.0, "AlCl3": 1.0}, 0.25,
                                       description="ZrCl4 + AlCl3 >= 0.25"),))
    x = torch.tensor([[0.74, 0.13, 0.13]], **TK)
    snapped = space.snap(x)
    assert float(snapped[0, 1:].sum()) >= 0.25 - 1e-12
    assert float(space.max_violation(snapped).max()) <= SNAP_TOLERANCE


# ------------------------------------------------------------------ models
def test_categorical_gp_and_forest_tell_the_choices_apart():
    gen = torch.Generator().manual_seed(1)
    n = 32
    x = torch.rand(n, 1, generator=gen, dtype=torch.float64)
    c = torch.arange(n, dtype=torch.float64).remainder(4).unsqueeze(-1)
    X = torch.cat([x, c], dim=-1)
    offset = torch.tensor([0.0, 2.0, -1.0, 1.0], dtype=torch.float64)
    Y = (torch.sin(3 * x[:, 0]) + offset[c[:, 0].long()]).unsqueeze(-1)
    bounds = torch.tensor([[0.0, 0.0], [1.0, 3.0]], dtype=torch.float64)
    test = torch.tensor([[0.5, k] for k in range(4)], dtype=torch.float64)
    truth = torch.sin(torch.tensor(1.5)) + offset
    gp = GPSurrogate().fit(X, Y, bounds, cat_dims={1: 4})
    with torch.no_grad():
        mean = gp.posterior(test).mean.squeeze(-1)
    assert torch.allclose(mean, truth.to(mean), atol=0.15)
    forest = ForestSurrogate(random_state=0).fit(X, Y, bounds, cat_dims={1: 4})
    assert forest._scale(test).shape == (4, 1 + 4)  # one-hot
    with torch.no_grad():
        fmean = forest.posterior(test).mean.squeeze(-1)
    assert int(fmean.argmax()) == 1 and int(fmean.argmin()) == 2


# ------------------------------------------------------------ rounds
def test_model_round_proposes_allowed_values_interlayer(tmp_path):
    campaign = make_campaign("interlayer", tmp_path, ["debug=smoke", *SMOKE, "lab=simulated"])
    campaign.run(rounds=3)
    last = campaign.ledger[campaign.ledger["round"] == 3]
    assert len(last) and (last["source"] == "bo").all()
    assert set(last["seed_metal"]) <= {"Mg", "Sn", "Au", "none"}
    for c in ("seed_thickness_nm", "naf_thickness_nm"):  # resolution 1 nm
        assert (last[c] - last[c].round()).abs().max() < 1e-9
    space = campaign.settings.space
    X = space.encode(last, **TK)
    assert float(space.max_violation(X).max()) <= SNAP_TOLERANCE
    assert len(last[space.names].drop_duplicates()) == len(last)


def test_shared_parameter_takes_one_value_per_batch(tmp_path):
    overrides = ["debug=smoke", *SMOKE, "batch_size=3", "lab=simulated",
                 "+search_space.parameters.anneal_temperature_C.shared=true"]
    campaign = make_campaign("oxychloride", tmp_path, overrides)
    campaign.run(rounds=3)
    frame = campaign.ledger
    for r in (1, 2, 3):
        rows = frame[frame["round"] == r]
        assert rows["anneal_temperature_C"].nunique() == 1, rows
    assert (frame[frame["round"] == 3]["source"] == "bo").all()


def test_pool_with_a_categorical_column(tmp_path):
    space = make_settings("interlayer", tmp_path).space
    rows = [{"name": f"cell{i}", "seed_metal": ["Mg", "Sn", "Au", "none"][i % 4],
             "seed_thickness_nm": 10 * i, "naf_thickness_nm": 5 * i,
             "current_density_mA_cm2": 0.5, "stack_pressure_MPa": 5} for i in range(12)]
    path = tmp_path / "pool.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    pool = CandidatePool.load(path, space, "interlayer")
    assert pool.frame["seed_metal"].tolist()[:4] == ["Mg", "Sn", "Au", "none"]
    settings = make_settings("interlayer", tmp_path, ["debug=smoke",
                                                      f"+search_space.pool={path}"])
    result = plan_round(settings)
    assert set(result.batch["seed_metal"]) <= {"Mg", "Sn", "Au", "none"}
    rows[3]["seed_metal"] = "Cu"
    pd.DataFrame(rows).to_csv(path, index=False)
    with pytest.raises(LedgerError, match=r"row 4 .*column 'seed_metal': value='Cu'"):
        CandidatePool.load(path, space, "interlayer")
