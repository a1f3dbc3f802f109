"""A simulated interlayer lab with a clock: results arrive when they would.

ILLUSTRATIVE (docs/SIMULATORS.md 2.3). A batch is sputtered and assembled
(``assembly_days``); the CCD staircase on a sister cell and the first cycles' energy
density follow (``first_results_days``); then each cell cycles at its own current
density on a cycler channel, ``2 Q / j`` hours a cycle (charge and discharge of the
areal capacity ``Q``), and its retention is read at every checkpoint: cycle 350 at
0.5 mA/cm2 (C/2 for 1 mAh/cm2) comes 58 days after cycling began, at 0.1 mA/cm2 292
days. A cell holds its channel until its last checkpoint, its short or its fault.

Noise: each cell's fade is its own (log retention scaled by ``exp(z sd)``, z standard
normal per cell, plus a per-batch factor), each reading has a small capacity-reading
error; a cell that shorts (probability from the truth, near and above its CCD) does so
at a cycle drawn from an exponential law and reads 0 from then on (censored, as
``SimulatedInterlayerLab`` records a short); an assembly fault gives a failed row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from optim.exceptions import ConfigError
from optim.labs.interlayer_truth import InterlayerTruth
from optim.labs.simulated import SimulatedInterlayerLab, simulated_lab

__all__ = ["Arrival", "CyclingInterlayerLab", "cycling_lab"]


@dataclass(frozen=True)
class Arrival:
    """Values of one cell that reach the ledger at ``day``.

    Args:
        day: Days since the campaign's start.
        id: The ledger id.
        values: Ledger column to value (``retention_pct@50``, ``ccd_mA_cm2``, ...).
        status: ``measured`` or ``failed``.
        notes: What happened, in words.
        frees_channel: The cell's cycling ended (last checkpoint, short or fault).
    """

    day: float
    id: str
    values: dict[str, float]
    status: str = "measured"
    notes: str = ""
    frees_channel: bool = False


@dataclass(frozen=True)
class CyclingInterlayerLab:
    """The interlayer lab on a calendar (module docstring).

    Args:
        lab: The untimed lab: truth, seed and the CCD/energy noise, fault rate.
        checkpoints: Cycles at which retention is read; the last is ``retention_pct``.
        channels: Cycler channels (cells cycling at once) [E].
        assembly_days: Sputtering and cell assembly of a batch [E, DOMAIN 5: 2-3 days
            with the CCD staircase].
        first_results_days: Then the CCD staircase and the formation cycles' energy
            density [E].
        fade_rel_sd: Cell-to-cell spread of the fade (log retention, relative) [E,
            about 2-3 points at 80 % after 350 cycles, DOMAIN 3].
        batch_fade_rel_sd: The same shared by a batch [E].
        reading_sd_pct: Capacity-reading error per checkpoint, points [E, capacity
            CoV 1-3 % over a cell's life, DOMAIN 3].
        mean_short_cycle: Mean cycle at which a shorting cell shorts [E].
    """

    lab: SimulatedInterlayerLab = field(default_factory=SimulatedInterlayerLab)
    checkpoints: tuple[int, ...] = (25, 50, 100, 200, 350)
    channels: int = 32
    assembly_days: float = 2.0
    first_results_days: float = 1.0
    fade_rel_sd: float = 0.12
    batch_fade_rel_sd: float = 0.04
    reading_sd_pct: float = 0.3
    mean_short_cycle: float = 40.0

    @property
    def truth(self) -> InterlayerTruth:
        return self.lab.truth

    def __post_init__(self) -> None:
        if self.truth.cycles != self.checkpoints[-1]:
            raise ConfigError(f"lab=cycling: the last checkpoint ({self.checkpoints[-1]}) "
                              f"must be the truth's cycles ({self.truth.cycles}), the "
                              "cycle retention_pct is read at. Fix: end "
                              f"targets.retention_pct.checkpoints at {self.truth.cycles}.")
        if isinstance(self.channels, bool) or not isinstance(self.channels, int) or \
                self.channels < 1:
            raise ConfigError(f"lab=cycling: channels={self.channels!r}; expected a whole "
                              "number >= 1 (cells cycling at once).")

    def cycle_days(self, current_density: np.ndarray) -> np.ndarray:
        """Days per cycle at a current density (mA/cm2): charge and discharge of the
        areal capacity."""
        q = self.truth.areal_capacity_mAh_cm2
        return 2 * q / np.asarray(current_density, dtype=float) / 24

    def column(self, checkpoint: int) -> str:
        """The ledger column of a checkpoint (the last is ``retention_pct``)."""
        return "retention_pct" if checkpoint == self.checkpoints[-1] else \
            f"retention_pct@{checkpoint}"

    def start(self, experiments: pd.DataFrame, day: float) -> list[Arrival]:
        """Start a batch at ``day``: every value it will yield and when it arrives.

        ``experiments`` has ``id``, ``round`` and the input columns; the draws come
        from ``(seed, round)`` like the untimed lab's.
        """
        rnd = int(experiments["round"].iloc[0]) if len(experiments) else 0
        rng = np.random.default_rng([self.lab.seed, rnd, 350])
        n = len(experiments)
        lab = self.lab
        ccd = self.truth.ccd(experiments) * (1 + rng.normal(0, lab.ccd_rel_sd, n))
        ccd = np.round(np.floor(np.maximum(ccd, 0) / lab.ccd_step_mA_cm2)
                       * lab.ccd_step_mA_cm2, 10)
        energy = self.truth.energy_density_Wh_kg(experiments) * (
            1 + rng.normal(0, lab.energy_rel_sd, n))
        curve = self.truth.retention_curve(experiments, self.checkpoints)
        scale = np.exp(rng.normal(0, self.fade_rel_sd, n)[:, None]
                       + rng.normal(0, self.batch_fade_rel_sd))
        read = 100 * (curve / 100) ** scale + rng.normal(0, self.reading_sd_pct, curve.shape)
        read = np.clip(read, 0.0, 100.0)
        shorts = rng.uniform(size=n) < self.truth.short_probability(experiments)
        short_at = np.ceil(rng.exponential(self.mean_short_cycle, n)).astype(int)
        fault = rng.uniform(size=n) < lab.random_failure
        per_cycle = self.cycle_days(experiments["current_density_mA_cm2"])
        t0 = day + self.assembly_days
        out: list[Arrival] = []
        for i, ident in enumerate(experiments["id"]):
            if fault[i]:
                out.append(Arrival(t0, ident, {}, "failed", "simulated: assembly fault",
                                   True))
                continue
            out.append(Arrival(t0 + self.first_results_days, ident,
                               {"ccd_mA_cm2": float(ccd[i]),
                                "energy_density_Wh_kg": float(energy[i])}))
            start = t0 + self.first_results_days
            for k, cp in enumerate(self.checkpoints):
                shorted = shorts[i] and short_at[i] <= cp
                if shorted:  # read 0 at the next checkpoint; the channel is free
                    out.append(Arrival(start + short_at[i] * per_cycle[i], ident,
                                       {self.column(c): 0.0 for c in self.checkpoints[k:]},
                                       notes=f"simulated: short circuit at cycle "
                                             f"{short_at[i]} (retention censored at 0)",
                                       frees_channel=True))
                    break
                out.append(Arrival(start + cp * per_cycle[i], ident,
                                   {self.column(cp): float(read[i, k])},
                                   frees_channel=k == len(self.checkpoints) - 1))
        return sorted(out, key=lambda a: a.day)

    def __call__(self, experiments: pd.DataFrame) -> pd.DataFrame:
        """Measure a batch and wait for every result (the untimed lab protocol): one
        row per cell with every checkpoint, ``status`` and ``notes``."""
        rows: dict[str, dict[str, object]] = {i: {"id": i, "status": "measured",
                                                  "notes": ""} for i in experiments["id"]}
        for a in self.start(experiments, 0.0):
            row = rows[a.id]
            row.update(a.values)
            if a.status == "failed":
                row["status"] = "failed"
            if a.notes:
                row["notes"] = "; ".join(filter(None, [row["notes"], a.notes]))
        return pd.DataFrame(list(rows.values()))


def cycling_lab(campaign: str, seed: int, oxychloride: Mapping, interlayer: Mapping,
                cycling: Mapping | None = None) -> CyclingInterlayerLab:
    """The timed interlayer lab from the lab config (``configs/lab/cycling.yaml``).

    Raises:
        ConfigError: Not the interlayer campaign, or an unknown constant.
    """
    if campaign != "interlayer":
        raise ConfigError(f"lab=cycling: the cycling lab simulates the interlayer "
                          f"campaign's cells, not {campaign!r}. Fix: campaign=interlayer, "
                          "or lab=simulated.")
    base = simulated_lab(campaign, seed, oxychloride, interlayer)
    spec = dict(cycling or {})
    if spec.get("checkpoints") is None:
        spec.pop("checkpoints", None)
    else:
        spec["checkpoints"] = tuple(int(c) for c in spec["checkpoints"])
    try:
        return CyclingInterlayerLab(base, **spec)
    except TypeError as err:
        raise ConfigError(f"configs/lab/cycling.yaml, key cycling: {err}") from err
