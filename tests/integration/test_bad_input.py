"""The bad-input matrix: every case exits 2 with the file, row or key, and a fix; no
traceback; and the ledger's bytes are exactly what they were before the command."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import cli_inprocess

BASE = ["tracking=none", "debug=smoke"]
LEDGER = "oxychloride/ledger.csv"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A campaign after two rounds: rows 1-3 measured, row 4 failed with a value,
    rows 5-7 (round 2) pending."""
    runs = tmp_path_factory.mktemp("template") / "runs"
    code, _, err = cli_inprocess(runs, *BASE)
    assert code == 0, err
    results = runs.parent / "results.csv"
    pd.DataFrame({"id": ["oxy-0001", "oxy-0002", "oxy-0003", "oxy-0004"],
                  "conductivity_mS_cm": [1.5, 0.3, 2.2, 0.05],
                  "retention_pct": [85.0, 90.0, None, None],
                  "status": ["", "", "", "failed"],
                  "notes": ["", "", "", "AlCl3 lost"]}).to_csv(results, index=False)
    code, _, err = cli_inprocess(runs, *BASE, f"record={results}")
    assert code == 0, err
    code, _, err = cli_inprocess(runs, *BASE)  # round 2: rows 5-7 pending
    assert code == 0, err
    return runs


@pytest.fixture
def runs(template, tmp_path) -> Path:
    shutil.copytree(template, tmp_path / "runs")
    return tmp_path / "runs"


def _cell(runs: Path, row: int, column: str, value: str) -> None:
    path = runs / LEDGER
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[row - 1, column] = value
    frame.to_csv(path, index=False)


def _expect_refused(runs: Path, args: list[str], *fragments: str) -> str:
    path = runs / LEDGER
    before = path.read_bytes() if path.is_file() else None
    code, _, err = cli_inprocess(runs, *BASE, *args)
    assert code == 2, err
    assert "Traceback" not in err and err.startswith("error: ")
    assert "Fix" in err, err
    for fragment in fragments:
        assert fragment in err, err
    after = path.read_bytes() if path.is_file() else None
    assert after == before, "the ledger changed"
    return err


# ----------------------------------------------------------------- ledger cells
CELLS = [
    *[(5, c, v, f"column '{c}'") for c in ("Li2O", "ZrCl4", "AlCl3")
      for v in ("abc", "", "nan", "inf", "1e309", "-0.1", "0.99", "0,58")],
    *[(5, c, v, f"column '{c}'") for c in ("anneal_temperature_C", "milling_time_h")
      for v in ("abc", "999", "-5", "1e400", "NaN")],
    *[(5, "conductivity_mS_cm", v, "column 'conductivity_mS_cm'")
      for v in ("-1", "0", "abc", "inf")],
    *[(5, "retention_pct", v, "column 'retention_pct'") for v in ("150", "-3", "x")],
    *[(5, "round", v, "not a round number") for v in ("1.5", "-2", "inf", "1e309", "1e20",
                                                       "two")],
    *[(5, "id", v, "not an experiment id") for v in ('=HYPERLINK("http://x")', "oxy 1",
                                                      "@cmd", "-2+3")],
    (5, "id", "oxy-0001", "duplicates row 1"),
    *[(5, "status", v, "not a status") for v in ("done", "Measured", "pending")],
    (5, "status", "measured", "no target value"),
    (5, "source", "robot", "not a source"),
    *[(5, "proposed_at", v, "not a date and time") for v in ("yesterday", "2026-13-45")],
    (5, "pred_conductivity_mS_cm_mean", "abc", "column 'pred_conductivity_mS_cm_mean'"),
]


@pytest.mark.parametrize(("row", "column", "value", "fragment"), CELLS,
                         ids=[f"{c}={v!r}" for _, c, v, _ in CELLS])
def test_bad_ledger_cell(runs, row, column, value, fragment):
    _cell(runs, row, column, value)
    _expect_refused(runs, [], "ledger.csv", fragment)


