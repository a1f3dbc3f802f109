"""Checked layering: imports run one way, down the floors of the house.

Parsed with ``ast`` (every import, at the top of a file or inside a function), so a
new arrow that runs back up a layer, or a framework imported outside its room, fails
here instead of in a review.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

# Each room's floor: a room may import rooms on lower floors (and itself) only.
FLOORS = {
    "surrogates": 0, "optim.exceptions": 0, "optim.paths": 0, "optim.ui": 0,
    "optim.timing": 0, "optim.progress": 0,
    "optim.search_space": 1, "optim.kernel": 1,
    "optim.objectives": 2, "optim.cost": 2, "optim.weighing": 2,
    "optim.feasibility": 3, "optim.checkpoints": 3,
    "optim.cells": 3, "optim.acquisition": 3, "optim.history": 3,
    "optim.ledger": 4, "optim.pool": 4, "optim.labs": 4,
    "optim.settings": 5,
    "optim.metrics": 6, "optim.fitting": 6,
    "optim.strategies": 7,
    "optim.rounds": 8,
    "optim.report": 9, "optim.plots": 9, "optim.tracking": 9, "optim.recipe": 9,
    "optim.server": 9,  # the tracking server (mlflow, PostgreSQL): exceptions only
    "optim.config": 10,
    "optim.campaign": 11,
    "optim.calendar": 11.5,  # the closed loop on a lab's clock: drives a Campaign
    "optim": 12,  # optim/__init__.py: re-exports Campaign lazily
    "optim.__main__": 12, "optim.benchmarks": 12,
}
HYDRA_ROOMS = {"optim/__main__.py", "optim/config/compose.py", "optim/config/overrides.py",
               "optim/benchmarks/suite.py"}
SOURCES = sorted([*(ROOT / "optim").rglob("*.py"), *(ROOT / "surrogates").rglob("*.py")])


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _room(module: str) -> str:
    """The longest room name that ``module`` is or lies in."""
    parts = module.split(".")
    for k in range(len(parts), 0, -1):
        if ".".join(parts[:k]) in FLOORS:
            return ".".join(parts[:k])
    raise KeyError(module)


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from optim import history` imports the module optim.history
            modules = [f"{node.module}.{a.name}" for a in node.names
                       if (ROOT / f"{node.module}.{a.name}".replace(".", "/")).with_suffix(
                           ".py").exists()]
            out += [(node.lineno, m) for m in (modules or [node.module])]
    return out


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("path", SOURCES, ids=_rel)
def test_imports_run_down_the_floors(path):
    here = _room(_module(path))
    for line, name in _imports(path):
        top = name.split(".")[0]
        where = f"{_rel(path)}:{line} imports {name}"
        if here == "surrogates":
            assert top not in ("optim", "hydra", "omegaconf", "mlflow", "pandas"), \
                f"{where}: surrogates/ is tensors in, botorch models out"
        if top in ("hydra", "omegaconf"):
            assert _rel(path) in HYDRA_ROOMS, \
                f"{where}: Hydra stays at the config boundary ({sorted(HYDRA_ROOMS)})"
        if top == "mlflow":
            assert _rel(path).startswith(("optim/tracking/", "optim/server/")) \
                or _rel(path) == "optim/ui.py", \
                f"{where}: only optim/tracking/, optim/server/ and optim/ui.py talk to mlflow"
        if top in ("optim", "surrogates"):
            there = _room(name)
            assert there == here or FLOORS[there] < FLOORS[here], \
                f"{where}: {here} (floor {FLOORS[here]}) reaches up to {there} " \
                f"(floor {FLOORS[there]})"


def test_every_module_has_a_floor():
    for path in SOURCES:
        _room(_module(path))  # raises KeyError for a module no floor names


@pytest.mark.parametrize("path", sorted((ROOT / "tests").rglob("*.py")), ids=_rel)
def test_no_test_module_imports_another(path):
    for line, name in _imports(path):
        last = name.split(".")[-1]
        assert not (name.startswith("tests.") and (last.startswith("test_")
                                                   or last == "conftest")), \
            f"{_rel(path)}:{line} imports {name}: shared helpers live in tests/helpers.py"


def test_importing_optim_changes_no_global_state():
    code = (
        "import sys, torch\n"
        "threads = torch.get_num_threads()\n"
        "import optim, optim.campaign, optim.ledger\n"
        "from omegaconf import OmegaConf\n"
        "assert not OmegaConf.has_resolver('optim.cwd'), 'resolver registered at import'\n"
        "assert torch.get_num_threads() == threads, 'threads changed at import'\n"
        "import os\n"
        "assert 'MLFLOW_HTTP_REQUEST_MAX_RETRIES' not in os.environ, 'environment changed'\n"
    )
    light = "import optim, sys; assert 'torch' not in sys.modules, 'import optim loads torch'"
    # a clean environment: in-process tests of this session may have used a tracker
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    for snippet in (code, light):
        proc = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True,
                              cwd=ROOT, timeout=120, env=env)
        assert proc.returncode == 0, proc.stderr
