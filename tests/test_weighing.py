"""The weighing sheet: grams from mole fractions (checked by hand against pymatgen molar
masses), the composition as weighed, the config block, recording grams, and bad input."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from pymatgen.core import Composition

from optim.exceptions import ConfigError, LedgerError
from optim.ledger import Ledger
from optim.recipe import build_recipe, recipe_html, recipe_table, write_recipe
from optim.rounds import plan_round, record_results
from optim.search_space import CompositionParameter
from optim.weighing import (
    WeighingSpec,
    as_weighed,
    fractions_from_grams,
    grams_to_weigh,
    mass_fractions,
    weigh,
)
from tests.helpers import SMOKE, make_campaign, make_settings

# the anchor 1.4Li2O-0.75ZrCl4-0.25AlCl3 as mole fractions
ANCHOR = {"Li2O": 1.4 / 2.4, "ZrCl4": 0.75 / 2.4, "AlCl3": 0.25 / 2.4}
NAMES = list(ANCHOR)
RESOLUTION = 0.0001  # g: an analytical balance


@pytest.fixture
def mixture() -> CompositionParameter:
    return CompositionParameter("xLi2O-yZrCl4-zAlCl3",
                                {"Li2O": (0.3, 0.75), "ZrCl4": (0.0, 0.6),
                                 "AlCl3": (0.0, 0.5)})


def _by_hand(batch_g: float, purity: dict[str, float]) -> dict[str, float]:
    """Grams per precursor worked out here from pymatgen's molar masses, unrounded."""
    molar = {n: Composition(n).weight for n in NAMES}  # g/mol
    mass = sum(ANCHOR[n] * molar[n] for n in NAMES)  # g per mol of mixture
    return {n: ANCHOR[n] * molar[n] / mass * batch_g / purity[n] for n in NAMES}


@pytest.mark.parametrize("purity", [1.0, 0.99], ids=["pure", "99pct"])
def test_anchor_grams_match_a_hand_calculation(mixture, purity):
    spec = WeighingSpec(2.0, RESOLUTION, dict.fromkeys(NAMES, purity))
    got = grams_to_weigh(ANCHOR, mixture, spec)
    want = _by_hand(2.0, dict.fromkeys(NAMES, purity))
    for n in NAMES:
        # rounding to the balance moves a value by at most half its resolution; the
        # tolerance is the resolution itself (plus float round-off)
        assert abs(got[n] - want[n]) <= RESOLUTION + 1e-12, (n, got[n], want[n])
        assert got[n] == pytest.approx(round(got[n] / RESOLUTION) * RESOLUTION,
                                       abs=1e-12)  # a multiple of the resolution
    # the numbers of the README and the hand check, to the balance's 0.1 mg
    expected = ({"Li2O": 0.3347, "ZrCl4": 1.3985, "AlCl3": 0.2667} if purity == 1.0 else
                {"Li2O": 0.3381, "ZrCl4": 1.4126, "AlCl3": 0.2694})
    assert got == expected
    assert sum(got.values()) == pytest.approx(2.0 / purity, abs=3 * RESOLUTION)


def test_molar_masses_are_pymatgen_s(mixture):
    for p in mixture.precursors:
        assert p.molar_mass == pytest.approx(float(Composition(p.formula).weight),
                                             rel=1e-12)
    w = mass_fractions(ANCHOR, mixture)
    assert sum(w.values()) == pytest.approx(1.0, abs=1e-15)
    assert w["ZrCl4"] > w["Li2O"]  # heavy ZrCl4 dominates the mass


def test_as_weighed_round_trip(mixture):
    fine = WeighingSpec(2.0, 1e-12)  # exact grams: the inverse gives the fractions back
    exact = grams_to_weigh(ANCHOR, mixture, fine)
    back = fractions_from_grams(exact, mixture, fine)
    for n in NAMES:
        assert back[n] == pytest.approx(ANCHOR[n], abs=1e-9)  # 1e-12 g of ~0.3 g
    spec = WeighingSpec(2.0, RESOLUTION, {"Li2O": 0.995, "AlCl3": 0.99})
    lines = weigh(ANCHOR, mixture, spec)
    made = as_weighed(ANCHOR, mixture, spec)
    assert [line.precursor for line in lines] == NAMES
    assert sum(line.weighed for line in lines) == pytest.approx(1.0, abs=1e-15)
    for line in lines:
        assert line.weighed == made[line.precursor]
        assert line.asked == ANCHOR[line.precursor]
        assert line.deviation == pytest.approx(line.weighed - line.asked, abs=0)
        # 0.05 mg of 0.3-1.4 g moves a fraction by well under 1e-3
        assert abs(line.deviation) < 1e-3
    # weighing exactly the rounded grams again gives the same as-weighed fractions
    assert fractions_from_grams(grams_to_weigh(ANCHOR, mixture, spec), mixture,
                                spec) == made


