"""Build typed, validated campaign settings from a plain (resolved) config mapping.

The entry point turns Hydra's config into a plain ``dict`` and calls
:func:`settings_from_config`; nothing below the entry point sees a ``DictConfig``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from optim.acquisition import AcquisitionSpec, OptimizerSpec
from optim.campaign import CampaignSettings
from optim.cost import PrecursorCost, PrecursorPrice
from optim.exceptions import ConfigError
from optim.objectives import Objectives, Target
from optim.search_space import CompositionParameter, NumericalParameter, SearchSpace
from optim.search_space.constraints import constraints_from_config
from optim.search_space.pool import CandidatePool
from surrogates import Surrogate

__all__ = ["KNOWN_FORMULAS", "resolve_device", "settings_from_config"]

KNOWN_FORMULAS = ("precursor_cost",)


def _mapping(value: Any, key: str, source: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{source}, key {key}: expected a mapping, got {value!r}.")
    return value


def _pair(value: Any, key: str, source: str) -> tuple[float, float]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ConfigError(f"{source}, key {key}: value={value!r}; expected [lower, upper].")
    return value[0], value[1]


def resolve_device(name: str) -> torch.device:
    """``auto``: CUDA when available, else CPU; otherwise the named device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ConfigError(f"config key device: value={name!r} is not a torch device. "
                          "Fix: auto, cpu or cuda.") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("config key device: value='cuda' but CUDA is not available here. "
                          "Fix: device=auto or device=cpu.")
    return device


def _space(cfg: Mapping, source: str) -> SearchSpace:
    ss = _mapping(cfg.get("search_space"), "search_space", source)
    composition = None
    if ss.get("composition"):
        c = _mapping(ss["composition"], "search_space.composition", source)
        bounds = {k: _pair(v, f"search_space.composition.bounds.{k}", source)
                  for k, v in _mapping(c.get("bounds", {}), "search_space.composition.bounds",
                                       source).items()}
        composition = CompositionParameter(c.get("formula"), bounds,
                                           float(c.get("total", 1.0)), source)
    params = []
    for name, p in _mapping(ss.get("parameters", {}) or {}, "search_space.parameters",
                            source).items():
        p = _mapping(p, f"search_space.parameters.{name}", source)
        unknown = set(p) - {"lower", "upper", "unit", "log_scale", "description"}
        if unknown:
            raise ConfigError(f"{source}, key search_space.parameters.{name}: unknown "
                              f"field(s) {sorted(unknown)}; expected lower, upper, unit, "
                              "log_scale, description.")
        params.append(NumericalParameter(name, p.get("lower"), p.get("upper"),
                                         p.get("unit", ""), bool(p.get("log_scale", False)),
                                         source))
    names = (composition.names if composition else []) + [p.name for p in params]
    constraints = constraints_from_config(ss.get("constraints", []) or [], composition,
                                          names, source)
    return SearchSpace(tuple(params), composition, tuple(constraints))


def _cost(cfg: Mapping, space: SearchSpace, source: str) -> PrecursorCost:
    if space.composition is None:
        raise ConfigError(f"{source}: known formula 'precursor_cost' needs a composition.")
    prices_cfg = _mapping(cfg.get("prices"), "prices", source)
    price_source = f"configs/prices/{prices_cfg.get('name', '?')}.yaml"
    prices = {}
    for name, entry in _mapping(prices_cfg.get("precursors", {}), "prices.precursors",
                                price_source).items():
        entry = _mapping(entry, f"prices.precursors.{name}", price_source)
        if "usd_per_kg" not in entry or not entry.get("source"):
            raise ConfigError(f"{price_source}, key precursors.{name}: needs usd_per_kg and "
                              f"source (provenance); got {dict(entry)}.")
        prices[name] = PrecursorPrice(entry["usd_per_kg"], str(entry["source"]),
                                      bool(entry.get("estimate", False)))
    comp_cfg = cfg["search_space"]["composition"]
    densities = dict(comp_cfg.get("densities_g_cm3", {}) or {})
    columns = [space.names.index(n) for n in space.composition_names]
    return PrecursorCost(space.composition, prices, densities, columns,
                         float(cfg.get("cost", {}).get("yield_fraction", 1.0)),
                         prices_cfg.get("name", ""), f"{source} / {price_source}")


def _objectives(cfg: Mapping, space: SearchSpace, source: str) -> Objectives:
    targets = []
    for name, t in _mapping(cfg.get("targets"), "targets", source).items():
        t = _mapping(t, f"targets.{name}", source)
        unknown = set(t) - {"direction", "threshold", "unit", "transform", "valid_range",
                            "known", "description"}
        if unknown:
            raise ConfigError(f"{source}, key targets.{name}: unknown field(s) "
                              f"{sorted(unknown)}.")
        known = None
        if t.get("known"):
            if t["known"] not in KNOWN_FORMULAS:
                raise ConfigError(f"{source}, key targets.{name}.known: value={t['known']!r}; "
                                  f"expected one of {list(KNOWN_FORMULAS)}.")
            known = _cost(cfg, space, source)
        vr = t.get("valid_range") or (None, None)
        targets.append(Target(
            name=name, direction=t.get("direction"), threshold=t.get("threshold"),
            unit=t.get("unit", ""), transform=t.get("transform"),
            valid_range=_pair(vr, f"targets.{name}.valid_range", source),
            known=known, description=t.get("description", ""), source=source,
        ))
    return Objectives(tuple(targets))


def settings_from_config(
    cfg: Mapping,
    *,
    surrogate: Surrogate,
    acquisition: AcquisitionSpec,
    optimizer: OptimizerSpec,
    source: str,
) -> CampaignSettings:
    """Validate a resolved config mapping and build the campaign settings.

    Args:
        cfg: The resolved config as plain containers.
        surrogate: Instantiated surrogate (from the ``surrogate`` group).
        acquisition: Instantiated acquisition spec.
        optimizer: Instantiated optimizer spec.
        source: The campaign's config file, for error messages.

    Raises:
        ConfigError: Any invalid value, named by file and key.
    """
    space = _space(cfg, source)
    objectives = _objectives(cfg, space, source)
    init = cfg.get("initial_design", {}) or {}
    pool_path = (cfg.get("search_space") or {}).get("pool")
    pool = CandidatePool.load(pool_path, space, source) if pool_path else None
    return CampaignSettings(
        name=str(cfg["campaign_name"]),
        space=space,
        objectives=objectives,
        ledger_path=Path(cfg["paths"]["ledger"]),
        batch_size=cfg.get("batch_size", 4),
        n_initial=init.get("n", 8),
        surrogate=surrogate,
        acquisition=acquisition,
        optimizer=optimizer,
        seed=int(cfg.get("seed", 0)),
        device=resolve_device(str(cfg.get("device", "auto"))),
        id_prefix=str(cfg.get("id_prefix", "exp")),
        pool=pool,
        initial_method=str(init.get("method", "space_filling")),
    )
