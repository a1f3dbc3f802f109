"""``recipe=``: the weighing sheet from the command line, attached to the round in
mlflow; then the grams weighed recorded with ``record=``."""

from __future__ import annotations

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import SMOKE, cli, cli_inprocess, read_ledger


@pytest.mark.slow
@pytest.mark.integration
def test_recipe_of_a_round_is_printed_written_and_attached(tmp_path):
    runs = tmp_path / "runs"
    cli(runs, *SMOKE, "initial_design.n=3")
    proc = cli(runs, "recipe=round")
    out = proc.stdout
    assert "Weighing sheet of campaign 'oxychloride', round-001 (3 experiment(s)): " \
           "batch 2 g of product, balance 0.0001 g" in out
    for header in ("precursor", "mole fraction asked", "grams to weigh",
                   "mole fraction as weighed", "deviation"):
        assert header in out
    folder = runs / "oxychloride" / "recipes"
    assert f"Wrote {folder / 'round-001.csv'} and {folder / 'round-001.html'}" in out
    assert "Attached to the mlflow run round-001" in out
    assert f"campaign=oxychloride paths.runs={runs} record=weighed.csv" in out
    assert "recipe=" not in out.split("Record what was weighed:")[1]  # a step key
    sheet = pd.read_csv(folder / "round-001.csv")
    assert list(sheet["id"].unique()) == ["oxy-0001", "oxy-0002", "oxy-0003"]

    client = MlflowClient(f"sqlite:///{runs}/mlflow.db")
    exp = client.get_experiment_by_name("oxychloride")
    (run,) = client.search_runs([exp.experiment_id], "tags.kind = 'round'")
    assert {a.path for a in client.list_artifacts(run.info.run_id, "recipes")} == {
        "recipes/round-001.csv", "recipes/round-001.html"}

    # the grams as weighed (the sheet's, one a little off) go into the ledger
    grams = sheet[sheet["id"] == "oxy-0002"].set_index("precursor")["grams_to_weigh"]
    grams["Li2O"] += 0.002
    results = tmp_path / "weighed.csv"
    results.write_text("id,Li2O_g,ZrCl4_g,AlCl3_g\n"
                       f"oxy-0002,{grams['Li2O']:.4f},{grams['ZrCl4']},{grams['AlCl3']}\n")
    asked = read_ledger(runs).loc[1, "Li2O"]
    rec = cli(runs, "tracking=none", f"record={results}")
    assert "Recorded 1 experiment(s)" in rec.stdout
    ledger = read_ledger(runs)
    assert ledger.loc[1, "asked_Li2O"] == asked and ledger.loc[1, "Li2O"] > asked
    assert ledger.loc[1, "Li2O_g"] == pytest.approx(grams["Li2O"], abs=1e-9)
    # the sheet of that experiment now shows what was weighed
    one = cli(runs, "tracking=none", "recipe=oxy-0002").stdout
    assert "weighed (g)" in one and f"{grams['Li2O']:.4f}" in one
    assert (folder / "oxy-0002.html").is_file()


@pytest.mark.integration
def test_recipe_errors_name_the_valid_choices(tmp_path):
    runs = tmp_path / "runs"
    code, _, err = cli_inprocess(runs, "tracking=none", "recipe=round")
    assert code == 2 and "the ledger has no planned round yet" in err
    code, _, _ = cli_inprocess(runs, "debug=smoke")
    assert code == 0
    code, _, err = cli_inprocess(runs, "tracking=none", "recipe=oxy-0009")
    assert code == 2
    assert "error: recipe=oxy-0009: 'oxy-0009' is not an id in the ledger (ids: oxy-0001 … " \
           "oxy-0004; rounds: 1)" in err
    code, _, err = cli_inprocess(runs, "tracking=none", "recipe=round:2")
    assert code == 2 and "round '2' is not a round of the ledger (rounds 1)" in err
    code, _, err = cli_inprocess(runs, "tracking=none", "recipe=round",
                                 "record=results.csv")
    assert code == 2 and "one step at a time" in err
    code, _, err = cli_inprocess(runs, "tracking=none", "recipe=round", campaign="interlayer")
    assert code == 2 and "has no composition" in err
    code, out, _ = cli_inprocess(runs, "tracking=none", "recipe=round:1")
    assert code == 0 and "Tracking is off (tracking=none)" in out
    assert (runs / "oxychloride" / "recipes" / "round-001.html").is_file()
    assert "Traceback" not in err
