"""Simulated labs: ground truth plus realistic noise, batch effects and failures.

ILLUSTRATIVE SIMULATORS, NOT PREDICTIVE CHEMISTRY (docs/SIMULATORS.md). Every constant
comes from the lab config (``configs/lab/simulated.yaml``) with a ``truth_version``.

A lab is any callable ``lab(experiments) -> measurements``:

- ``experiments``: a DataFrame with ``id``, ``round`` and the input columns (physical
  units), one row per experiment to run;
- ``measurements``: a DataFrame with ``id``, any target columns (NaN where not
  measured), and optionally ``status`` (``measured`` or ``failed``) and ``notes``.

It is validated exactly like a results file before anything is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from optim.exceptions import ConfigError
from optim.labs.interlayer_truth import InterlayerTruth
from optim.labs.oxychloride_truth import OxychlorideTruth

__all__ = ["SimulatedInterlayerLab", "SimulatedOxychlorideLab", "simulated_lab"]


def _rng(seed: int, experiments: pd.DataFrame) -> np.random.Generator:
    rnd = int(experiments["round"].iloc[0]) if "round" in experiments and len(experiments) else 0
    return np.random.default_rng([seed, rnd])


@dataclass(frozen=True)
class SimulatedOxychlorideLab:
    """Noisy oxychloride lab (docs/SIMULATORS.md §1).

    Args:
        truth: The ground truth and its constants.
        seed: Seed; each round's batch draws from ``(seed, round)``.
        log10_sd: Conductivity noise (log10 mS/cm) per sample.
        log10_sd_low: The same below 0.01 mS/cm (noisier EIS).
        batch_log10_sd: Per-batch conductivity offset (log10).
        retention_sd_pct: Retention noise, percentage points.
        random_failure: Probability that a synthesis fails outright (no values).
        alcl3_loss_above_C: AlCl3 loss possible above this anneal temperature ...
        alcl3_loss_min_al: ... for Al fractions of the metals above this.
        alcl3_loss_center_C: Centre and ...
        alcl3_loss_width_C: ... width of the logistic loss probability.
        alcl3_loss_sigma_factor: Conductivity factor of a sample that lost AlCl3.
    """

    truth: OxychlorideTruth = field(default_factory=OxychlorideTruth)
    seed: int = 0
    log10_sd: float = 0.06
    log10_sd_low: float = 0.12
    batch_log10_sd: float = 0.03
    retention_sd_pct: float = 2.0
    random_failure: float = 0.03
    alcl3_loss_above_C: float = 180.0
    alcl3_loss_min_al: float = 0.3
    alcl3_loss_center_C: float = 190.0
    alcl3_loss_width_C: float = 10.0
    alcl3_loss_sigma_factor: float = 0.3

    def __call__(self, experiments: pd.DataFrame) -> pd.DataFrame:
        """Measure a batch: conductivity (mS/cm) and retention (%), with failures."""
        rng = _rng(self.seed, experiments)
        n = len(experiments)
        log_sigma = self.truth.log10_conductivity(experiments)
        sd = np.where(log_sigma < -2, self.log10_sd_low, self.log10_sd)
        log_sigma = log_sigma + rng.normal(0, self.batch_log10_sd) + rng.normal(0, 1, n) * sd
        retention = self.truth.retention_pct(experiments) + rng.normal(
            0, self.retention_sd_pct, n)
        al = (experiments["AlCl3"] / (experiments["ZrCl4"] + experiments["AlCl3"])).to_numpy()
        t_a = experiments["anneal_temperature_C"].to_numpy(float)
        p_loss = np.where((t_a > self.alcl3_loss_above_C) & (al > self.alcl3_loss_min_al),
                          al / (1 + np.exp(-(t_a - self.alcl3_loss_center_C)
                                           / self.alcl3_loss_width_C)), 0.0)
        lost = rng.uniform(size=n) < p_loss
        failed = rng.uniform(size=n) < self.random_failure
        sigma = 10.0**log_sigma * np.where(lost, self.alcl3_loss_sigma_factor, 1.0)
        out = pd.DataFrame({
            "id": experiments["id"].to_numpy(),
            "conductivity_mS_cm": sigma,
            "retention_pct": np.clip(retention, 0.0, 100.0),
            "status": np.where(lost | failed, "failed", "measured"),
            "notes": np.where(failed, "simulated: synthesis failed",
                              np.where(lost, "simulated: AlCl3 lost during anneal", "")),
        })
        out.loc[failed, ["conductivity_mS_cm", "retention_pct"]] = np.nan
        return out


@dataclass(frozen=True)
class SimulatedInterlayerLab:
    """Noisy interlayer lab (docs/SIMULATORS.md §2).

    Cells that short because the current density is near or above their CCD are
    recorded as measured with retention 0 (censored: the model must learn the cliff),
    or, with ``shorts_fail``, as failed (no retention; the CCD staircase and the
    energy density are kept for the record): what a lab does with a cell whose cycling
    ended in a short. Random assembly faults are recorded as failed.

    Args:
        truth: The ground truth and its constants.
        seed: Seed; each round's batch draws from ``(seed, round)``.
        retention_sd_pct: Retention noise per cell, percentage points.
        batch_retention_sd_pct: Per-batch retention offset.
        ccd_rel_sd: Relative CCD scatter before the staircase readout.
        ccd_step_mA_cm2: CCD staircase step.
        energy_rel_sd: Relative energy-density noise.
        random_failure: Probability of an assembly fault.
        shorts_fail: Record shorted cells as failed instead of retention 0.
    """

    truth: InterlayerTruth = field(default_factory=InterlayerTruth)
    seed: int = 0
    retention_sd_pct: float = 2.5
    batch_retention_sd_pct: float = 1.0
    ccd_rel_sd: float = 0.12
    ccd_step_mA_cm2: float = 0.1
    energy_rel_sd: float = 0.02
    random_failure: float = 0.03
    shorts_fail: bool = False

    def __call__(self, experiments: pd.DataFrame) -> pd.DataFrame:
        """Measure a batch: retention (%), CCD (mA/cm2), energy density (Wh/kg)."""
        rng = _rng(self.seed, experiments)
        n = len(experiments)
        retention = (self.truth.retention_pct(experiments)
                     + rng.normal(0, self.batch_retention_sd_pct)
                     + rng.normal(0, self.retention_sd_pct, n))
        ccd = self.truth.ccd(experiments) * (1 + rng.normal(0, self.ccd_rel_sd, n))
        ccd = np.floor(np.maximum(ccd, 0) / self.ccd_step_mA_cm2) * self.ccd_step_mA_cm2
        energy = self.truth.energy_density_Wh_kg(experiments) * (
            1 + rng.normal(0, self.energy_rel_sd, n))
        shorted = rng.uniform(size=n) < self.truth.short_probability(experiments)
        fault = rng.uniform(size=n) < self.random_failure
        retention = np.where(shorted, 0.0, np.clip(retention, 0.0, 100.0))
        out = pd.DataFrame({
            "id": experiments["id"].to_numpy(),
            "retention_pct": retention,
            "ccd_mA_cm2": np.round(ccd, 10),
            "energy_density_Wh_kg": energy,
            "status": np.where(fault, "failed", "measured"),
            "notes": np.where(fault, "simulated: assembly fault",
                              np.where(shorted, "simulated: short circuit (retention "
                                                "censored at 0)", "")),
        })
        out.loc[fault, ["retention_pct", "ccd_mA_cm2", "energy_density_Wh_kg"]] = np.nan
        if self.shorts_fail:
            out.loc[shorted, "status"] = "failed"
            out.loc[shorted, "retention_pct"] = np.nan
            out.loc[shorted & ~fault, "notes"] = "simulated: short circuit during cycling"
        return out


def _truth(cls: type, values: Mapping, key: str):
    values = dict(values)
    if "bumps" in values:
        values["bumps"] = tuple(tuple(float(v) for v in b) for b in values["bumps"])
    try:
        return cls(**values)
    except TypeError as err:
        raise ConfigError(f"configs/lab/simulated.yaml, key {key}.truth: {err}") from err


def simulated_lab(campaign: str, seed: int, oxychloride: Mapping, interlayer: Mapping):
    """The simulated lab of a campaign, built from the lab config.

    Args:
        campaign: ``oxychloride`` or ``interlayer``.
        seed: The campaign seed.
        oxychloride: ``{truth: {...}, noise: {...}}`` for the oxychloride lab.
        interlayer: The same for the interlayer lab.

    Raises:
        ConfigError: No simulator for the campaign, or an unknown constant.
    """
    labs = {"oxychloride": (SimulatedOxychlorideLab, OxychlorideTruth, oxychloride),
            "interlayer": (SimulatedInterlayerLab, InterlayerTruth, interlayer)}
    if campaign not in labs:
        raise ConfigError(
            f"lab=simulated: no simulator for campaign {campaign!r}; simulators exist for "
            f"{sorted(labs)}. Fix: use lab=manual, or point lab._target_ at your own lab.")
    lab_cls, truth_cls, spec = labs[campaign]
    truth = _truth(truth_cls, spec.get("truth", {}), campaign)
    try:
        return lab_cls(truth=truth, seed=seed, **dict(spec.get("noise", {})))
    except TypeError as err:
        raise ConfigError(f"configs/lab/simulated.yaml, key {campaign}.noise: {err}") from err