def test_purity_means_more_powder_and_enters_the_inverse(mixture):
    pure = WeighingSpec(2.0, 1e-9)
    impure = WeighingSpec(2.0, 1e-9, {"ZrCl4": 0.9})
    g_pure, g_impure = (grams_to_weigh(ANCHOR, mixture, s) for s in (pure, impure))
    assert g_impure["ZrCl4"] == pytest.approx(g_pure["ZrCl4"] / 0.9, abs=2e-9)
    assert g_impure["Li2O"] == pytest.approx(g_pure["Li2O"], abs=2e-9)
    # the same grams of a 90 % ZrCl4 powder hold 10 % less ZrCl4
    made = fractions_from_grams(g_pure, mixture, impure)
    assert made["ZrCl4"] < ANCHOR["ZrCl4"] - 0.01
    assert fractions_from_grams(g_impure, mixture, impure)["ZrCl4"] == pytest.approx(
        ANCHOR["ZrCl4"], abs=1e-8)


@pytest.mark.parametrize(("kwargs", "key"), [
    ({"batch_mass_g": 0}, "batch_mass_g"),
    ({"batch_mass_g": -2.0}, "batch_mass_g"),
    ({"batch_mass_g": math.nan}, "batch_mass_g"),
    ({"batch_mass_g": "2"}, "batch_mass_g"),
    ({"batch_mass_g": 2.0, "balance_resolution_g": 0}, "balance_resolution_g"),
    ({"batch_mass_g": 2.0, "balance_resolution_g": 2.0}, "balance_resolution_g"),
    ({"batch_mass_g": 2.0, "purity": {"Li2O": 0}}, "purity.Li2O"),
    ({"batch_mass_g": 2.0, "purity": {"Li2O": 99.5}}, "purity.Li2O"),
    ({"batch_mass_g": 2.0, "purity": {"AlCl3": math.nan}}, "purity.AlCl3"),
], ids=["zero-mass", "negative-mass", "nan-mass", "text-mass", "zero-resolution",
        "coarse-resolution", "zero-purity", "percent-purity", "nan-purity"])
def test_bad_spec_names_the_key(kwargs, key):
    with pytest.raises(ConfigError, match="Fix:") as err:
        WeighingSpec(**kwargs)
    assert err.value.key == key


# ------------------------------------------------------------------------- the config
def test_the_oxychloride_campaign_has_a_weighing_block(tmp_path):
    settings = make_settings("oxychloride", tmp_path)
    spec = settings.weighing
    assert spec is not None and spec.batch_mass_g > 0 and spec.decimals == 4
    assert set(spec.purity) == set(NAMES) and all(0.9 < v <= 1 for v in spec.purity.values())
    assert settings.schema.grams == ["Li2O_g", "ZrCl4_g", "AlCl3_g"]
    assert make_settings("interlayer", tmp_path).weighing is None  # no composition


@pytest.mark.parametrize(("override", "key"), [
    ("weighing.purity.Li2O=1.5", "weighing.purity.Li2O"),
    ("weighing.batch_mass_g=-2", "weighing.batch_mass_g"),
    ("weighing.balance_resolution_g=5", "weighing.balance_resolution_g"),
    ("+weighing.purity.Li2S=0.9", "weighing.purity"),
    ("+weighing.tare=1", "weighing"),
    ("~weighing.batch_mass_g", "weighing.batch_mass_g"),
], ids=["purity", "mass", "resolution", "unknown-precursor", "unknown-field", "no-mass"])
def test_bad_weighing_config_names_file_and_key(tmp_path, override, key):
    with pytest.raises(ConfigError, match="configs/campaign/oxychloride.yaml") as err:
        make_settings("oxychloride", tmp_path, [override])
    assert err.value.key == key


