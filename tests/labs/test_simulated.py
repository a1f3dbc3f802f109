"""Simulated labs against SIMULATORS.md's anchor points; noise, failures, reproducibility."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optim.exceptions import ConfigError
from optim.labs import (
    InterlayerTruth,
    OxychlorideTruth,
    SimulatedInterlayerLab,
    SimulatedOxychlorideLab,
    simulated_lab,
)


def _oxy(x, y, z, t_a=117.0, t_m=20.0, n=1):
    s = x + y + z
    return pd.DataFrame({"id": [f"e{i}" for i in range(n)], "round": 1,
                         "Li2O": x / s, "ZrCl4": y / s, "AlCl3": z / s,
                         "anneal_temperature_C": t_a, "milling_time_h": t_m})


def _cell(mg=50.0, naf=20.0, j=0.5, p=5.0, n=1):
    return pd.DataFrame({"id": [f"c{i}" for i in range(n)], "round": 1,
                         "mg_thickness_nm": mg, "naf_thickness_nm": naf,
                         "current_density_mA_cm2": j, "stack_pressure_MPa": p})


def test_oxychloride_truth_at_lzaco():
    # Hand calculation (docs/SIMULATORS.md §1): u = 1.4, f = 0.25, sigma_am = 2.62 mS/cm,
    # relaxation bonus 1.15 at 117 °C (T_c = 184 °C), phi_am = 0.971 -> log10 = 0.416.
    truth = OxychlorideTruth()
    lzaco = _oxy(1.4, 0.75, 0.25)
    assert truth(lzaco)["conductivity_mS_cm"].iloc[0] == pytest.approx(2.60, abs=0.02)
    assert truth.modulus_GPa(lzaco)[0] == pytest.approx(4.23, abs=0.02)  # 3-5 GPa anchor
    assert 90.0 < truth(lzaco)["retention_pct"].iloc[0] < 93.0  # "about 92 %"
    # the Al-rich local optimum is lower; a sulfide-like stiff sample retains less
    al_rich = truth(_oxy(1.35, 0.3, 0.7))["conductivity_mS_cm"].iloc[0]
    assert 1.2 < al_rich < 1.8
    crystallised = truth(_oxy(1.4, 0.75, 0.25, t_a=300))
    assert crystallised["conductivity_mS_cm"].iloc[0] < 0.05  # past the anneal cliff


def test_interlayer_truth_at_calibration_point():
    truth = InterlayerTruth()
    point = _cell()
    assert truth.coulombic_loss(point)[0] == pytest.approx(5.5e-4, abs=0.1e-4)
    assert 80.5 < truth.retention_pct(point)[0] < 83.0          # "R ≈ 81-83 %"
    assert 85.0 < truth.retention_pct(_cell(j=0.2))[0] < 86.0   # "at j = 0.2: 85-86 %"
    assert truth.energy_density_Wh_kg(point)[0] == pytest.approx(255, abs=1.0)
    strip, plate = truth.ccd_limits(_cell(mg=0.0, naf=0.0))
    # bare: "about 1.4" stripping, "0.4" plating (0.397: the crack and stress logistics)
    assert strip[0] == pytest.approx(1.4) and plate[0] == pytest.approx(0.4, abs=0.005)


def test_oxychloride_lab_noise_failures_and_reproducibility():
    lab = SimulatedOxychlorideLab(seed=3)
    batch = _oxy(1.4, 0.75, 0.25, n=4000)
    out = lab(batch)
    assert out.equals(lab(batch))  # same seed and round: same measurements
    ok = out[out["status"] == "measured"]
    # 3 % random failures (binomial sd 0.27 % at n = 4000)
    assert (out["status"] == "failed").mean() == pytest.approx(0.03, abs=0.01)
    assert out.loc[out["status"] == "failed", "conductivity_mS_cm"].isna().all()
    # per-sample log10 noise sd 0.06 (the batch offset is shared within a call)
    assert np.log10(ok["conductivity_mS_cm"]).std() == pytest.approx(0.06, abs=0.005)
    hot = lab(_oxy(1.35, 0.3, 0.7, t_a=250, n=4000))
    # AlCl3 loss: p = f * logistic((250 - 190) / 10) = 0.70 * 0.9975, plus 3 % random
    lost = hot["notes"].str.contains("AlCl3").mean()
    assert lost == pytest.approx(0.70 * 0.9975 * 0.97, abs=0.03)
    other_round = lab(batch.assign(round=2))
    assert not np.allclose(other_round["retention_pct"].fillna(0), out["retention_pct"].fillna(0))


def test_interlayer_lab_shorts_are_censored_and_ccd_quantised():
    lab = SimulatedInterlayerLab(seed=1)
    out = lab(_cell(mg=0.0, naf=0.0, j=1.5, p=2.0, n=500))  # j far above a bare CCD
    measured = out[out["status"] == "measured"]
    assert (measured["retention_pct"] == 0).mean() > 0.95
    assert measured["notes"].str.contains("short circuit").mean() > 0.95
    ccd = lab(_cell(n=200))["ccd_mA_cm2"].dropna()
    np.testing.assert_allclose(ccd * 10, np.round(ccd * 10), atol=1e-9)  # 0.1 staircase


def test_simulated_lab_factory_rejects_unknown_campaign_and_constants():
    with pytest.raises(ConfigError, match="no simulator for campaign 'sulfide'"):
        simulated_lab("sulfide", 0, {}, {})
    with pytest.raises(ConfigError, match="oxychloride.truth"):
        simulated_lab("oxychloride", 0, {"truth": {"nonsense": 1}}, {})
