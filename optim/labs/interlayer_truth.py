"""Noise-free ground truth of the simulated interlayer lab (docs/SIMULATORS.md §2).

ILLUSTRATIVE ONLY: every functional form and coefficient is an estimate calibrated to
the three headline numbers of the Mg/NaF dual-layer paper (about 83 % retention after
350 cycles, CCD about 2 mA/cm2, about 255 Wh/kg). It is not a predictive model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["InterlayerTruth"]


def _logistic(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


@dataclass(frozen=True)
class InterlayerTruth:
    """Retention (%), CCD (mA/cm2) and energy density (Wh/kg) of an Mg/NaF cell at 25 °C.

    Inputs are the ledger's columns ``mg_thickness_nm``, ``naf_thickness_nm``,
    ``current_density_mA_cm2``, ``stack_pressure_MPa``.
    """

    truth_version: str = "interlayer-2026.11-v1"
    mg_coverage_nm: float = 12.0
    mg_stress_nm: float = 120.0
    mg_stress_width_nm: float = 25.0
    naf_passivation_nm: float = 8.0
    naf_crack_nm: float = 50.0
    naf_crack_width_nm: float = 10.0
    naf_conductivity_S_cm: float = 2e-7
    strip_per_MPa: float = 0.28
    cycles: int = 350
    e0_Wh_kg: float = 268.0
    voltage_V: float = 3.3
    asr_electrolyte_ohm_cm2: float = 100.0

    def _layers(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        t_mg = frame["mg_thickness_nm"].to_numpy(float)
        t_f = frame["naf_thickness_nm"].to_numpy(float)
        return {
            "theta": 1 - np.exp(-t_mg / self.mg_coverage_nm),
            "delta": _logistic((t_mg - self.mg_stress_nm) / self.mg_stress_width_nm),
            "pi": 1 - np.exp(-t_f / self.naf_passivation_nm),
            "kappa": _logistic((t_f - self.naf_crack_nm) / self.naf_crack_width_nm),
            "asr_f": t_f * 1e-7 / self.naf_conductivity_S_cm,  # ohm cm2
        }

    def ccd_limits(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Stripping and plating limits of the critical current density, mA/cm2."""
        lay = self._layers(frame)
        p = frame["stack_pressure_MPa"].to_numpy(float)
        strip = self.strip_per_MPa * p * (1 + 0.6 * lay["theta"])  # 25 °C: no Arrhenius
        plate = (0.4 * (1 + 1.5 * lay["theta"]) * (1 + lay["pi"]) * (1 - 0.6 * lay["kappa"])
                 * (1 - 0.5 * lay["delta"]))
        return strip, plate

    def ccd(self, frame: pd.DataFrame) -> np.ndarray:
        """Critical current density (before the staircase readout), mA/cm2."""
        return np.minimum(*self.ccd_limits(frame))

    def coulombic_loss(self, frame: pd.DataFrame) -> np.ndarray:
        """Per-cycle Coulombic loss ``1 - CE``."""
        lay = self._layers(frame)
        j = frame["current_density_mA_cm2"].to_numpy(float)
        p = frame["stack_pressure_MPa"].to_numpy(float)
        strip, _ = self.ccd_limits(frame)
        sei = 1.5e-3 * (1 - 0.9 * lay["pi"])
        dead = 6e-4 * (1 - 0.7 * lay["theta"]) * (j / 0.5) ** 0.5
        crack = 1.5e-3 * lay["kappa"] * (j / 0.5) + 5e-4 * lay["delta"]
        void = 8e-4 * np.maximum(0.0, j / strip - 0.5) ** 2 * (10 / p) ** 0.5
        return sei + dead + crack + void

    def retention_pct(self, frame: pd.DataFrame) -> np.ndarray:
        """Capacity retention after ``cycles`` cycles, %, for a cell that did not short."""
        j = frame["current_density_mA_cm2"].to_numpy(float)
        ce = 1 - self.coulombic_loss(frame)
        return 100 * ce ** (self.cycles - 1) * (1 - 0.02 * j / 0.5)

    def short_probability(self, frame: pd.DataFrame) -> np.ndarray:
        """Probability that a cell shorts: current density near or above the CCD."""
        ccd = self.ccd(frame)
        j = frame["current_density_mA_cm2"].to_numpy(float)
        return _logistic((j - ccd) / (0.05 + 0.1 * ccd))

    def energy_density_Wh_kg(self, frame: pd.DataFrame) -> np.ndarray:
        """Cell-stack energy density, Wh/kg."""
        lay = self._layers(frame)
        j_a = frame["current_density_mA_cm2"].to_numpy(float) * 1e-3  # A/cm2
        ice = 1 - 0.05 * (1 - 0.8 * lay["pi"]) - 0.02 * (1 - lay["theta"])
        asr = self.asr_electrolyte_ohm_cm2 + lay["asr_f"] + 40 * (1 - 0.6 * lay["theta"])
        v = self.voltage_V
        return self.e0_Wh_kg * ice * (v - j_a * asr - 0.05) / v

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Noise-free targets (a cell that does not short) for a table of designs."""
        return pd.DataFrame({
            "retention_pct": self.retention_pct(frame),
            "ccd_mA_cm2": self.ccd(frame),
            "energy_density_Wh_kg": self.energy_density_Wh_kg(frame),
        }, index=frame.index)