def test_weighing_without_a_composition_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="no search_space.composition") as err:
        make_settings("interlayer", tmp_path, ["+weighing.batch_mass_g=2"])
    assert err.value.key == "weighing"


# ---------------------------------------------------------------- recording the grams
@pytest.fixture
def planned(tmp_path):
    """An oxychloride campaign whose ledger holds the 8-row initial design."""
    settings = make_settings("oxychloride", tmp_path / "runs", SMOKE)
    plan_round(settings)
    return settings


def _write(tmp_path, text: str):
    path = tmp_path / "weighed.csv"
    path.write_text(text)
    return path


def _grams_for(frame: pd.DataFrame, k: int, settings, scale=(1.0, 1.0, 1.0)):
    spec, comp = settings.weighing, settings.space.composition
    g = grams_to_weigh({n: frame.at[k, n] for n in NAMES}, comp, spec)
    return {n: round(g[n] * s, 4) for n, s in zip(NAMES, scale, strict=True)}


def test_recorded_grams_become_the_composition(planned, tmp_path):
    before = Ledger.load(planned.ledger_path, planned.schema).frame
    grams = _grams_for(before, 0, planned, scale=(1.01, 1.0, 0.99))  # a slightly off weighing
    path = _write(tmp_path, "id,Li2O_g,ZrCl4_g,AlCl3_g\n"
                  f"oxy-0001,{grams['Li2O']},{grams['ZrCl4']},{grams['AlCl3']}\n")
    changed, frame = record_results(planned, path)
    assert changed == ["oxy-0001"]
    made = fractions_from_grams(grams, planned.space.composition, planned.weighing)
    for n in NAMES:
        assert frame.at[0, f"{n}_g"] == grams[n]
        assert frame.at[0, f"asked_{n}"] == before.at[0, n]  # the proposal is kept
        assert frame.at[0, n] == pytest.approx(made[n], abs=1e-15)  # what was made
    assert frame.at[0, "Li2O"] > before.at[0, "Li2O"]
    assert frame.at[0, "status"] == "proposed" and frame.at[0, "measured_at"] == ""
    others = [c for c in frame.columns if c not in [*NAMES, *planned.schema.weighed]]
    pd.testing.assert_frame_equal(frame[others], before[others])
    assert frame.loc[1:, planned.schema.weighed].isna().all().all()
    # the model fits on what was made: the encoded inputs are the as-weighed fractions
    X = planned.space.encode(frame.iloc[[0]], dtype=torch.float64)
    np.testing.assert_allclose(X[0, :3].numpy(), [made[n] for n in NAMES], rtol=0,
                               atol=1e-12)  # float64 normalization round-off

    # idempotent: the same file again changes nothing, and the asked_ values stay
    text = planned.ledger_path.read_text()
    changed, again = record_results(planned, path)
    assert changed == [] and planned.ledger_path.read_text() == text
    # a later measurement keeps the as-weighed composition
    changed, later = record_results(planned, _write(
        tmp_path, "id,conductivity_mS_cm,notes\noxy-0001,1.8,pellet 1\n"))
    assert later.at[0, "status"] == "measured"
    assert later.loc[0, NAMES].tolist() == again.loc[0, NAMES].tolist()
    assert later.loc[0, planned.schema.weighed].tolist() == again.loc[
        0, planned.schema.weighed].tolist()


def test_grams_and_results_in_one_file(planned, tmp_path):
    frame = Ledger.load(planned.ledger_path, planned.schema).frame
    g = _grams_for(frame, 1, planned)
    _, out = record_results(planned, _write(
        tmp_path, "id,Li2O_g,ZrCl4_g,AlCl3_g,conductivity_mS_cm\n"
        f"oxy-0002,{g['Li2O']},{g['ZrCl4']},{g['AlCl3']},0.7\n"))
    assert out.at[1, "status"] == "measured" and out.at[1, "conductivity_mS_cm"] == 0.7
    assert out.at[1, "asked_Li2O"] == frame.at[1, "Li2O"]
    # grams rounded to the balance: the composition moves by rounding only
    assert abs(out.at[1, "Li2O"] - frame.at[1, "Li2O"]) < 1e-3


