"""Noise-free ground truth of the simulated interlayer lab (docs/SIMULATORS.md §2).

ILLUSTRATIVE ONLY: every functional form and coefficient is an estimate calibrated to
the three headline numbers of the Mg/NaF dual-layer paper (about 83 % retention after
350 cycles, CCD about 2 mA/cm2, about 255 Wh/kg). It is not a predictive model.

v2 adds the seed metal under the NaF layer (column ``seed_metal``: Mg, Sn, Au or none;
docs/SIMULATORS.md §2.1). Without that column the seed is Mg and every output is exactly
the v1 value. Every per-metal constant is an estimate [E] shaped by docs/DOMAIN.md §2.2
(Sn-Na alloy interlayer lowers the Ea of j_crit, Lowack et al.; sputtered Au cuts the
Na|NZSP interfacial resistance 2708 -> 146 ohm cm2) or computed from stoichiometry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["SEED_METALS", "InterlayerTruth"]

SEED_METALS = ("Mg", "Sn", "Au", "none")
_SEED_FIELDS = ("coverage_nm", "plate_gain", "strip_gain", "stress_nm", "stress_width_nm",
                "na_uptake_mAh_cm2_nm", "dissolve_nm_per_cycle")


def _logistic(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


@dataclass(frozen=True)
class InterlayerTruth:
    """Retention (%), CCD (mA/cm2) and energy density (Wh/kg) of a seed/NaF cell at 25 °C.

    Inputs are the ledger's columns ``seed_thickness_nm`` (``mg_thickness_nm`` is read when
    it is absent, for v1 ledgers), ``naf_thickness_nm``, ``current_density_mA_cm2``,
    ``stack_pressure_MPa`` and optionally ``seed_metal`` (one of ``SEED_METALS``, any
    case; Mg when the column is absent). With ``none`` the seed thickness has no effect.

    Per seed metal ``<m>`` (``mg_``, ``sn_``, ``au_`` fields; all [E] except where noted):
    coverage theta = 1 - exp(-t/``<m>_coverage_nm``); plating-limit gain (sodiophilicity)
    ``<m>_plate_gain`` and stripping-limit gain ``<m>_strip_gain`` on theta; stress and
    delamination delta = logistic((t - ``<m>_stress_nm``)/``<m>_stress_width_nm``);
    Na held in the alloy, ``<m>_na_uptake_mAh_cm2_nm`` (computed from the sodiated phase),
    of which ``alloy_trapped_fraction`` is lost from the first cycle's efficiency; and seed
    consumption ``<m>_dissolve_nm_per_cycle``, which lowers the coverage averaged over the
    ``cycles`` (retention) but not the early-cycle CCD. Mg keeps v1's values (1.5, 0.6 were
    literals in v1; Mg and Na do not alloy [M], so no uptake and no consumption).
    """

    truth_version: str = "interlayer-2026.12-v2"
    mg_coverage_nm: float = 12.0
    mg_stress_nm: float = 120.0
    mg_stress_width_nm: float = 25.0
    mg_plate_gain: float = 1.5
    mg_strip_gain: float = 0.6
    mg_na_uptake_mAh_cm2_nm: float = 0.0
    mg_dissolve_nm_per_cycle: float = 0.0
    # Sn: Na-Sn alloy (Na15Sn4, ~420 % volume expansion [M]) -> stress sets in early; the
    # Na-conducting alloy lowers the Ea of the stripping limit (0.13-0.15 -> 0.10 eV [S],
    # Lowack et al.), taken here as a larger stripping gain at 25 °C [E].
    sn_coverage_nm: float = 8.0
    sn_plate_gain: float = 1.2
    sn_strip_gain: float = 1.2
    sn_stress_nm: float = 50.0
    sn_stress_width_nm: float = 12.0
    sn_na_uptake_mAh_cm2_nm: float = 6.15e-4  # Na15Sn4: 847 mAh/g x 7.27 g/cm3 (computed)
    sn_dissolve_nm_per_cycle: float = 0.0
    # Au: very sodiophilic (Au on NZSP: 2708 -> 146 ohm cm2 [S]), continuous when thin; Au
    # alloys with Na (NaAu2) and is dispersed into the plated Na over cycles [E].
    au_coverage_nm: float = 4.0
    au_plate_gain: float = 2.0
    au_strip_gain: float = 0.6
    au_stress_nm: float = 150.0
    au_stress_width_nm: float = 30.0
    au_na_uptake_mAh_cm2_nm: float = 1.31e-4  # NaAu2: 68 mAh/g x 19.3 g/cm3 (computed)
    au_dissolve_nm_per_cycle: float = 0.25
    alloy_trapped_fraction: float = 0.5
    areal_capacity_mAh_cm2: float = 1.0
    naf_passivation_nm: float = 8.0
    naf_crack_nm: float = 50.0
    naf_crack_width_nm: float = 10.0
    naf_conductivity_S_cm: float = 2e-7
    strip_per_MPa: float = 0.28
    cycles: int = 350
    e0_Wh_kg: float = 268.0
    voltage_V: float = 3.3
    asr_electrolyte_ohm_cm2: float = 100.0

    def seed_constants(self, metal: str) -> dict[str, float]:
        """The constants of one seed metal (``none``: no coverage, no stress, no alloy).

        Raises:
            ValueError: ``metal`` is not one of ``SEED_METALS``.
        """
        if metal not in SEED_METALS:
            raise ValueError(f"seed_metal: unknown value {metal!r}; expected one of "
                             f"{list(SEED_METALS)}")
        if metal == "none":
            return dict.fromkeys(_SEED_FIELDS, 0.0) | {"coverage_nm": np.inf,
                                                        "stress_nm": np.inf,
                                                        "stress_width_nm": 1.0}
        return {k: float(getattr(self, f"{metal.lower()}_{k}")) for k in _SEED_FIELDS}

    def _seeds(self, frame: pd.DataFrame) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Seed thickness (0 for ``none``) and each row's seed constants; each ``n``.

        Raises:
            ValueError: A ``seed_metal`` cell is empty or not one of ``SEED_METALS``.
        """
        column = "seed_thickness_nm" if "seed_thickness_nm" in frame else "mg_thickness_nm"
        t_s = frame[column].to_numpy(float)
        if "seed_metal" not in frame:
            return t_s, {k: np.full(len(frame), v) for k, v in self.seed_constants("Mg").items()}
        names = {m.lower(): m for m in SEED_METALS}
        raw = frame["seed_metal"]
        bad = sorted({str(v) for v in raw if not isinstance(v, str) or v.lower() not in names})
        if bad:
            raise ValueError(f"seed_metal: unknown value(s) {bad}; expected one of "
                             f"{list(SEED_METALS)} (an empty cell is not 'none')")
        metals = [names[v.lower()] for v in raw]
        table = {m: self.seed_constants(m) for m in set(metals)}
        consts = {k: np.array([table[m][k] for m in metals], dtype=float) for k in _SEED_FIELDS}
        return np.where(np.array(metals) == "none", 0.0, t_s), consts

    def _cycled_coverage(self, t_s: np.ndarray, seed: dict[str, np.ndarray],
                         theta: np.ndarray) -> np.ndarray:
        """Coverage averaged over ``cycles`` while the seed is consumed at a constant rate."""
        rate, length = seed["dissolve_nm_per_cycle"], seed["coverage_nm"]
        out = theta.copy()
        live = rate > 0
        if live.any():
            r, L, t, n = rate[live], length[live], t_s[live], float(self.cycles)
            gone = np.minimum(t, r * n)  # nm consumed by the last cycle
            area = gone / r - L / r * (np.exp((gone - t) / L) - np.exp(-t / L))
            out[live] = area / n
        return out

    def _layers(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        t_s, seed = self._seeds(frame)
        t_f = frame["naf_thickness_nm"].to_numpy(float)
        theta = 1 - np.exp(-t_s / seed["coverage_nm"])
        return {
            "theta": theta,
            "theta_cycled": self._cycled_coverage(t_s, seed, theta),
            "plate_gain": seed["plate_gain"],
            "strip_gain": seed["strip_gain"],
            "uptake": (self.alloy_trapped_fraction * seed["na_uptake_mAh_cm2_nm"] * t_s
                       / self.areal_capacity_mAh_cm2),
            "delta": _logistic((t_s - seed["stress_nm"]) / seed["stress_width_nm"]),
            "pi": 1 - np.exp(-t_f / self.naf_passivation_nm),
            "kappa": _logistic((t_f - self.naf_crack_nm) / self.naf_crack_width_nm),
            "asr_f": t_f * 1e-7 / self.naf_conductivity_S_cm,  # ohm cm2
        }

    def _strip(self, lay: dict[str, np.ndarray], p: np.ndarray, theta: np.ndarray) -> np.ndarray:
        return self.strip_per_MPa * p * (1 + lay["strip_gain"] * theta)  # 25 °C: no Arrhenius

    def ccd_limits(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Stripping and plating limits of the critical current density, mA/cm2.

        Measured in the first cycles, so with the as-deposited coverage.
        """
        lay = self._layers(frame)
        p = frame["stack_pressure_MPa"].to_numpy(float)
        strip = self._strip(lay, p, lay["theta"])
        plate = (0.4 * (1 + lay["plate_gain"] * lay["theta"]) * (1 + lay["pi"])
                 * (1 - 0.6 * lay["kappa"]) * (1 - 0.5 * lay["delta"]))
        return strip, plate

    def ccd(self, frame: pd.DataFrame) -> np.ndarray:
        """Critical current density (before the staircase readout), mA/cm2."""
        return np.minimum(*self.ccd_limits(frame))

    def loss_components(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """The per-cycle Coulombic loss by cause, averaged over ``cycles``: SEI growth,
        dead Na, cracks/delamination and voids (docs/SIMULATORS.md 2)."""
        lay = self._layers(frame)
        j = frame["current_density_mA_cm2"].to_numpy(float)
        p = frame["stack_pressure_MPa"].to_numpy(float)
        strip = self._strip(lay, p, lay["theta_cycled"])
        return {
            "sei": 1.5e-3 * (1 - 0.9 * lay["pi"]),
            "dead": 6e-4 * (1 - 0.7 * lay["theta_cycled"]) * (j / 0.5) ** 0.5,
            "crack": 1.5e-3 * lay["kappa"] * (j / 0.5) + 5e-4 * lay["delta"],
            "void": 8e-4 * np.maximum(0.0, j / strip - 0.5) ** 2 * (10 / p) ** 0.5,
        }

    def coulombic_loss(self, frame: pd.DataFrame) -> np.ndarray:
        """Per-cycle Coulombic loss ``1 - CE``, averaged over ``cycles`` (seed consumption)."""
        c = self.loss_components(frame)
        return c["sei"] + c["dead"] + c["crack"] + c["void"]

    def retention_curve(self, frame: pd.DataFrame, cycles) -> np.ndarray:
        """Retention (%) after each of ``cycles`` (``n x m``), for a cell that does not
        short; equal to :meth:`retention_pct` at ``cycles`` = ``self.cycles``.

        The capacity-fade law (docs/SIMULATORS.md 2.3, shape [E]): the cumulative log
        capacity loss ``(F-1) ln(1 - loss) [w_sei sqrt(u) + w_dead u + w_mech u^2]``,
        ``u = (N-1)/(F-1)``, weights the causes' shares of the loss: SEI growth slows
        as it passivates (its per-cycle loss falls as ``1/sqrt(N)``), dead Na is lost
        at a constant rate, and cracks and voids grow as damage accumulates (a per-cycle
        loss rising linearly: the knee of a failing cell); times the cathode's fade
        ``1 - 0.02 (j/0.5) N/F``.
        """
        c = self.loss_components(frame)
        total = c["sei"] + c["dead"] + c["crack"] + c["void"]
        j = frame["current_density_mA_cm2"].to_numpy(float)[:, None]
        n = np.asarray(cycles, dtype=float)[None, :]
        f = float(self.cycles)
        u = (n - 1) / (f - 1)
        shape = (c["sei"][:, None] * np.sqrt(u) + c["dead"][:, None] * u
                 + (c["crack"] + c["void"])[:, None] * u**2) / total[:, None]
        log_ret = (f - 1) * np.log1p(-total)[:, None] * shape
        return 100 * np.exp(log_ret) * (1 - 0.02 * (j / 0.5) * n / f)

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
        ice = 1 - 0.05 * (1 - 0.8 * lay["pi"]) - 0.02 * (1 - lay["theta"]) - lay["uptake"]
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
