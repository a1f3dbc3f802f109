"""Stopping a cell early: ``checkpoints.stop_below``, the ledger's ``stopped_at`` column
and the calendar loop that takes a stopped cell off its channel."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch

from optim.calendar import run_calendar
from optim.checkpoints import CheckpointSpec, Waiting, cycling, to_stop, waiting
from optim.exceptions import ConfigError, LedgerError
from optim.labs.cycling import CyclingInterlayerLab
from optim.labs.simulated import SimulatedInterlayerLab
from optim.ledger import Ledger
from optim.metrics import thresholds_beaten
from optim.objectives import Objectives, Target
from tests.helpers import make_campaign

TK = {"dtype": torch.float64}


def _read(tmp_path):
    """A smoke interlayer campaign whose first two cells have read cycles 25 and 50."""
    campaign = make_campaign("interlayer", tmp_path / "runs", ["debug=smoke"])
    ids = list(campaign.propose().batch["id"])
    campaign.record(pd.DataFrame({"id": ids[:2], "retention_pct@25": [97.0, 98.0],
                                  "retention_pct@50": [93.0, 96.5],
                                  "ccd_mA_cm2": [0.8, 1.2]}))
    return campaign, ids


# ---------------------------------------------------------------- the ledger column
def test_a_stopped_cell_is_recorded_round_trips_and_is_no_longer_cycling(tmp_path):
    campaign, (a, b, *_) = _read(tmp_path)
    assert campaign.record(pd.DataFrame({"id": [a], "stopped_at": [50],
                                         "notes": ["ended: hopeless"]})) == [a]
    ledger = campaign.ledger.set_index("id")
    assert ledger.loc[a, "stopped_at"] == 50.0 and math.isnan(ledger.loc[b, "stopped_at"])
    assert "ended: hopeless" in ledger.loc[a, "notes"]
    still = cycling(campaign.ledger, campaign.settings.objectives)
    assert campaign.ledger.loc[still, "id"].tolist() == [b]  # a is not pending any more
    header = campaign.ledger_path.read_text().splitlines()[0].split(",")
    assert header.index("stopped_at") == header.index("energy_density_Wh_kg") + 1
    text = campaign.ledger_path.read_text()
    loaded = Ledger.load(campaign.ledger_path, campaign.settings.schema)
    loaded.write()
    assert campaign.ledger_path.read_text() == text
    assert "1 still cycling, waiting for retention_pct; 1 stopped early" in loaded.summary()
    # recording the same stop again changes nothing
    assert campaign.record(pd.DataFrame({"id": [a], "stopped_at": [50]})) == []


@pytest.mark.parametrize("rows, match", [
    ({"stopped_at": [75]}, r"column 'stopped_at': value='75'.*one of \[25, 50, 100, 200\]"),
    ({"stopped_at": [350]}, r"value='350' is not a checkpoint a test can stop after"),
    ({"stopped_at": ["soon"]}, r"value='soon' is not a checkpoint"),
    ({"stopped_at": [25]}, r"has retention_pct@50 read after checkpoint 25"),
    ({"stopped_at": [50], "retention_pct@100": [90.0]},
     r"has retention_pct@100 read after checkpoint 50"),
])
def test_a_bad_stop_names_row_column_value_and_fix_and_changes_nothing(tmp_path, rows,
                                                                         match):
    campaign, (a, *_) = _read(tmp_path)
    before = campaign.ledger_path.read_text()
    with pytest.raises(LedgerError, match=match):
        campaign.record(pd.DataFrame({"id": [a], **rows}))
    assert campaign.ledger_path.read_text() == before


def test_a_stop_is_never_overwritten_and_a_stopped_cell_reads_nothing_more(tmp_path):
    campaign, (a, _, c, *_) = _read(tmp_path)
    campaign.record(pd.DataFrame({"id": [a], "stopped_at": [50]}))
    before = campaign.ledger_path.read_text()
    with pytest.raises(LedgerError, match=r"already has stopped_at=50 recorded.*gives 25"):
        campaign.record(pd.DataFrame({"id": [a], "stopped_at": [25]}))
    with pytest.raises(LedgerError, match=r"recorded as stopped after checkpoint 50.*"
                                          r"retention_pct@100 read after"):
        campaign.record(pd.DataFrame({"id": [a], "retention_pct@100": [91.0]}))
    with pytest.raises(LedgerError, match=rf"{c} has nothing measured yet.*status 'failed'"):
        campaign.record(pd.DataFrame({"id": [c], "stopped_at": [25]}))
    assert campaign.ledger_path.read_text() == before


def test_a_hand_edited_stop_is_checked_when_the_ledger_is_read(tmp_path):
    campaign, (a, *_) = _read(tmp_path)
    path = campaign.ledger_path
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[frame["id"] == a, "stopped_at"] = "25"  # yet cycle 50 is read
    frame.to_csv(path, index=False)
    with pytest.raises(LedgerError, match=r"ledger.csv, row 1 .*column 'stopped_at': "
                                          r"value='25' but the row has retention_pct@50"):
        Ledger.load(path, campaign.settings.schema, accept="all")


def test_a_stopped_cell_does_not_count_as_beating_the_thresholds(tmp_path):
    campaign, (a, b, *_) = _read(tmp_path)
    campaign.record(pd.DataFrame({"id": [a, b], "energy_density_Wh_kg": [250.0, 250.0],
                                  "ccd_mA_cm2": [0.8, 1.2]}))
    assert thresholds_beaten(campaign.ledger, campaign.settings)  # latest readings beat
    campaign.record(pd.DataFrame({"id": [a, b], "stopped_at": [50, 50]}))
    assert not thresholds_beaten(campaign.ledger, campaign.settings)


# ---------------------------------------------------------------- the rule
@pytest.mark.parametrize("value", [0, 1, 1.5, -0.1, "often", True])
def test_stop_below_must_be_a_probability(value):
    with pytest.raises(ConfigError, match="probability between 0 and 1") as err:
        CheckpointSpec(stop_below=value)
    assert err.value.key == "stop_below"


def test_stop_below_in_the_campaign_config_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"stop_below.*between 0 and 1"):
        make_campaign("interlayer", tmp_path / "runs", ["checkpoints.stop_below=5"])
    campaign = make_campaign("interlayer", tmp_path / "runs2", ["checkpoints.stop_below=null"])
    assert campaign.settings.checkpoints.stop_below is None


class _Fixed:
    """A model whose posterior at row ``k`` has the given mean and sd."""

    def __init__(self, mean, sd):
        self.mean, self.sd = torch.tensor(mean, **TK), torch.tensor(sd, **TK)

    def posterior(self, X, observation_noise=False):
        k = X[:, 0].long()
        return type("P", (), {"mean": self.mean[k].unsqueeze(-1),
                              "variance": self.sd[k].pow(2).unsqueeze(-1)})


def test_the_probability_of_beating_the_threshold_by_hand_and_who_is_stopped():
    t = Target("retention_pct", "maximize", 70, unit="%", valid_range=(0, 100),
               checkpoints=(25, 50, 350))
    frame = pd.DataFrame({"id": ["c0", "c1", "c2", "c3"], "status": ["measured"] * 4,
                          "k": [0.0, 1.0, 2.0, 3.0],
                          "retention_pct@25": [97.0, 98.0, np.nan, 96.0],
                          "retention_pct@50": [93.0, np.nan, np.nan, np.nan],
                          "retention_pct": [np.nan] * 4})
    model = _Fixed([60.0, 72.0, 50.0, 66.0], [5.0, 4.0, 5.0, 5.0])
    waits = waiting(frame, Objectives([t]), lambda _: model,
                    lambda rows: torch.as_tensor(rows[["k"]].to_numpy(float, copy=True), **TK))
    p = {w.id: w.p_beats for w in waits}
    phi = [0.5 * math.erfc(z / math.sqrt(2)) for z in (2.0, -0.5, 4.0, 0.8)]  # P(Z > z)
    assert [p[i] for i in ("c0", "c1", "c2", "c3")] == pytest.approx(phi, abs=1e-12)
    # c0 (0.023) stops; c2 (3e-5) has no reading of its own yet; c3 (0.21) may beat it
    assert [w.id for w in to_stop(waits, CheckpointSpec(stop_below=0.05))] == ["c0"]
    assert [w.id for w in to_stop(waits, CheckpointSpec(stop_below=0.25))] == ["c0", "c3"]
    assert to_stop(waits, CheckpointSpec(stop_below=None)) == []
    assert to_stop(waits, CheckpointSpec("latest")) == []  # latest does not predict finals
    lower = Target("fade_pct", "minimize", 20, unit="%", valid_range=(0, 100),
                   checkpoints=(25, 50, 350))
    frame = frame.rename(columns=lambda c: c.replace("retention_pct", "fade_pct"))
    waits = waiting(frame, Objectives([lower]), lambda _: model,
                    lambda rows: torch.as_tensor(rows[["k"]].to_numpy(float, copy=True), **TK))
    # minimized: beating 20 means below it; c0 at 60 +- 5 has P = P(Z < -8)
    assert waits[0].p_beats == pytest.approx(0.5 * math.erfc(8 / math.sqrt(2)), rel=1e-6)


def test_a_cell_waiting_on_two_targets_stops_only_when_both_say_so():
    t = Target("retention_pct", "maximize", 70, unit="%", checkpoints=(25, 350))
    base = dict(id="c0", target=t, last=25, last_value=97.0, next=350, mean=60.0,
                lo90=50.0, hi90=70.0, readings={25: 97.0})
    stop, go = Waiting(**base, p_beats=0.01), Waiting(**base, p_beats=0.4)
    spec = CheckpointSpec(stop_below=0.05)
    assert to_stop([stop, go], spec) == []
    assert to_stop([stop, stop], spec) == [stop]
    assert to_stop([stop], CheckpointSpec()) == []  # off by default


# ---------------------------------------------------------------- the calendar
def test_the_calendar_takes_a_stopped_cell_off_its_channel(tmp_path):
    campaign = make_campaign("interlayer", tmp_path / "runs", ["debug=smoke"])
    lab = CyclingInterlayerLab(SimulatedInterlayerLab(seed=0, random_failure=0.0),
                               channels=8)
    propose, chosen = campaign.propose, {}

    def propose_and_stop():  # the round's own stop list, forced to one cell
        result = propose()
        read = [w for w in result.waiting if w.last is not None]
        if read and not chosen:
            chosen["w"] = read[0]
            return dataclasses.replace(result, stop=[read[0]])
        return dataclasses.replace(result, stop=[])

    campaign.propose = propose_and_stop
    dates = run_calendar(campaign, lab, weeks=5)
    w = chosen["w"]
    k = next(i for i, d in enumerate(dates) if d.stopped)
    assert dates[k].stopped == [w.id]
    # the same campaign without the stop: one more cell on a channel at that date
    again = make_campaign("interlayer", tmp_path / "runs2", ["debug=smoke"])
    kept = run_calendar(again, lab, weeks=k + 1)
    assert kept[k].cycling == dates[k].cycling + 1
    row = campaign.ledger.set_index("id").loc[w.id]
    assert row["stopped_at"] == w.last
    assert f"stopped after {w.last} cycles on day {dates[k].day:g}" in row["notes"]
    later = [c for c, cp in w.target.checkpoint_columns.items() if cp > w.last]
    assert row[later].isna().all()  # its later readings never came
    assert all(w.id not in {x.id for x in d.result.waiting}
               for d in dates[k + 1:] if d.result is not None)


def test_the_reviewer_reads_which_cells_to_stop_why_and_what_to_record():
    from types import SimpleNamespace

    from optim.checkpoints import waiting_table
    from optim.report import stop_lines

    t = Target("retention_pct", "maximize", 70, unit="%", checkpoints=(25, 50, 350))
    w = Waiting("ifl-0012", t, 50, 93.1, 350, 48.2, 38.5, 57.9, {25: 97.0, 50: 93.1},
                p_beats=0.002)
    go = dataclasses.replace(w, id="ifl-0013", p_beats=0.4)
    lines = stop_lines(SimpleNamespace(stop=[w], stop_below=0.05))
    assert lines[0].startswith("Stop 1 cell(s): each has under 5 % probability that "
                               "retention_pct at 350 cycles beats its threshold (≥ 70%)")
    assert "stopped_at = the last checkpoint read" in lines[0]
    assert lines[1] == ("  ifl-0012: stopped_at 50 (read 93.1%); predicted 48.2 [38.5, "
                        "57.9]%, P(beats) = 0.002")
    assert stop_lines(SimpleNamespace(stop=[], stop_below=0.05)) == []
    table = waiting_table([w, go], [w])
    assert table["stop"].tolist() == [True, False]
    assert table["p_beats_threshold"].tolist() == [0.002, 0.4]