def test_many_bad_cells_are_reported_together(runs):
    _cell(runs, 5, "Li2O", "abc")
    _cell(runs, 6, "round", "1.5")
    _cell(runs, 7, "status", "done")
    err = _expect_refused(runs, [], "3 problems", "row 5", "row 6", "row 7")
    assert err.count("Fix") >= 3


# ------------------------------------------------------------- whole files
def _write(runs: Path, data: bytes) -> None:
    (runs / LEDGER).write_bytes(data)


FILES = {
    "zero-bytes": (b"", "is empty"),
    "whitespace": (b"  \n\n ", "is empty"),
    "nul-byte": (None, "NUL byte"),
    "latin-1": (None, "not UTF-8"),
    "semicolons": (b"id;round;status\noxy-0001;1;measured\n", "separated by ';'"),
    "shifted-row": (None, "an unquoted comma inside a cell"),
    "wide-row": (None, "cells against"),
}


@pytest.mark.parametrize("case", list(FILES))
def test_unreadable_ledger_file(runs, case):
    data, fragment = FILES[case]
    text = (runs / LEDGER).read_bytes()
    if case == "nul-byte":
        data = text[:40] + b"\x00" + text[40:]
    elif case == "latin-1":
        data = text + "oxy-9,1,proposed,manual,0.5,0.3,0.2,100,10,,,,,,,,,,,,caf\xe9\n".encode(
            "latin-1")
    elif case == "shifted-row":
        header = text.decode().splitlines()[0].split(",")  # 0,58: a decimal comma
        cells = ["oxy-0099", "1", "proposed", "manual", "0", "58", "0.3", "0.12", "100", "10"]
        data = text + (",".join(cells + [""] * (len(header) - len(cells))) + ",x\n").encode()
    elif case == "wide-row":
        data = text + b"oxy-0099" + b",1" * 200_000 + b"\n"
    _write(runs, data)
    _expect_refused(runs, [], "ledger.csv", fragment)


def test_ledger_replaced_by_a_folder(runs):
    (runs / LEDGER).unlink()
    (runs / LEDGER).mkdir()
    code, _, err = cli_inprocess(runs, *BASE)
    assert code == 2 and "is a folder" in err and "Traceback" not in err


# --------------------------------------------------- lost or changed values
def _frame(runs: Path) -> pd.DataFrame:
    return pd.read_csv(runs / LEDGER, dtype=str, keep_default_na=False)


def _truncate(runs: Path) -> None:
    """A partial copy: the file ends inside oxy-0003's conductivity (2.2 cut to 2.)."""
    text = (runs / LEDGER).read_text()
    line = next(x for x in text.splitlines() if x.startswith("oxy-0003,"))
    start = text.index(line)
    (runs / LEDGER).write_text(text[: start + line.index(",2.2,") + 3])


LOSSES = {
    "truncated-last-row": (_truncate, "oxy-0003, column 'conductivity_mS_cm': 2.2 became "
                                      "2.0"),
    "deleted-target-column": (lambda r: _frame(r).drop(columns="retention_pct").to_csv(
        r / LEDGER, index=False), "'retention_pct': 85.0 became empty"),
    "deleted-round-column": (lambda r: _frame(r).drop(columns="round").to_csv(
        r / LEDGER, index=False), "oxy-0001, column 'round': 1 became 0"),
    "deleted-id-column": (lambda r: _frame(r).drop(columns="id").to_csv(
        r / LEDGER, index=False), "row oxy-0001 is gone"),
    "deleted-status-column": (lambda r: _frame(r).drop(columns="status").to_csv(
        r / LEDGER, index=False), "'status': 'failed' became 'measured'"),
    "wiped-cell": (lambda r: _cell(r, 2, "conductivity_mS_cm", ""),
                   "oxy-0002, column 'conductivity_mS_cm': 0.3 became empty"),
    "changed-value": (lambda r: _cell(r, 1, "conductivity_mS_cm", "15"),
                      "oxy-0001, column 'conductivity_mS_cm': 1.5 became 15.0"),
    "changed-note": (lambda r: _cell(r, 4, "notes", "fine"),
                     "oxy-0004, column 'notes': 'AlCl3 lost' became 'fine'"),
    "deleted-row": (lambda r: _frame(r).drop(index=1).to_csv(r / LEDGER, index=False),
                    "row oxy-0002 is gone"),
    "changed-measured-input": (lambda r: _cell(r, 1, "anneal_temperature_C", "111"),
                               "oxy-0001, column 'anneal_temperature_C'"),
}