def test_wrong_grams_are_corrected_by_clearing_them(planned, tmp_path):
    frame = Ledger.load(planned.ledger_path, planned.schema).frame
    g = _grams_for(frame, 2, planned)
    first = _write(tmp_path, f"id,Li2O_g,ZrCl4_g,AlCl3_g\noxy-0003,{g['Li2O']},"
                   f"{g['ZrCl4']},{g['AlCl3']}\n")
    record_results(planned, first)
    text = planned.ledger_path.read_bytes()
    second = tmp_path / "second.csv"
    second.write_text(f"id,Li2O_g,ZrCl4_g,AlCl3_g\noxy-0003,{g['Li2O'] + 0.01},"
                      f"{g['ZrCl4']},{g['AlCl3']}\n")
    with pytest.raises(LedgerError, match=r"oxy-0003 already has grams recorded .*"
                       r"accept_changes=\[oxy-0003\]"):
        record_results(planned, second)
    assert planned.ledger_path.read_bytes() == text
    ledger = pd.read_csv(planned.ledger_path, dtype=str, keep_default_na=False)
    ledger.loc[2, ["Li2O_g", "ZrCl4_g", "AlCl3_g"]] = ""  # cleared by hand
    ledger.to_csv(planned.ledger_path, index=False)
    with pytest.raises(LedgerError, match="lost or changed"):
        record_results(planned, second)
    fixed = replace(planned, accept_changes=("oxy-0003",))
    with pytest.warns(match="accepted 3 change"):
        _, out = record_results(fixed, second)
    assert out.at[2, "Li2O_g"] == pytest.approx(g["Li2O"] + 0.01, abs=1e-12)
    assert out.at[2, "asked_Li2O"] == frame.at[2, "Li2O"]  # still the proposal


BAD_GRAMS = [
    ("oxy-0001,-0.1,1.0,0.5", "column 'Li2O_g': value='-0.1' is negative. Fix: the grams"),
    ("oxy-0001,nan,1.0,0.5", "column 'Li2O_g': value='nan' is not finite"),
    ("oxy-0001,0.3g,1.0,0.5", "column 'Li2O_g': value='0.3g' is not a number"),
    ("oxy-0001,0.3,,", "grams given for Li2O_g but not for ZrCl4_g, AlCl3_g"),
    ("oxy-0001,0,0,0", "every grams cell is 0"),
    ("oxy-0099,0.3,1.0,0.5", r"value='oxy-0099' is not an id in the ledger"),
    ("oxy-0001,0.0,1.0,0.5", r"the grams make Li2O=0 as weighed .*outside its bounds "
                             r"\[0.3, 0.75\]"),
]


@pytest.mark.parametrize(("row", "match"), BAD_GRAMS,
                         ids=["negative", "nan", "text", "partial", "zero", "unknown-id",
                              "out-of-bounds"])
def test_bad_grams_stop_before_any_write(planned, tmp_path, row, match):
    before = planned.ledger_path.read_bytes()
    path = _write(tmp_path, f"id,Li2O_g,ZrCl4_g,AlCl3_g\n{row}\n")
    with pytest.raises(LedgerError, match=match) as err:
        record_results(planned, path)
    assert str(path) in str(err.value) and "row 1 (line 2)" in str(err.value)
    assert planned.ledger_path.read_bytes() == before


def test_grams_on_a_replicate_row_are_refused(planned, tmp_path):
    record_results(planned, _write(tmp_path, "id,conductivity_mS_cm\noxy-0001,1.0\n"))
    with pytest.raises(LedgerError, match="grams on a replicate row"):
        record_results(planned, _write(
            tmp_path, "id,conductivity_mS_cm,replicate,Li2O_g,ZrCl4_g,AlCl3_g\n"
            "oxy-0001,1.1,yes,0.3,1.0,0.5\n"))


def test_grams_need_a_weighing_block(tmp_path):
    settings = make_settings("oxychloride", tmp_path / "runs", [*SMOKE, "~weighing"])
    assert settings.weighing is None and settings.schema.weighed == []
    plan_round(settings)
    with pytest.raises(LedgerError, match="unknown column.*need a `weighing:` block"):
        record_results(settings, _write(tmp_path, "id,Li2O_g\noxy-0001,0.3\n"))


