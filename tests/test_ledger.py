"""Ledger: round trips, recording, and bad input that must stop before any write."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from optim.exceptions import LedgerError, LedgerLockedError, LedgerWarning
from optim.ledger import Ledger
from optim.report import format_batch
from optim.rounds import plan_round, record_results


@pytest.fixture
def planned(oxy):
    """An oxychloride ledger holding the 8-row initial design."""
    plan_round(oxy)
    return oxy


def _edit(path, row, column, value):
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[row, column] = value
    frame.to_csv(path, index=False)


def test_round_trip_is_exact(planned):
    ledger = Ledger.load(planned.ledger_path, planned.schema)
    before = planned.ledger_path.read_bytes()
    ledger.write()
    assert planned.ledger_path.read_bytes() == before
    again = Ledger.load(planned.ledger_path, planned.schema)
    pd.testing.assert_frame_equal(ledger.frame, again.frame)
    assert list(again.frame.columns) == planned.schema.columns
    assert len(again.frame) == 8 and set(again.frame["status"]) == {"proposed"}
    assert not list(planned.ledger_path.parent.glob(".ledger-*"))  # no temp files left


def test_spreadsheet_edits_are_understood(planned):
    path = planned.ledger_path
    _edit(path, 0, "conductivity_mS_cm", "1.7")          # status left as 'proposed'
    _edit(path, 1, "status", "failed")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    extra = frame.iloc[[2]].copy()
    extra[["id", "round", "status", "source", "conductivity_mS_cm"]] = ["", "", "", "", "0.9"]
    pd.concat([frame, extra]).to_csv(path, index=False)  # a row added by hand, no id
    ledger = Ledger.load(path, planned.schema)
    ledger.complete()
    f = ledger.frame
    assert f.loc[0, "status"] == "measured" and f.loc[0, "conductivity_mS_cm"] == 1.7
    assert f.loc[1, "status"] == "failed"
    assert f.loc[8, ["id", "status", "source", "round"]].tolist() == [
        "oxy-0009", "measured", "manual", 0]
    assert len(ledger.measured("conductivity_mS_cm")) == 2
    assert len(ledger.measured("retention_pct")) == 0
    assert len(ledger.pending) == 6


BAD_CELLS = [
    ("conductivty_mS_cm", "1.0", "unknown column"),
    ("cost_usd_per_L", "44", "computed from the composition"),
    ("Li2O", "abc", r"row 3 \(line 4\), column 'Li2O': value='abc' is not a number"),
    ("Li2O", "nan", "value='nan' is not finite"),
    ("Li2O", "", "value='' is not a number"),
    ("anneal_temperature_C", "400", r"value=400.0 is outside the bounds \[25, 320\]"),
    ("conductivity_mS_cm", "-0.5", "modelled in log10, so it must be > 0"),
    ("retention_pct", "105", "above the valid range"),
    ("status", "done", "not a status"),
    ("status", "measured", "no target value is filled in"),
    ("round", "two", "not a round number"),
]


@pytest.mark.parametrize(("column", "value", "match"), BAD_CELLS,
                         ids=[f"{c}={v!r}" for c, v, _ in BAD_CELLS])
def test_bad_ledger_cell_stops_round_without_writing(planned, column, value, match):
    path = planned.ledger_path
    _edit(path, 2, column, value)
    before = path.read_bytes()
    with pytest.raises(LedgerError, match=match) as info:
        plan_round(planned)
    assert str(path) in str(info.value)
    assert path.read_bytes() == before


def test_fractions_not_summing_to_one(planned):
    path = planned.ledger_path
    _edit(path, 0, "Li2O", "0.5")
    _edit(path, 0, "ZrCl4", "0.3")
    _edit(path, 0, "AlCl3", "0.1")
    before = path.read_bytes()
    with pytest.raises(LedgerError, match=r"row 1 .*fractions sum to 0.9; expected 1"):
        plan_round(planned)
    assert path.read_bytes() == before


def test_duplicate_id(planned):
    path = planned.ledger_path
    _edit(path, 3, "id", "oxy-0001")
    before = path.read_bytes()
    with pytest.raises(LedgerError, match=r"row 4 .*column 'id'.*duplicates row 1"):
        plan_round(planned)
    assert path.read_bytes() == before


def test_constraint_violation_warns_but_keeps_row(planned):
    path = planned.ledger_path
    for col, v in (("Li2O", "0.74"), ("ZrCl4", "0.26"), ("AlCl3", "0.0")):  # u = 2.85
        _edit(path, 0, col, v)
    with pytest.warns(LedgerWarning, match=r"O/\(Zr\+Al\) <= 2.3"):
        ledger = Ledger.load(path, planned.schema)
    assert len(ledger.frame) == 8


def _results(tmp_path, rows, columns=("id", "conductivity_mS_cm", "retention_pct")):
    path = tmp_path / "results.csv"
    pd.DataFrame(rows, columns=list(columns)).to_csv(path, index=False)
    return path


def test_record_merges_by_id_and_keeps_partial_rows(planned, tmp_path):
    path = _results(tmp_path, [["oxy-0001", 2.1, 88.0], ["oxy-0002", 0.4, None]])
    changed, frame = record_results(planned, path)
    assert changed == ["oxy-0001", "oxy-0002"]
    assert frame.loc[1, "status"] == "measured" and pd.isna(frame.loc[1, "retention_pct"])
    # the later retention value arrives weeks after conductivity
    path = _results(tmp_path, [["oxy-0002", 0.4, 91.0]])
    changed, frame = record_results(planned, path)
    assert changed == ["oxy-0002"] and frame.loc[1, "retention_pct"] == 91.0
    failed = _results(tmp_path, [["oxy-0003", "failed"]], ("id", "status"))
    record_results(planned, failed)
    assert Ledger.load(planned.ledger_path, planned.schema).frame.loc[2, "status"] == "failed"


BAD_RESULTS = [
    ([["oxy-0099", 1.0, 90.0]], "'oxy-0099' is not an id in the ledger"),
    ([["oxy-0001", 1.0, 90.0], ["oxy-0001", 1.1, 91.0]], "repeats row 1"),
    ([["oxy-0001", -1.0, 90.0]], "must be > 0"),
    ([["oxy-0001", "high", 90.0]], "value='high' is not a number"),
]


@pytest.mark.parametrize(("rows", "match"), BAD_RESULTS,
                         ids=["unknown-id", "duplicate-id", "negative", "text"])
def test_bad_results_change_nothing(planned, tmp_path, rows, match):
    before = planned.ledger_path.read_bytes()
    with pytest.raises(LedgerError, match=match) as info:
        record_results(planned, _results(tmp_path, rows))
    assert "results.csv, row" in str(info.value)
    assert planned.ledger_path.read_bytes() == before


def test_results_never_overwrite_a_recorded_value(planned, tmp_path):
    record_results(planned, _results(tmp_path, [["oxy-0001", 2.1, 88.0]]))
    before = planned.ledger_path.read_bytes()
    with pytest.raises(LedgerError, match="already has conductivity_mS_cm=2.1 recorded"):
        record_results(planned, _results(tmp_path, [["oxy-0001", 2.3, 88.0]]))
    assert planned.ledger_path.read_bytes() == before
    # the same value again is a harmless no-op
    changed, _ = record_results(planned, _results(tmp_path, [["oxy-0001", 2.1, 88.0]]))
    assert changed == []


def test_results_with_unknown_column(planned, tmp_path):
    path = _results(tmp_path, [["oxy-0001", 2.1]], ("id", "sigma"))
    with pytest.raises(LedgerError, match="column 'sigma': unknown column"):
        record_results(planned, path)


def test_lock_stops_a_second_round(planned):
    with Ledger.lock(planned.ledger_path):
        with pytest.raises(LedgerLockedError, match="another process is running a round"):
            plan_round(planned)


def test_percent_written_as_fraction_warns(planned, tmp_path):
    with pytest.warns(LedgerWarning, match=r"retention_pct=0.9 looks like a fraction.*did "
                                           r"you mean 90\?"):
        record_results(planned, _results(tmp_path, [["oxy-0001", 2.1, 0.9]]))


def test_zero_conductivity_message(planned, tmp_path):
    with pytest.raises(LedgerError, match=r"value=0.0 is not positive \(the target is "
                                          r"modelled in log10"):
        record_results(planned, _results(tmp_path, [["oxy-0001", 0.0, 90.0]]))


def test_rounded_fractions_are_kept_and_normalized_for_modelling(planned):
    path = planned.ledger_path
    for col, v in (("Li2O", "0.583"), ("ZrCl4", "0.313"), ("AlCl3", "0.103")):  # 0.999
        _edit(path, 0, col, v)
    with pytest.warns(LedgerWarning, match="fractions sum to 0.999"):
        ledger = Ledger.load(path, planned.schema)
    assert ledger.frame.loc[0, "Li2O"] == 0.583  # kept as written
    X = planned.space.encode(ledger.frame.iloc[[0]], dtype=torch.float64)
    # normalized for modelling: exact to float64 round-off
    torch.testing.assert_close(X[0, :3].sum(), torch.tensor(1.0, dtype=torch.float64),
                               rtol=0, atol=1e-15)


def test_unquoted_comma_gets_a_fix(planned):
    with planned.ledger_path.open("a") as fh:
        cells = ["oxy-0099", "1", "proposed", "manual", "0.5", "0.3", "0.2", "100", "10"]
        cells += [""] * (len(planned.schema.columns) - len(cells) - 1)
        fh.write(",".join(cells) + ",milled, then pressed\n")  # one cell too many
    with pytest.raises(LedgerError, match="quote any cell that contains a comma"):
        Ledger.load(planned.ledger_path, planned.schema)


def test_hand_filled_result_gets_measured_at(planned):
    _edit(planned.ledger_path, 0, "conductivity_mS_cm", "1.2")
    ledger = Ledger.load(planned.ledger_path, planned.schema)
    assert ledger.frame.loc[0, "measured_at"] == ""
    ledger.complete()
    assert ledger.frame.loc[0, "measured_at"] != ""
    assert ledger.frame.loc[1, "measured_at"] == ""  # still proposed


def test_decisions_from_command_line_are_strict(planned):
    ledger = Ledger.load(planned.ledger_path, planned.schema)
    changed, ignored = ledger.apply_decisions({"oxy-0001": "approve", "oxy-0002": "reject"},
                                              "command line")
    assert changed == ["oxy-0001", "oxy-0002"] and ignored == []
    assert ledger.frame.loc[:1, "status"].tolist() == ["approved", "rejected"]
    assert len(ledger.pending) == 7 and len(ledger.active) == 7
    for bad, match in (({"oxy-0099": "reject"}, "not an id"),
                       ({"oxy-0003": "maybe"}, "expected 'approve' or 'reject'")):
        with pytest.raises(LedgerError, match=match):
            ledger.apply_decisions(bad, "command line")


def test_decisions_from_ui_are_reported_not_raised(planned, tmp_path):
    record_results(planned, _results(tmp_path, [["oxy-0001", 2.1, 88.0]]))
    ledger = Ledger.load(planned.ledger_path, planned.schema)
    changed, ignored = ledger.apply_decisions(
        {"oxy-0001": "reject", "oxy-0002": "nope", "oxy-0003": "Rejected"}, "mlflow tag",
        strict=False)
    assert changed == ["oxy-0003"]
    assert any("oxy-0001 is already measured" in m for m in ignored)
    assert any("'nope'" in m for m in ignored)


def test_summary_says_what_was_read_and_which_rows_a_filled_cell_promoted(planned):
    path = planned.ledger_path
    _edit(path, 0, "conductivity_mS_cm", "0.5")
    _edit(path, 1, "conductivity_mS_cm", "0.9")
    _edit(path, 1, "retention_pct", "88")
    _edit(path, 2, "status", "failed")
    ledger = Ledger.load(path, planned.schema)
    assert ledger.promoted == ["oxy-0001", "oxy-0002"]
    assert ledger.summary() == (
        f"Read {path}: 8 experiment(s): 5 proposed, 2 measured, 1 failed (1 waiting for "
        "retention_pct). A filled target cell moved 2 row(s) from proposed to measured: "
        "oxy-0001, oxy-0002.")
    ledger.write()  # once written as measured, the next read promotes nothing
    again = Ledger.load(path, planned.schema)
    assert again.promoted == [] and "moved" not in again.summary()


def test_summary_names_targets_nobody_measured_yet(planned):
    _edit(planned.ledger_path, 0, "conductivity_mS_cm", "0.5")
    text = Ledger.load(planned.ledger_path, planned.schema).summary()
    assert "Not measured on any row yet: retention_pct." in text


def _replicate_results(tmp_path, rows, name="replicates.csv"):
    path = tmp_path / name
    pd.DataFrame(rows, columns=["id", "conductivity_mS_cm", "replicate"]).to_csv(
        path, index=False)
    return path


def test_a_replicate_is_kept_as_its_own_row_and_fitted(planned, tmp_path):
    record_results(planned, _results(tmp_path, [["oxy-0001", 2.1, 88.0]]))
    changed, frame = record_results(planned, _replicate_results(tmp_path, [
        ["oxy-0001", 2.3, "yes"], ["oxy-0001", 1.9, "yes"], ["oxy-0002", 0.4, "yes"]]))
    # oxy-0002 had no value: its first measurement fills its own row
    assert changed == ["oxy-0002", "oxy-0001.2", "oxy-0001.3"]
    reps = frame[frame["replicate_of"] == "oxy-0001"]
    assert list(reps["id"]) == ["oxy-0001.2", "oxy-0001.3"]
    assert list(reps["conductivity_mS_cm"]) == [2.3, 1.9]
    assert (reps["status"] == "measured").all() and (reps["round"] == 1).all()
    first = frame[frame["id"] == "oxy-0001"].iloc[0]
    assert first["conductivity_mS_cm"] == 2.1  # the first value is kept
    for col in planned.space.names:  # the same sample: the same inputs
        assert (reps[col] == first[col]).all()
    ledger = Ledger.load(planned.ledger_path, planned.schema)
    assert len(ledger.measured("conductivity_mS_cm")) == 4  # the model sees all three


def test_a_replicate_needs_saying_so_and_the_refusal_says_how(planned, tmp_path):
    record_results(planned, _results(tmp_path, [["oxy-0001", 2.1, 88.0]]))
    before = planned.ledger_path.read_bytes()
    with pytest.raises(LedgerError, match="Write yes in a 'replicate' column"):
        record_results(planned, _results(tmp_path, [["oxy-0001", 2.3, 88.0]]))
    with pytest.raises(LedgerError, match="value='maybe' is not yes or no"):
        record_results(planned, _replicate_results(tmp_path, [["oxy-0001", 2.3, "maybe"]]))
    assert planned.ledger_path.read_bytes() == before


def test_a_replicate_added_by_hand_is_numbered_after_its_sample(planned):
    path = planned.ledger_path
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[0, "conductivity_mS_cm"] = "2.1"
    copy = frame.iloc[[0]].copy()
    copy["id"], copy["replicate_of"], copy["conductivity_mS_cm"] = "", "oxy-0001", "2.4"
    pd.concat([frame, copy]).to_csv(path, index=False)
    plan_round(planned)
    ledger = Ledger.load(path, planned.schema)
    row = ledger.frame[ledger.frame["replicate_of"] == "oxy-0001"].iloc[0]
    assert row["id"] == "oxy-0001.2" and row["conductivity_mS_cm"] == 2.4
    # a copied row with its id kept gets the fix in its error
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    pd.concat([frame, frame.iloc[[1]]]).to_csv(path, index=False)
    with pytest.raises(LedgerError, match="write oxy-0002 in its replicate_of cell"):
        Ledger.load(path, planned.schema, accept="all")


def test_a_round_says_which_decision_it_applied_and_passes_on_only_understood_ones(planned,
                                                                                  tmp_path):
    record_results(planned, _results(tmp_path, [["oxy-0001", 2.1, 88.0]]))
    result = plan_round(planned, {"oxy-0001": "reject", "oxy-0002": "rejct",
                                  "oxy-0003": "reject", "oxy-0004": "approve",
                                  "oxy-9999": "reject"})
    assert result.notes[0] == ("applied reviewers' decisions from mlflow to oxy-0003 "
                               "(rejected), oxy-0004 (approved)")
    assert any("decision 'rejct' for oxy-0002" in n for n in result.notes)
    # a typo or an unknown id stays unapplied in the tracker (so it is said again and its
    # correction is read); a moot decision on a measured row is understood
    assert result.decisions == {"oxy-0001": "reject", "oxy-0003": "reject",
                                "oxy-0004": "approve"}
    table = format_batch(result, planned).splitlines()
    header = next(i for i, line in enumerate(table) if line.lstrip().startswith("id "))
    decided = next(i for i, line in enumerate(table) if "oxy-0003 (rejected)" in line)
    warned = next(i for i, line in enumerate(table) if line.startswith("WARNING:"))
    assert decided < header and warned < header  # before the batch, not after it


def test_recording_says_what_else_it_did(planned, tmp_path):
    _edit(planned.ledger_path, 0, "conductivity_mS_cm", "0.5")  # filled by hand
    _edit(planned.ledger_path, 2, "status", "failed")
    notes: list[str] = []
    record_results(planned, _results(tmp_path, [["oxy-0002", 2.1, 88.0],
                                                ["oxy-0003", 0.01, None]]), notes=notes)
    assert notes == [
        "a target cell filled in the ledger by hand moved oxy-0001 from proposed to measured",
        "oxy-0003 recorded as failed: values on a failed row are kept for the record, "
        "never fitted or counted as best"]
    notes.clear()
    record_results(planned, _replicate_results(tmp_path, [["oxy-0002", 2.3, "yes"]]),
                   notes=notes)
    assert notes == ["recorded as replicates (rows of their own, fitted like any "
                     "measurement): oxy-0002.2"]


def test_a_mistyped_status_or_id_gets_the_likely_one(planned, tmp_path):
    _edit(planned.ledger_path, 0, "status", "measurd")
    with pytest.raises(LedgerError, match=r"\(did you mean 'measured'\?\)"):
        Ledger.load(planned.ledger_path, planned.schema)
    _edit(planned.ledger_path, 0, "status", "proposed")
    with pytest.raises(LedgerError, match=r"correct the id \(did you mean 'oxy-0008'\?\)"):
        record_results(planned, _results(tmp_path, [["oxy-008", 2.1, 88.0]]))