@pytest.mark.parametrize("case", list(LOSSES))
def test_lost_or_changed_values_are_refused(runs, case):
    mutate, fragment = LOSSES[case]
    mutate(runs)
    err = _expect_refused(runs, [], fragment, "history/ledger-")
    assert "accept_changes" in err


def test_a_cut_cell_inside_the_inputs_points_at_the_history(runs):
    text = (runs / LEDGER).read_text()
    (runs / LEDGER).write_text(text[: text.rindex("\n", 0, len(text) - 1) + 12])
    _expect_refused(runs, [], "cut short or damaged", "history/ledger-")


def test_an_intended_correction_is_accepted_by_id(runs):
    _cell(runs, 1, "conductivity_mS_cm", "1.6")  # a re-analysed EIS fit
    _expect_refused(runs, [], "oxy-0001")
    code, _, err = cli_inprocess(runs, *BASE, "accept_changes=[oxy-0001]")
    assert code == 0, err
    assert "accepted 1 change(s) to recorded values (accept_changes)" in err  # said
    assert "oxy-0001" in err.split("accepted 1 change(s)")[1]
    assert _frame(runs).loc[0, "conductivity_mS_cm"] == "1.6"
    code, _, err = cli_inprocess(runs, *BASE)  # the new version is the baseline now
    assert code == 0, err
    assert "accepted" not in err


def test_filling_cells_sorting_and_adding_rows_are_normal(runs):
    frame = _frame(runs)
    frame.loc[2, "retention_pct"] = "77"  # fill an empty cell
    frame = frame.iloc[::-1]  # sort
    frame.to_csv(runs / LEDGER, index=False)
    code, _, err = cli_inprocess(runs, *BASE)
    assert code == 0, err
    assert "77.0" in set(_frame(runs)["retention_pct"])


# --------------------------------------------------------------- results files
def _results(runs: Path, text: str) -> Path:
    path = runs.parent / "results.csv"
    path.write_text(text)
    return path


RESULTS = {
    "unknown-id": ("id,conductivity_mS_cm\noxy-9999,1.0\n", "not an id in the ledger"),
    "duplicate-id": ("id,conductivity_mS_cm\noxy-0005,1.0\noxy-0005,1.0\n", "repeats row 1"),
    "unknown-column": ("id,sigma\noxy-0003,1.0\n", "unknown column"),
    "no-id-column": ("conductivity_mS_cm\n1.0\n", "no 'id' column"),
    "conflict": ("id,conductivity_mS_cm\noxy-0001,9.9\n", "already has"),
    "not-a-number": ("id,retention_pct\noxy-0003,high\n", "not a number"),
    "out-of-range": ("id,retention_pct\noxy-0003,120\n", "above the valid range"),
    "bad-status": ("id,status\noxy-0003,done\n", "expected 'measured', 'failed'"),
    "failed-to-measured": ("id,status\noxy-0004,measured\n", "recorded as failed"),
    "bad-timestamp": ("id,retention_pct,measured_at\noxy-0003,80,soon\n",
                      "not a date and time"),
    "zero-bytes": ("", "is empty"),
    "whitespace": ("   \n", "is empty"),
    "semicolons": ("id;retention_pct\noxy-0003;80,5\n", "separated by ';'"),
    "shifted": ("id,retention_pct\noxy-0003,80,5\n", "unquoted comma"),
    "no-value-no-status": ("id,retention_pct\noxy-0005,\n", "no target value and no status"),
}


