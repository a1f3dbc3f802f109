"""Noise-free ground truth of the simulated oxychloride lab (docs/SIMULATORS.md §1).

ILLUSTRATIVE ONLY: every functional form and coefficient is an estimate calibrated to a
few literature anchor points so that optimum locations, magnitudes and trade-offs look
realistic. It is not a predictive model of the chemistry.

Optional inputs (v2): ``milling_speed_rpm`` and ``anneal_time_h``. Without those columns
(or where a cell is empty) the recipe was milled at ``rpm`` (500 rpm) and annealed for
``anneal_time_h`` (2 h), and every output is exactly the v1 value: each new term is
written so that it is an exact no-op at 500 rpm and 2 h (ratios of equal numbers, ln 1,
hinges that are closed). All new constants are estimates [E] (docs/SIMULATORS.md §1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["OxychlorideTruth"]


def _logistic(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


_K_B_EV_K = 8.617333262e-5  # Boltzmann constant, eV/K


def _column(frame: pd.DataFrame, name: str, default: float) -> np.ndarray:
    """A numeric input column, or ``default`` where the column or a cell is absent."""
    if name not in frame:
        return np.full(len(frame), float(default))
    values = frame[name].to_numpy(float)
    return np.where(np.isnan(values), float(default), values)


@dataclass(frozen=True)
class OxychlorideTruth:
    """Conductivity (mS/cm) and retention (%) of a Li2O-ZrCl4-AlCl3 recipe.

    Constants default to docs/SIMULATORS.md §1 (``truth_version`` names that calibration).
    Inputs are the ledger's columns: ``Li2O``, ``ZrCl4``, ``AlCl3`` (mole fractions),
    ``anneal_temperature_C``, ``milling_time_h``, and optionally ``milling_speed_rpm``
    (default ``rpm``) and ``anneal_time_h`` (default ``anneal_time_h``).

    Milling speed (all [E]): amorphisation time tau = 5 h x (500/rpm)^2; the over-milling
    (ZrO2 wear/contamination) dose grows faster, t_m (rpm/500)^``wear_exponent``; and above
    ``jar_heat_onset_C`` the jar temperature T_jar = 25 + ``jar_heat_C`` (rpm/500)^3 (milling
    power ~ rpm^3) anneals out the milling-induced disorder that carries the conductivity
    (docs/DOMAIN.md §1.3: heating removes Li2ZrCl6's cation disorder), so sigma_am is
    multiplied by exp(-max(0, T_jar - onset)/``jar_heat_scale_C``). Speeds above about
    550 rpm cost conductivity that a longer milling time cannot buy back.

    Anneal time (all [E]): the iso-conversion crystallisation temperature of a thermally
    activated (JMAK, Kissinger-type) process drops by k_B T_c^2/E ln(t/2 h), with
    E = ``crystallization_energy_eV`` (about 9 K per e-fold of time at T_c = 184 C); the
    relaxation bonus grows as (1 - exp(-t/tau_r))/(1 - exp(-2 h/tau_r)) and saturates,
    tau_r = ``relax_time_h``.
    """

    truth_version: str = "oxychloride-2026.12-v2"
    floor_mS_cm: float = 0.005
    bumps: tuple[tuple[float, float, float, float, float], ...] = (
        (2.6, 1.40, 0.25, 0.30, 0.12),   # Zr-rich global (A, u_k, f_k, s_u, s_f)
        (1.6, 1.35, 0.70, 0.25, 0.12),   # Al-rich local
        (1.2, 1.00, 0.00, 0.25, 0.10),   # Li2ZrOCl4 shoulder
    )
    excess_u: float = 1.8
    excess_scale: float = 0.3
    mill_tau_h: float = 5.0
    rpm: float = 500.0                 # milling speed when the frame has no milling_speed_rpm
    wear_exponent: float = 3.0         # [E] over-milling dose t_m (rpm/500)^3 (impact power)
    jar_heat_C: float = 35.0           # [E] jar rise above 25 C at 500 rpm (60 C at 500 rpm)
    jar_heat_onset_C: float = 65.0     # [E] disorder anneals out above this jar temperature
    jar_heat_scale_C: float = 80.0     # [E] e-fold of sigma_am per this many C above onset
    anneal_time_h: float = 2.0         # anneal time when the frame has no anneal_time_h
    crystallization_energy_eV: float = 2.0  # [E] activation energy of crystallisation (JMAK)
    relax_time_h: float = 1.5          # [E] saturation time of the relaxation bonus
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

    def _process(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Composition ratios, milling and anneal state of every recipe; each ``n``."""
        x, y, z = (frame[c].to_numpy(float) for c in ("Li2O", "ZrCl4", "AlCl3"))
        t_a = frame["anneal_temperature_C"].to_numpy(float)
        t_m = frame["milling_time_h"].to_numpy(float)
        rpm = _column(frame, "milling_speed_rpm", self.rpm)
        t_an = _column(frame, "anneal_time_h", self.anneal_time_h)
        metal = y + z
        u, f = x / metal, z / metal
        tau = self.mill_tau_h * (500.0 / rpm) ** 2
        t_c = self.tc_base_C + self.tc_per_u * (u - 1) + self.tc_per_f * f
        # Kissinger/JMAK iso-conversion shift: exactly 0 at the 2 h reference (ln 1 = 0)
        t_c = t_c - (_K_B_EV_K * (t_c + 273.15) ** 2 / self.crystallization_energy_eV
                     * np.log(t_an / 2.0))
        relax = (1 - np.exp(-t_an / self.relax_time_h)) / (1 - np.exp(-2.0 / self.relax_time_h))
        return {"u": u, "f": f, "t_a": t_a, "t_m": t_m, "rpm": rpm, "tau": tau, "t_c": t_c,
                "relax": relax}

    def log10_conductivity(self, frame: pd.DataFrame) -> np.ndarray:
        """log10 of conductivity at 25 °C in mS/cm; ``n``."""
        s = self._process(frame)
        u, f, t_a, t_m, t_c = s["u"], s["f"], s["t_a"], s["t_m"], s["t_c"]
        sigma = np.full_like(u, self.floor_mS_cm)
        for a, uk, fk, su, sf in self.bumps:
            sigma += a * np.exp(-((u - uk) ** 2) / (2 * su**2) - (f - fk) ** 2 / (2 * sf**2))
        phi_li2o = np.maximum(0.0, u - self.excess_u) / (u + 1)
        sigma *= np.maximum(0.0, 1 - phi_li2o / self.excess_scale) ** 2
        phi_mill = 1 - np.exp(-t_m / s["tau"])
        dose = t_m * (s["rpm"] / 500.0) ** self.wear_exponent  # equivalent h at 500 rpm
        sigma *= np.exp(-np.maximum(0.0, dose - self.overmill_h) / self.overmill_scale_h)
        t_jar = 25.0 + self.jar_heat_C * (s["rpm"] / 500.0) ** 3
        sigma *= np.exp(-np.maximum(0.0, t_jar - self.jar_heat_onset_C) / self.jar_heat_scale_C)
        phi_cr = _logistic((t_a - t_c) / self.tc_width_C)
        window = (t_a >= 80) & (t_a <= t_c - 30)
        bonus = np.where(window, 1 + self.relax_bonus * s["relax"]
                         * np.sin(np.pi * (t_a - 80) / (t_c - 110)), 1.0)
        phi_am = phi_mill * (1 - phi_cr)
        sigma_am = np.maximum(sigma * bonus, 1e-12)
        return phi_am * np.log10(sigma_am) + (1 - phi_am) * np.log10(self.sigma_crystal_mS_cm)

    def modulus_GPa(self, frame: pd.DataFrame) -> np.ndarray:
        """Young's modulus (Voigt mix of amorphous and crystalline phases); ``n``."""
        s = self._process(frame)
        u, f = s["u"], s["f"]
        phi_am = (1 - np.exp(-s["t_m"] / s["tau"])) * (
            1 - _logistic((s["t_a"] - s["t_c"]) / self.tc_width_C))
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
