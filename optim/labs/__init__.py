"""Labs: who measures a batch. Simulated labs are illustrative, not predictive chemistry."""

from optim.labs.cycling import Arrival, CyclingInterlayerLab, cycling_lab
from optim.labs.interlayer_truth import InterlayerTruth
from optim.labs.oxychloride_truth import OxychlorideTruth
from optim.labs.replay import ReplayLab, average_replicates
from optim.labs.simulated import SimulatedInterlayerLab, SimulatedOxychlorideLab, simulated_lab

__all__ = [
    "Arrival",
    "CyclingInterlayerLab",
    "InterlayerTruth",
    "OxychlorideTruth",
    "ReplayLab",
    "SimulatedInterlayerLab",
    "SimulatedOxychlorideLab",
    "average_replicates",
    "cycling_lab",
    "simulated_lab",
]