@pytest.mark.parametrize("case", list(RESULTS))
def test_bad_results_file(runs, case):
    text, fragment = RESULTS[case]
    path = _results(runs, text)
    _expect_refused(runs, [f"record={path}"], "results", fragment)


def test_record_naming_a_folder_or_a_missing_file(runs, tmp_path):
    _expect_refused(runs, [f"record={tmp_path}"], "is a folder")
    _expect_refused(runs, [f"record={tmp_path / 'nope.csv'}"], "does not exist")


def test_a_failed_row_stays_failed_and_notes_are_appended(runs):
    path = _results(runs, "id,retention_pct,notes\noxy-0004,40,cell shorted\n")
    code, _, err = cli_inprocess(runs, *BASE, f"record={path}")
    assert code == 0, err
    row = _frame(runs).iloc[3]
    assert row["status"] == "failed" and row["retention_pct"] == "40.0"
    assert row["notes"] == "AlCl3 lost; cell shorted"


def test_formula_notes_are_neutralised(runs):
    path = _results(runs, 'id,retention_pct,notes\noxy-0003,80,"=cmd|\' /C calc\'!A0"\n')
    code, _, err = cli_inprocess(runs, *BASE, f"record={path}")
    assert code == 0, err
    assert _frame(runs).iloc[2]["notes"] == "'=cmd|' /C calc'!A0"


# ------------------------------------------------------------ config and steps
CONFIG = {
    "batch-zero": (["batch_size=0"], "key batch_size"),
    "batch-huge": (["batch_size=100000"], "at most 1000"),
    "seed": (["seed=abc"], "key seed"),
    "threads": (["threads=abc"], "key threads"),
    "initial-n": (["initial_design.n=0"], "key initial_design.n"),
    "device": (["device=tpu9"], "key device"),
    "mc-samples": (["acquisition.mc_samples=0"], "key acquisition.mc_samples"),
    "escape": (["campaign_name=../../escaped"], "outside paths.runs"),
    "rounds-zero": (["rounds=0"], "key rounds"),
    "rounds-no-lab": (["rounds=3"], "needs a lab"),
    "record-and-decide": (["record=x.csv", "approve=oxy-0001"], "given together"),
    "approve-unknown": (["approve=oxy-9999"], "not an id in the ledger"),
    "approve-and-reject": (["approve=oxy-0005", "reject=oxy-0005"], "both name"),
    "approve-measured": (["approve=oxy-0001"], "already measured"),
    "infeasible": (["search_space.constraints.0.min=0.95"], "no feasible"),
    "sync-not-bool": (["sync=maybe"], "key sync"),
    "sync-without-tracking": (["sync=true"], "tracking off"),
    "sync-and-record": (["sync=true", "record=x.csv"], "given together"),
}


@pytest.mark.parametrize("case", list(CONFIG))
def test_bad_config_or_step(runs, case):
    args, fragment = CONFIG[case]
    _expect_refused(runs, args, fragment)


def test_runs_folder_that_is_a_file(tmp_path):
    target = tmp_path / "a-file"
    target.write_text("x")
    code, _, err = cli_inprocess(target, *BASE)
    assert code == 2 and "paths.runs must be a folder" in err and "Traceback" not in err


def test_the_ledger_keeps_its_permissions(runs):
    path = runs / LEDGER
    path.chmod(0o664)
    code, _, err = cli_inprocess(runs, *BASE)
    assert code == 0, err
    assert path.stat().st_mode & 0o777 == 0o664


def test_every_bad_row_of_a_results_file_is_reported(runs):
    path = _results(runs, "id,retention_pct\noxy-9999,80\noxy-0005,abc\noxy-0006,120\n")
    _expect_refused(runs, [f"record={path}"], "3 problems", "row 1", "row 2", "row 3")
