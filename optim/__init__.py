"""Bayesian multi-objective optimization workbench for battery-materials campaigns."""

import os

from omegaconf import OmegaConf

# `${optim.cwd:}`: the folder the command runs in (Hydra never changes it here,
# hydra.job.chdir=false). Unlike `${hydra:runtime.cwd}` it resolves outside a Hydra job
# too, e.g. in the multirun sweeper that names the sweep folder.
OmegaConf.register_new_resolver("optim.cwd", os.getcwd, replace=True)

__all__: list[str] = []
