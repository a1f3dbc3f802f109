"""The ledger under stress: a spreadsheet saving during a round, concurrent rounds,
fuzzed files, and a closed loop resuming what an interrupted one left."""

from __future__ import annotations

import os
import threading
import warnings

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import optim.strategies
from optim.exceptions import LedgerLockedError, LedgerWarning, OptimError
from optim.ledger import Ledger
from optim.rounds import plan_round, record_results
from tests.helpers import SMOKE, make_campaign, measure


def test_a_spreadsheet_save_during_a_round_is_kept(oxy, tmp_path, monkeypatch):
    plan_round(oxy)
    measure(oxy, tmp_path, ids=[f"oxy-000{k}" for k in range(1, 8)])
    path = oxy.ledger_path
    real = optim.strategies.fit_models
    saved: list[bytes] = []

    def fit_while_someone_saves(ledger, settings):
        # the scientist types oxy-0008's values and saves while the GP fits
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        frame.loc[7, ["conductivity_mS_cm", "retention_pct"]] = ["1.23", "88"]
        frame.to_csv(path, index=False)
        saved.append(path.read_bytes())
        return real(ledger, settings)

    monkeypatch.setattr(optim.strategies, "fit_models", fit_while_someone_saves)
    with pytest.raises(OptimError, match="changed on disk while this command ran"):
        plan_round(oxy)
    assert path.read_bytes() == saved[0]  # the edit is kept, byte for byte
    kept = list(path.parent.glob("ledger.unsaved-*.csv"))
    assert len(kept) == 1 and len(pd.read_csv(kept[0])) == 8 + 4  # the round's version
    monkeypatch.setattr(optim.strategies, "fit_models", real)
    result = plan_round(oxy)  # run again: it reads the edit
    assert result.metrics["n_measured"] == 8


def test_concurrent_rounds_one_proceeds(oxy):
    plan_round(oxy)
    outcomes: list[str] = []
    with Ledger.lock(oxy.ledger_path):  # another round holds the campaign
        thread = threading.Thread(target=lambda: _try(oxy, outcomes))
        thread.start()
        thread.join()
    assert outcomes == ["locked"]
    assert len(Ledger.load(oxy.ledger_path, oxy.schema).frame) == 8


def _try(settings, outcomes):
    try:
        plan_round(settings)
        outcomes.append("ran")
    except LedgerLockedError:
        outcomes.append("locked")


@pytest.fixture(scope="module")
def measured_ledger(tmp_path_factory):
    """A ledger text after one measured round (the fuzzers' seed)."""
    from tests.helpers import make_settings

    tmp = tmp_path_factory.mktemp("fuzz")
    s = make_settings("oxychloride", tmp / "runs", [*SMOKE, "debug=smoke"])
    plan_round(s)
    measure(s, tmp)
    return s, s.ledger_path.read_text()


# 1,500 ledgers + 750 results files in the suite; a larger run:
#   FUZZ_EXAMPLES=20000 python -m pytest tests/test_ledger_safety.py -k fuzzed
FUZZ = int(os.environ.get("FUZZ_EXAMPLES", "1500"))
CELL_TEXT = st.one_of(
    st.sampled_from(["", "nan", "inf", "-inf", "1e309", "1e20", "-2", "1.5", "0,58", "abc",
                     "=1+1", "\x00", '"', "'", ",", ";", "\n", "measured", "failed",
                     "proposed", "oxy-0001", "2026-12-02T00:00:00+00:00", "0.5", "100"]),
    st.text(max_size=12))


def _edited(text: str, edits, cut: int | None) -> str:
    lines = text.splitlines()
    for row, col, value in edits:
        cells = lines[1 + row % (len(lines) - 1)].split(",")
        cells[col % len(cells)] = value
        lines[1 + row % (len(lines) - 1)] = ",".join(cells)
    out = "\n".join(lines) + "\n"
    return out[:cut] if cut is not None else out


@settings(max_examples=FUZZ, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(0, 50), st.integers(0, 30), CELL_TEXT),
                      max_size=4),
       cut=st.one_of(st.none(), st.integers(0, 3000)))
def test_fuzzed_ledgers_raise_only_our_errors(measured_ledger, tmp_path_factory, edits, cut):
    s, text = measured_ledger
    path = tmp_path_factory.mktemp("f") / "ledger.csv"
    path.write_text(_edited(text, edits, cut))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LedgerWarning)
        try:
            Ledger.load(path, s.schema)
        except OptimError:
            pass


@settings(max_examples=max(FUZZ // 2, 600), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.sampled_from(["oxy-0001", "oxy-0002", "oxy-0009", "",
                                                "=x", "oxy-0003"]),
                               CELL_TEXT, CELL_TEXT, CELL_TEXT), max_size=4),
       header=st.sampled_from(["id,conductivity_mS_cm,retention_pct,status",
                               "id;conductivity_mS_cm", "id,notes,measured_at,status",
                               "conductivity_mS_cm", "id,sigma", ""]))
def test_fuzzed_results_files_raise_only_our_errors(measured_ledger, tmp_path_factory,
                                                     rows, header):
    s, text = measured_ledger
    folder = tmp_path_factory.mktemp("r")
    ledger = Ledger(folder / "ledger.csv", s.schema,
                    Ledger.load(s.ledger_path, s.schema).frame)
    path = folder / "results.csv"
    path.write_text(header + "\n" + "\n".join(",".join(r) for r in rows))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LedgerWarning)
        try:
            ledger.merge_results(path)
        except OptimError:
            pass


@pytest.mark.slow
def test_a_closed_loop_resumes_what_an_interrupted_one_left(tmp_path):
    campaign = make_campaign("oxychloride", tmp_path / "runs", ["debug=smoke",
                                                                  "lab=simulated"])
    campaign.propose()  # an earlier loop proposed, then died before the lab measured
    campaign.run(rounds=1)
    assert campaign.resumed == ["oxy-0001", "oxy-0002", "oxy-0003", "oxy-0004"]
    ledger = campaign.ledger
    assert len(ledger) == 4 + 3
    assert set(ledger["status"]) <= {"measured", "failed"}


def test_record_refuses_a_missing_ledger(oxy, tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("id,conductivity_mS_cm\noxy-0001,1\n")
    with pytest.raises(OptimError, match="does not exist yet"):
        record_results(oxy, path)
