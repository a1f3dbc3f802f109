"""Long-horizon targets: checkpoint columns in the ledger, the checkpoint GP, the
cycling lab's clock and the calendar loop."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from optim.calendar import run_calendar
from optim.checkpoints import CheckpointSpec, cycling, fit_checkpointed, latest_values
from optim.exceptions import ConfigError, LedgerError
from optim.labs.cycling import CyclingInterlayerLab
from optim.labs.interlayer_truth import InterlayerTruth
from optim.labs.simulated import SimulatedInterlayerLab
from optim.ledger import Ledger
from optim.objectives import Target
from optim.rounds import plan_round
from optim.strategies import round_context
from surrogates import GPSurrogate
from surrogates.checkpoints import AtFidelity, CheckpointGP, fade_back, fade_law
from surrogates.validation import loo_predictions
from tests.helpers import cli_inprocess, make_campaign

TK = {"dtype": torch.float64}
CPS = [25, 50, 100, 200, 350]


def _proposed(tmp_path, n_extra=0):
    campaign = make_campaign("interlayer", tmp_path / "runs", ["debug=smoke"])
    result = campaign.propose()
    return campaign, list(result.batch["id"])


# ---------------------------------------------------------------- config and ledger
def test_the_ledger_holds_a_column_per_checkpoint_the_last_is_the_target(tmp_path):
    campaign, _ = _proposed(tmp_path)
    cols = campaign.settings.schema.targets
    assert cols[:5] == ["retention_pct@25", "retention_pct@50", "retention_pct@100",
                        "retention_pct@200", "retention_pct"]
    header = (tmp_path / "runs" / "interlayer" / "ledger.csv").read_text().splitlines()[0]
    assert "retention_pct@50,retention_pct@100" in header


def test_partial_results_merge_by_id_and_checkpoint_and_round_trip(tmp_path):
    campaign, ids = _proposed(tmp_path)
    a, b = ids[:2]
    first = pd.DataFrame({"id": [a, b], "retention_pct@25": [98.5, 97.0],
                          "retention_pct@50": [97.1, np.nan], "ccd_mA_cm2": [1.2, 0.9]})
    assert campaign.record(first) == [a, b]
    # the cycle-100 reading of a cell that has cycle 50 joins it; 350 as the target
    assert campaign.record(pd.DataFrame({"id": [a], "retention_pct@100": [94.0]})) == [a]
    assert campaign.record(pd.DataFrame({"id": [a], "retention_pct@350": [80.5]})) == [a]
    ledger = campaign.ledger.set_index("id")
    assert ledger.loc[a, ["retention_pct@25", "retention_pct@50", "retention_pct@100",
                          "retention_pct"]].tolist() == [98.5, 97.1, 94.0, 80.5]
    assert math.isnan(ledger.loc[a, "retention_pct@200"])
    assert ledger.loc[b, "status"] == "measured" and math.isnan(ledger.loc[b, "retention_pct"])
    # the file round trips exactly (reloaded, rewritten, the same text)
    path = campaign.ledger_path
    text = path.read_text()
    loaded = Ledger.load(path, campaign.settings.schema)
    loaded.write()
    assert path.read_text() == text
    # a recorded reading is never overwritten by a different one
    with pytest.raises(LedgerError, match=r"retention_pct@50.*already has retention_pct@50"):
        campaign.record(pd.DataFrame({"id": [a], "retention_pct@50": [90.0]}))
    assert campaign.ledger.set_index("id").loc[a, "retention_pct@50"] == 97.1


def test_a_checkpoint_never_declared_is_an_error_naming_it(tmp_path):
    campaign, ids = _proposed(tmp_path)
    with pytest.raises(LedgerError) as err:
        campaign.record(pd.DataFrame({"id": [ids[0]], "retention_pct@75": [95.0]}))
    text = str(err.value)
    assert "retention_pct@75" in text and "'75' is not a declared checkpoint" in text
    assert "[25, 50, 100, 200, 350]" in text and "add 75 to" in text
    with pytest.raises(LedgerError, match="both retention_pct@350 and retention_pct"):
        campaign.record(pd.DataFrame({"id": [ids[0]], "retention_pct@350": [80.0],
                                      "retention_pct": [80.0]}))
    with pytest.raises(LedgerError, match="ccd_mA_cm2 has no checkpoints"):
        campaign.record(pd.DataFrame({"id": [ids[0]], "ccd_mA_cm2@10": [1.0]}))
    assert campaign.ledger["retention_pct@25"].isna().all()  # nothing was recorded


def test_a_ledger_edited_with_an_undeclared_checkpoint_column_says_how_to_fix(tmp_path):
    campaign, _ = _proposed(tmp_path)
    frame = pd.read_csv(campaign.ledger_path)
    frame = frame.rename(columns={"retention_pct@100": "retention_pct@150"})
    frame.to_csv(campaign.ledger_path, index=False)
    with pytest.raises(LedgerError, match=r"column 'retention_pct@150'.*'150' is not a "
                                          r"declared checkpoint"):
        Ledger.load(campaign.ledger_path, campaign.settings.schema)


@pytest.mark.parametrize("value, match", [
    ((350, 100), "strictly ascending"), ((350,), "two or more"), ((25, 50.5), "whole"),
    ((0, 350), "positive"), ("25,50", "not a list")])
def test_bad_checkpoints_are_config_errors(value, match):
    with pytest.raises(ConfigError, match=match) as err:
        Target("retention_pct", "maximize", 70, unit="%", checkpoints=value)
    assert err.value.key == "checkpoints"


def test_bad_checkpoints_in_the_campaign_config_name_the_file_and_key(tmp_path):
    code, _, err = cli_inprocess(tmp_path / "runs", "targets.retention_pct.checkpoints=[50,25]",
                                 "tracking=none", campaign="interlayer")
    assert code == 2
    assert "interlayer.yaml" in err and "targets.retention_pct.checkpoints" in err
    code, _, err = cli_inprocess(tmp_path / "runs", "checkpoints.model=guess",
                                 "tracking=none", campaign="interlayer")
    assert code == 2 and "checkpoints.model" in err and "fidelity" in err


# ---------------------------------------------------------------- the checkpoint GP
def _decay_cells(n: int, seed: int, noise: float = 0.0):
    """Cells on a hand-built law: R(N) = 100 exp(-k (N - 1)), k = 1e-3 (1 + 2 x0)."""
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 2, generator=g, **TK)
    k = 1e-3 * (1 + 2 * X[:, 0])
    N = torch.tensor(CPS, **TK)
    R = 100 * torch.exp(-k[:, None] * (N[None, :] - 1))
    R = R + noise * torch.randn(R.shape, generator=g, **TK)
    return X, R


def _long(X, R, upto=None):
    rows, ys, cps = [], [], []
    for i in range(X.shape[0]):
        for j, c in enumerate(CPS):
            if upto is not None and c > upto[i]:
                break
            rows.append(X[i])
            ys.append(R[i, j])
            cps.append(float(c))
    return torch.stack(rows), torch.stack(ys).unsqueeze(-1), torch.tensor(cps, **TK)


def test_fade_law_by_hand():
    got = fade_law(torch.tensor([81.0, 90.0], **TK), torch.tensor([50.0, 350.0], **TK), 350)
    # ln 0.81 = -0.210721; x 349/49 = -1.500850; exp = 0.222941
    assert got[0].item() == pytest.approx(100 * 0.81 ** (349 / 49), rel=1e-12)
    assert got[0].item() == pytest.approx(22.2941, abs=1e-3)
    assert got[1].item() == pytest.approx(90.0, rel=1e-12)  # the final is kept
    back = fade_back(np.array([22.2941]), np.array([50.0]), 350)
    assert back[0] == pytest.approx(81.0, abs=1e-3)


@pytest.mark.parametrize("transform, tol", [("fade_law", 0.5), ("none", 3.0)])
def test_the_checkpoint_gp_predicts_the_final_value_from_cycle_50(transform, tol):
    torch.manual_seed(0)
    X, R = _decay_cells(24, seed=1)
    upto = [350] * 16 + [50] * 8  # the last 8 cells read to cycle 50 only
    Xl, Yl, cl = _long(X, R, upto)
    bounds = torch.tensor([[0.0, 0.0], [1.0, 1.0]], **TK)
    model = CheckpointGP(transform=transform).fit(Xl, Yl, cl, 350.0, bounds)
    assert isinstance(model, AtFidelity) and model.num_outputs == 1
    with torch.no_grad():
        post = model.posterior(X[16:])
    err = (post.mean.squeeze(-1) - R[16:, -1]).abs()
    assert post.mean.shape == (8, 1)
    assert err.max().item() < tol, err  # the truth is 60-94 %; tolerance in points
    # batched candidates (b x q x d) and gradients, as the acquisition optimizer needs
    Xq = torch.rand(3, 2, 2, **TK, requires_grad=True)
    mean = model.posterior(Xq).mean
    assert mean.shape == (3, 2, 1)
    mean.sum().backward()
    assert Xq.grad is not None and torch.isfinite(Xq.grad).all()


@pytest.mark.parametrize("transform", ["fade_law", "none"])
def test_a_cells_own_early_reading_narrows_its_prediction(transform):
    X, R = _decay_cells(16, seed=2, noise=0.2)
    bounds = torch.tensor([[0.0, 0.0], [1.0, 1.0]], **TK)
    sds = []
    for upto in ([350] * 12 + [0] * 4, [350] * 12 + [50] * 4):  # unread, then read to 50
        keep = [i for i, u in enumerate(upto) if u > 0]
        torch.manual_seed(0)
        model = CheckpointGP(transform=transform).fit(
            *_long(X[keep], R[keep], [upto[i] for i in keep]), 350.0, bounds)
        with torch.no_grad():
            post = model.posterior(X[12:], observation_noise=True)
            sds.append(post.variance.sqrt().squeeze(-1))
            if len(sds) == 2:
                err = (post.mean.squeeze(-1) - R[12:, -1]).abs()
                assert (err < 1.645 * sds[1] + 1.0).all()  # honest, within the 90 % band
    assert (sds[1] < sds[0]).all(), sds


def test_loo_of_a_checkpoint_gp_leaves_whole_cells_out_and_reports_finals():
    torch.manual_seed(0)
    X, R = _decay_cells(12, seed=3, noise=0.2)
    Xl, Yl, cl = _long(X, R, [350] * 9 + [100] * 3)
    model = CheckpointGP().fit(Xl, Yl, cl, 350.0, torch.tensor([[0.0, 0.0], [1.0, 1.0]], **TK))
    observed, mean, sd = loo_predictions(model)
    assert observed.shape == (9,)  # one per cell with its final reading
    assert torch.allclose(observed, R[:9, -1], atol=1e-9)
    assert (sd > 0).all() and (mean - observed).abs().max() < 10


# ---------------------------------------------------------------- the lab's clock
def _frame(**cols):
    base = {"seed_metal": "Mg", "seed_thickness_nm": 40.0, "naf_thickness_nm": 20.0,
            "current_density_mA_cm2": 0.5, "stack_pressure_MPa": 10.0}
    base.update(cols)
    n = max((len(v) for v in base.values() if isinstance(v, list)), default=1)
    return pd.DataFrame({k: v if isinstance(v, list) else [v] * n for k, v in base.items()})


def test_the_capacity_fade_law_ends_at_the_truths_retention():
    truth = InterlayerTruth()
    frame = _frame(seed_metal=["Mg", "Au", "none"], seed_thickness_nm=[40.0, 20.0, 0.0],
                   naf_thickness_nm=[20.0, 60.0, 5.0], current_density_mA_cm2=[0.5, 1.5, 0.2],
                   stack_pressure_MPa=[10.0, 3.0, 5.0])
    curve = truth.retention_curve(frame, [1, 25, 50, 100, 200, 350])
    np.testing.assert_allclose(curve[:, -1], truth.retention_pct(frame), rtol=1e-12)
    assert (np.diff(curve, axis=1) < 0).all()  # capacity only fades
    assert curve[:, 0] == pytest.approx(100, abs=0.05)


def test_cycle_350_at_half_a_milliamp_arrives_58_days_into_cycling():
    lab = CyclingInterlayerLab(SimulatedInterlayerLab(seed=0, random_failure=0.0))
    exps = _frame(current_density_mA_cm2=[0.5, 0.1])
    exps.insert(0, "id", ["c1", "c2"])
    exps.insert(1, "round", 1)
    arrivals = lab.start(exps, day=7.0)
    assert [a.day for a in arrivals] == sorted(a.day for a in arrivals)
    last = {a.id: a for a in arrivals if "retention_pct" in a.values}
    start = 7.0 + lab.assembly_days + lab.first_results_days
    assert last["c1"].day - start == pytest.approx(350 * 4 / 24)  # 58.3 days at C/2
    assert last["c2"].day - start == pytest.approx(350 * 20 / 24)  # 292 days at C/10
    assert last["c1"].frees_channel
    first = next(a for a in arrivals if a.id == "c1")
    assert set(first.values) == {"ccd_mA_cm2", "energy_density_Wh_kg"}


def test_a_shorted_cell_reads_zero_from_its_short_and_frees_its_channel():
    lab = CyclingInterlayerLab(SimulatedInterlayerLab(seed=0, random_failure=0.0))
    exps = _frame(current_density_mA_cm2=[2.0] * 6, stack_pressure_MPa=[1.0] * 6,
                  seed_thickness_nm=[0.0] * 6, naf_thickness_nm=[0.0] * 6)
    exps.insert(0, "id", [f"c{k}" for k in range(6)])
    exps.insert(1, "round", 1)
    shorts = [a for a in lab.start(exps, 0.0) if "short circuit" in a.notes]
    assert shorts, "cells far above their CCD short"
    for a in shorts:
        assert a.frees_channel and set(a.values.values()) == {0.0}
        assert "retention_pct" in a.values


# ---------------------------------------------------------------- rounds and calendar
def test_cells_still_cycling_are_pending_and_no_proposal_repeats_one(tmp_path):
    campaign, ids = _proposed(tmp_path)
    lab = CyclingInterlayerLab(SimulatedInterlayerLab(seed=0, random_failure=0.0))
    ledger = campaign.ledger
    batch = ledger[ledger["id"].isin(ids)][["id", "round", *campaign.settings.space.names]]
    readings = pd.concat([pd.DataFrame([{"id": a.id, **a.values}])
                          for a in lab.start(batch.reset_index(drop=True), 0.0)
                          if a.day < 12]).groupby("id", as_index=False).first()
    campaign.record(readings)
    ledger = campaign.ledger
    waiting = cycling(ledger, campaign.settings.objectives)
    assert waiting.sum() >= 3  # read at 25 or 50, not at 350
    settings = campaign.settings
    ctx = round_context(settings, Ledger.load(settings.ledger_path, settings.schema), 1)
    pending = ctx.X_pending
    encoded = settings.space.encode(ledger[waiting], **settings.tkwargs)
    for row in encoded:  # every cycling cell is among the pending points
        assert ((pending - row).abs().max(dim=-1).values < 1e-12).any()
    result = plan_round(settings)
    new = settings.space.encode(result.batch, **settings.tkwargs)
    gap = torch.cdist(new, encoded).min()
    assert gap > 1e-6  # no proposal repeats a cycling cell
    assert result.waiting and all(w.next in CPS for w in result.waiting)
    w = result.waiting[0]
    assert w.lo90 <= w.mean <= w.hi90
    assert any("checkpoint GP" in n for n in result.notes)


@pytest.mark.parametrize("model", ["latest", "final"])
def test_latest_and_final_read_the_checkpoints_as_named(model):
    t = Target("retention_pct", "maximize", 70, unit="%", valid_range=(0, 100),
               checkpoints=(25, 50, 350))
    frame = pd.DataFrame({"status": ["measured"] * 4, "x": [0.1, 0.4, 0.6, 0.9],
                          "retention_pct@25": [99.0, 98.0, 97.0, 96.0],
                          "retention_pct@50": [98.0, 96.0, np.nan, 93.0],
                          "retention_pct": [90.0, 80.0, np.nan, 70.0]})
    assert latest_values(frame, t).tolist() == [90.0, 80.0, 97.0, 70.0]
    seen = {}

    class Recorder(GPSurrogate):
        def fit(self, X, Y, bounds, **kw):
            seen["Y"] = Y.squeeze(-1).tolist()
            return super().fit(X, Y, bounds, **kw)

    def encode(rows):
        return torch.as_tensor(rows[["x"]].to_numpy(float, copy=True), **TK)

    fit = fit_checkpointed(frame, t, CheckpointSpec(model), encode,
                           torch.tensor([[0.0], [1.0]], **TK), {}, Recorder(), TK)
    assert fit is not None
    assert seen["Y"] == ([90.0, 80.0, 97.0, 70.0] if model == "latest" else [90.0, 80.0, 70.0])


def test_the_calendar_loop_records_readings_as_they_arrive(tmp_path):
    campaign = make_campaign("interlayer", tmp_path / "runs", ["debug=smoke"])
    lab = CyclingInterlayerLab(SimulatedInterlayerLab(seed=0, random_failure=0.0),
                               channels=5)
    dates = run_calendar(campaign, lab, weeks=3)
    assert [d.day for d in dates] == [0.0, 7.0, 14.0]
    assert all(d.cycling <= 5 for d in dates)  # never more cells than channels
    assert len(dates[0].started) == 4 and len(dates[1].started) <= 1  # 4 + 1 = 5 channels
    ledger = campaign.ledger
    assert ledger["retention_pct@25"].notna().any()
    # the same campaign, lab and seed give the same ledger (reproducible)
    again = make_campaign("interlayer", tmp_path / "runs2", ["debug=smoke"])
    run_calendar(again, lab, weeks=3)
    cols = ["id", *campaign.settings.space.names, *campaign.settings.schema.targets]
    pd.testing.assert_frame_equal(again.ledger[cols], ledger[cols])


def test_weeks_needs_a_lab_with_a_clock(tmp_path):
    code, _, err = cli_inprocess(tmp_path / "runs", "weeks=4", "lab=simulated",
                                 "tracking=none", campaign="interlayer")
    assert code == 2 and "lab=cycling" in err
    code, _, err = cli_inprocess(tmp_path / "runs", "lab=cycling", "tracking=none",
                                 "weeks=2", "rounds=3", campaign="interlayer")
    assert code == 2 and "weeks= and another step" in err
    code, _, err = cli_inprocess(tmp_path / "runs", "lab=cycling", "tracking=none",
                                 campaign="oxychloride")
    assert code == 2 and "campaign=interlayer" in err


def test_a_cycling_cell_counts_with_its_latest_reading_for_the_thresholds(tmp_path):
    # Until a row beats every threshold, a round seeks the probability of beating them;
    # a cell still cycling counts with its latest reading (retention only falls).
    from optim.metrics import thresholds_beaten

    campaign, ids = _proposed(tmp_path)
    settings = campaign.settings
    energy = next(t.name for t in settings.objectives.measured
                  if t.name not in ("retention_pct", "ccd_mA_cm2"))
    campaign.record(pd.DataFrame({"id": [ids[0]], "ccd_mA_cm2": [2.0], energy: [300.0],
                                  "retention_pct@25": [65.0]}))
    assert not thresholds_beaten(campaign.ledger, settings)  # 65 % misses 70 already
    campaign.record(pd.DataFrame({"id": [ids[1]], "ccd_mA_cm2": [2.0], energy: [300.0],
                                  "retention_pct@25": [98.0]}))
    assert thresholds_beaten(campaign.ledger, settings)  # 98 % so far


def test_min_cells_leaves_a_checkpointed_target_out_until_enough_cells_have_read_it():
    t = Target("retention_pct", "maximize", 70, unit="%", valid_range=(0, 100),
               checkpoints=(25, 50, 350))
    frame = pd.DataFrame({"status": ["measured"] * 5, "x": [0.1, 0.3, 0.5, 0.7, 0.9],
                          "retention_pct@25": [99.0, 98.0, 97.0, 96.0, np.nan],
                          "retention_pct@50": [98.0, 96.0, np.nan, 93.0, np.nan],
                          "retention_pct": [np.nan] * 5})

    def encode(rows):
        return torch.as_tensor(rows[["x"]].to_numpy(float, copy=True), **TK)

    bounds = torch.tensor([[0.0], [1.0]], **TK)
    args = (encode, bounds, {}, GPSurrogate(), TK)
    assert CheckpointSpec(min_cells=5).cells_needed(3) == 5
    assert CheckpointSpec().cells_needed(3) == 3
    assert fit_checkpointed(frame, t, CheckpointSpec(min_cells=5), *args) is None  # 4 read
    fit = fit_checkpointed(frame, t, CheckpointSpec(min_cells=4), *args)
    assert fit is not None and isinstance(fit[0], AtFidelity) and len(fit[1]) == 4
    with pytest.raises(ConfigError, match="whole number of cells"):
        CheckpointSpec(min_cells=0)