def test_a_ledger_without_weighing_columns_reads_as_before(tmp_path):
    """A ledger written before the campaign had `weighing:` reads with the same values,
    and without a weighing block a ledger keeps its old columns byte for byte."""
    runs = tmp_path / "runs"
    plain = make_settings("oxychloride", runs, [*SMOKE, "~weighing"])
    plan_round(plain)
    text = plain.ledger_path.read_bytes()
    assert b"_g," not in text.split(b"\n")[0] and b"asked_" not in text
    old = Ledger.load(plain.ledger_path, plain.schema)
    old.write()
    assert plain.ledger_path.read_bytes() == text
    weighed = make_settings("oxychloride", runs, SMOKE)
    frame = Ledger.load(weighed.ledger_path, weighed.schema).frame
    assert frame[weighed.schema.weighed].isna().all().all()
    pd.testing.assert_frame_equal(frame[old.frame.columns], old.frame)


# ------------------------------------------------------------------------- the sheet
def test_sheet_of_a_round_and_of_one_experiment(planned, tmp_path):
    frame = Ledger.load(planned.ledger_path, planned.schema).frame
    recipe = build_recipe(planned, frame, "round", created="2026-01-02T03:04:05+00:00")
    assert recipe.label == "round-001" and recipe.ids == list(frame["id"])
    one = build_recipe(planned, frame, "oxy-0004")
    assert one.label == "oxy-0004" and one.ids == ["oxy-0004"]
    assert build_recipe(planned, frame, "round:1").ids == recipe.ids
    table = recipe_table(recipe)
    assert len(table) == 8 * 3
    assert list(table.columns) == ["id", "round", "precursor", "molar_mass_g_mol", "purity",
                                   "mole_fraction_asked", "grams_to_weigh",
                                   "mole_fraction_as_weighed", "deviation", "weighed_g"]
    first = _grams_for(frame, 0, planned)
    assert [float(v) for v in table["grams_to_weigh"][:3]] == [first[n] for n in NAMES]
    csv, page = write_recipe(recipe, tmp_path / "recipes")
    assert csv.name == "round-001.csv" and page.name == "round-001.html"
    assert pd.read_csv(csv)["weighed_g"].isna().all()
    text = page.read_text()
    assert text == recipe_html(recipe)
    for needle in ("oxychloride", "oxy-0001, oxy-0002", "2026-01-02T03:04:05+00:00",
                   "2 g of product", "0.0001 g", "Li2O 99.5 %", "Weighed (g)", "@media print"):
        assert needle in text
    assert text.count('<td class="blank"></td>') == 8 * 4  # 3 precursors + the total
    assert "<script" not in text and "<link" not in text and "http" not in text
    assert "2 g of product" in text


@pytest.mark.parametrize(("which", "match"), [
    ("oxy-0099", r"'oxy-0099' is not an id in the ledger \(ids: oxy-0001 … oxy-0008; "
                 r"rounds: 1\).*Fix: an experiment id"),
    ("oxy-001", r"did you mean 'oxy-0001'"),
    ("round:4", r"round '4' is not a round of the ledger \(rounds 1\)\. Fix: recipe=round:1"),
    ("round:x", r"round 'x' is not a round"),
    ("3", r"recipe=round:3"),
])
def test_unknown_experiment_or_round_names_the_valid_ones(planned, which, match):
    frame = Ledger.load(planned.ledger_path, planned.schema).frame
    with pytest.raises(LedgerError, match=match):
        build_recipe(planned, frame, which)


def test_no_sheet_without_weighing_or_composition(tmp_path):
    no_block = make_campaign("oxychloride", tmp_path / "a", [*SMOKE, "~weighing"])
    with pytest.raises(ConfigError, match=r"no `weighing:` block. Fix: add one .*\n"
                       r"weighing:\n  batch_mass_g: 2.0") as err:
        no_block.recipe("round")
    assert err.value.key == "weighing"
    with pytest.raises(ConfigError, match="no composition"):
        make_campaign("interlayer", tmp_path / "b").recipe("round")


def test_campaign_recipe_writes_beside_the_ledger(tmp_path):
    campaign = make_campaign("oxychloride", tmp_path / "runs", [*SMOKE, "debug=smoke"])
    campaign.propose()
    recipe = campaign.recipe("round")
    folder = campaign.ledger_path.parent / "recipes"
    assert recipe.paths == (folder / "round-001.csv", folder / "round-001.html")
    assert all(p.is_file() for p in recipe.paths)
    assert recipe.attached is None  # tracking off
