"""Noise-free ground truth of the simulated oxychloride lab (docs/SIMULATORS.md §1).

ILLUSTRATIVE ONLY: every functional form and coefficient is an estimate calibrated to a
few literature anchor points so that optimum locations, magnitudes and trade-offs look
realistic. It is not a predictive model of the chemistry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["OxychlorideTruth"]


def _logistic(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


@dataclass(frozen=True)
class OxychlorideTruth:
    """Conductivity (mS/cm) and retention (%) of a Li2O-ZrCl4-AlCl3 recipe.

    Constants default to docs/SIMULATORS.md §1 (``truth_version`` names that calibration).
    Inputs are the ledger's columns: ``Li2O``, ``ZrCl4``, ``AlCl3`` (mole fractions),
    ``anneal_temperature_C``, ``milling_time_h``.
    """

    truth_version: str = "oxychloride-2026.11-v1"
    floor_mS_cm: float = 0.005
    bumps: tuple[tuple[float, float, float, float, float], ...] = (
        (2.6, 1.40, 0.25, 0.30, 0.12),   # Zr-rich global (A, u_k, f_k, s_u, s_f)
        (1.6, 1.35, 0.70, 0.25, 0.12),   # Al-rich local
        (1.2, 1.00, 0.00, 0.25, 0.10),   # Li2ZrOCl4 shoulder
    )
    excess_u: float = 1.8
    excess_scale: float = 0.3
    mill_tau_h: float = 5.0
    rpm: float = 500.0
    overmill_h: float = 25.0
    overmill_scale_h: float = 60.0
    tc_base_C: float = 170.0
    tc_per_u: float = 60.0
    tc_per_f: float = -40.0
    tc_width_C: float = 15.0
    relax_bonus: float = 0.15
    sigma_crystal_mS_cm: float = 0.02
    modulus_crystal_GPa: float = 25.0
    pressure_MPa: float = 5.0

    def log10_conductivity(self, frame: pd.DataFrame) -> np.ndarray:
        """log10 of conductivity at 25 °C in mS/cm; ``n``."""
        x, y, z = (frame[c].to_numpy(float) for c in ("Li2O", "ZrCl4", "AlCl3"))
        t_a = frame["anneal_temperature_C"].to_numpy(float)
        t_m = frame["milling_time_h"].to_numpy(float)
        metal = y + z
        u, f = x / metal, z / metal
        sigma = np.full_like(u, self.floor_mS_cm)
        for a, uk, fk, su, sf in self.bumps:
            sigma += a * np.exp(-((u - uk) ** 2) / (2 * su**2) - (f - fk) ** 2 / (2 * sf**2))
        phi_li2o = np.maximum(0.0, u - self.excess_u) / (u + 1)
        sigma *= np.maximum(0.0, 1 - phi_li2o / self.excess_scale) ** 2
        tau = self.mill_tau_h * (500.0 / self.rpm) ** 2
        phi_mill = 1 - np.exp(-t_m / tau)
        sigma *= np.exp(-np.maximum(0.0, t_m - self.overmill_h) / self.overmill_scale_h)
        t_c = self.tc_base_C + self.tc_per_u * (u - 1) + self.tc_per_f * f
        phi_cr = _logistic((t_a - t_c) / self.tc_width_C)
        window = (t_a >= 80) & (t_a <= t_c - 30)
        bonus = np.where(window, 1 + self.relax_bonus * np.sin(np.pi * (t_a - 80) / (t_c - 110)),
                         1.0)
        phi_am = phi_mill * (1 - phi_cr)
        sigma_am = np.maximum(sigma * bonus, 1e-12)
        return phi_am * np.log10(sigma_am) + (1 - phi_am) * np.log10(self.sigma_crystal_mS_cm)

    def modulus_GPa(self, frame: pd.DataFrame) -> np.ndarray:
        """Young's modulus (Voigt mix of amorphous and crystalline phases); ``n``."""
        x, y, z = (frame[c].to_numpy(float) for c in ("Li2O", "ZrCl4", "AlCl3"))
        t_a = frame["anneal_temperature_C"].to_numpy(float)
        t_m = frame["milling_time_h"].to_numpy(float)
        u, f = x / (y + z), z / (y + z)
        tau = self.mill_tau_h * (500.0 / self.rpm) ** 2
        t_c = self.tc_base_C + self.tc_per_u * (u - 1) + self.tc_per_f * f
        phi_am = (1 - np.exp(-t_m / tau)) * (1 - _logistic((t_a - t_c) / self.tc_width_C))
        e_am = 0.8 + 3.2 * (u / 1.4) ** 1.5 * (1 - 0.5 * f)
        return phi_am * e_am + (1 - phi_am) * self.modulus_crystal_GPa

    def retention_pct(self, frame: pd.DataFrame) -> np.ndarray:
        """Capacity retention after 100 cycles at the stack pressure, in %; ``n``."""
        e = self.modulus_GPa(frame)
        sigma = 10.0 ** self.log10_conductivity(frame)
        return 100 * (0.97 - 0.25 * (1 - np.exp(-((e / 8) ** 2)))
                      * (5 / self.pressure_MPa) ** 0.5 - 0.10 * np.exp(-sigma / 0.5))

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Noise-free targets for a table of recipes."""
        return pd.DataFrame({
            "conductivity_mS_cm": 10.0 ** self.log10_conductivity(frame),
            "retention_pct": self.retention_pct(frame),
        }, index=frame.index)
