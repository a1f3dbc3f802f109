"""Campaign settings from a plain (resolved) config mapping: the YAML's key names.

This is the one place below the Hydra boundary that knows where a value sits in the
YAML. Domain classes raise :class:`~optim.exceptions.ConfigError` with their own field
names; :func:`located` adds the file and the full config key, so a message reads
``configs/campaign/oxychloride.yaml, key search_space.parameters.milling_time_h.lower:
...`` and ``err.key`` holds the key.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch

from optim.acquisition import AcquisitionSpec, OptimizerSpec
from optim.checkpoints import CheckpointSpec
from optim.cost import PrecursorCost, PrecursorPrice
from optim.exceptions import ConfigError
from optim.feasibility import FeasibilitySpec
from optim.objectives import Objectives, Target
from optim.pool import CandidatePool
from optim.search_space import (
    CategoricalParameter,
    CompositionParameter,
    NumericalParameter,
    SearchSpace,
)
from optim.search_space.constraints import constraints_from_config
from optim.settings import CampaignSettings
from optim.tracking import MlflowTracker, NullTracker, Tracker
from optim.weighing import WeighingSpec
from surrogates import Surrogate

__all__ = ["KNOWN_FORMULAS", "SETTINGS_KEYS", "located", "resolve_device",
           "resolve_threads", "settings_from_config", "tracker_from_config"]

KNOWN_FORMULAS = ("precursor_cost",)
# CampaignSettings field -> config key, where they differ
SETTINGS_KEYS = {"n_initial": "initial_design.n", "initial_method": "initial_design.method",
                 "name": "campaign_name", "ledger_path": "paths.ledger"}
PARAMETER_FIELDS = ("type", "lower", "upper", "unit", "log_scale", "description", "step",
                    "values", "resolution", "shared", "choices", "ordered")
PARAMETER_TYPES = ("continuous", "integer", "discrete", "categorical")
TYPE_FIELDS = {"continuous": ("resolution", "log_scale", "lower", "upper"),
               "integer": ("step", "log_scale", "lower", "upper"),
               "discrete": ("values", "log_scale"),
               "categorical": ("choices", "ordered")}
COMMON_FIELDS = ("type", "unit", "description", "shared")
WEIGHING_FIELDS = ("batch_mass_g", "balance_resolution_g", "purity")
TARGET_FIELDS = ("direction", "threshold", "unit", "transform", "valid_range", "known",
                 "description", "constraint", "objective", "checkpoints", "checkpoint_unit")
CONSTRAINT_FIELDS = ("min", "max")
FEASIBILITY_FIELDS = ("model", "learn_from")
CHECKPOINT_FIELDS = ("model", "transform", "stop_below", "min_cells")


def _join(prefix: str | None, key: str | None) -> str | None:
    if not prefix:
        return key
    if not key:
        return prefix
    return f"{prefix}{key}" if key.startswith("[") else f"{prefix}.{key}"


@contextmanager
def located(source: str, prefix: str | None = None,
            rename: Mapping[str, str] | None = None) -> Iterator[None]:
    """Give a domain class's :class:`ConfigError` its file and full config key.

    Args:
        source: The config file the values came from.
        prefix: Where the object sits in the YAML (``search_space.parameters.x``).
        rename: Field name to config key, where they differ (``n_initial``).
    """
    try:
        yield
    except ConfigError as err:
        if err.source is not None:  # already located by an inner block
            raise
        key = _join(prefix, (rename or {}).get(err.key, err.key))
        place = f"{source}, key {key}" if key else source
        raise ConfigError(f"{place}: {err.message}", key=key, source=source,
                          value=err.value) from err


def _mapping(value: Any, key: str, source: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{source}, key {key}: expected a mapping, got {value!r}.",
                          key=key, source=source, value=value)
    return value


def _pair(value: Any, key: str, source: str) -> tuple[float, float]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ConfigError(f"{source}, key {key}: value={value!r}; expected [lower, upper].",
                          key=key, source=source, value=value)
    return value[0], value[1]


def _unknown_fields(given: Mapping, allowed: tuple[str, ...], key: str, source: str) -> None:
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ConfigError(f"{source}, key {key}: unknown field(s) {unknown}; expected "
                          f"{', '.join(allowed)}.", key=key, source=source, value=unknown)


def resolve_device(name: str) -> torch.device:
    """``auto``: CUDA when available, else CPU; otherwise the named device.

    Raises:
        ConfigError: Not a torch device, or CUDA asked for but absent (``key="device"``).
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ConfigError(f"value={name!r} is not a torch device. Fix: auto, cpu or cuda.",
                          key="device", value=name) from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"value={name!r} but CUDA is not available here. Fix: device=auto "
                          "or device=cpu.", key="device", value=name)
    return device


def _composition(ss: Mapping, source: str) -> CompositionParameter | None:
    if not ss.get("composition"):
        return None
    c = _mapping(ss["composition"], "search_space.composition", source)
    bounds = {k: _pair(v, f"search_space.composition.bounds.{k}", source)
              for k, v in _mapping(c.get("bounds", {}), "search_space.composition.bounds",
                                   source).items()}
    with located(source, "search_space.composition"):
        return CompositionParameter(c.get("formula"), bounds, c.get("total", 1.0),
                                    resolution=c.get("resolution"),
                                    max_components=c.get("max_components"),
                                    min_fraction=c.get("min_fraction"))


def _parameter(name: str, p: Mapping, key: str, source: str):
    """One ``search_space.parameters`` entry as a typed parameter."""
    kind = p.get("type", "continuous")
    if kind not in PARAMETER_TYPES:
        raise ConfigError(f"{source}, key {key}.type: value={kind!r} is not a parameter "
                          f"type. Fix: one of {list(PARAMETER_TYPES)}.", key=f"{key}.type",
                          source=source, value=kind)
    _unknown_fields(p, COMMON_FIELDS + TYPE_FIELDS[kind], key, source)
    shared = p.get("shared", False)
    if not isinstance(shared, bool):
        raise ConfigError(f"{source}, key {key}.shared: value={shared!r}; expected true or "
                          "false.", key=f"{key}.shared", source=source, value=shared)
    with located(source, key):
        if kind == "categorical":
            choices = p.get("choices")
            return CategoricalParameter(name, tuple(choices) if isinstance(
                choices, list | tuple) else choices, bool(p.get("ordered", False)), shared)
        values = p.get("values")
        return NumericalParameter(
            name, p.get("lower"), p.get("upper"), p.get("unit", ""),
            bool(p.get("log_scale", False)), kind=kind, step=p.get("step"),
            values=tuple(values) if isinstance(values, list | tuple) else values,
            resolution=p.get("resolution"), shared=shared)


def _space(cfg: Mapping, source: str) -> SearchSpace:
    ss = _mapping(cfg.get("search_space"), "search_space", source)
    composition = _composition(ss, source)
    params = []
    for name, p in _mapping(ss.get("parameters", {}) or {}, "search_space.parameters",
                            source).items():
        key = f"search_space.parameters.{name}"
        p = _mapping(p, key, source)
        _unknown_fields(p, PARAMETER_FIELDS, key, source)
        params.append(_parameter(name, p, key, source))
    names = (composition.names if composition else []) + [p.name for p in params]
    with located(source, "search_space.constraints"):
        constraints = constraints_from_config(ss.get("constraints", []) or [], composition,
                                              names)
    with located(source, "search_space"):
        return SearchSpace(tuple(params), composition,
                           tuple(c for c in constraints if not c.is_equality),
                           tuple(c for c in constraints if c.is_equality))


def _cost(cfg: Mapping, space: SearchSpace, source: str) -> PrecursorCost:
    if space.composition is None:
        raise ConfigError(f"{source}: known formula 'precursor_cost' needs a composition.",
                          source=source)
    prices_cfg = _mapping(cfg.get("prices"), "prices", source)
    price_source = f"configs/prices/{prices_cfg.get('name', '?')}.yaml"
    prices = {}
    for name, entry in _mapping(prices_cfg.get("precursors", {}), "prices.precursors",
                                price_source).items():
        entry = _mapping(entry, f"prices.precursors.{name}", price_source)
        if "usd_per_kg" not in entry or not entry.get("source"):
            raise ConfigError(f"{price_source}, key precursors.{name}: needs usd_per_kg and "
                              f"source (provenance); got {dict(entry)}.",
                              key=f"precursors.{name}", source=price_source)
        prices[name] = PrecursorPrice(entry["usd_per_kg"], str(entry["source"]),
                                      bool(entry.get("estimate", False)))
    missing = [n for n in space.composition_names if n not in prices]
    if missing:
        raise ConfigError(
            f"{source} / {price_source}: no prices entry for precursor(s) {missing} (price "
            f"set {prices_cfg.get('name', '?')!r}; have {sorted(prices)}); a cost target "
            "needs a price for every precursor. Fix: select a price set that has them "
            "(prices=<name> on the command line, or `defaults: [{override /prices: <name>}]` "
            "in the campaign file; configs/prices/ holds the sets), or give the campaign its "
            f"own prices (prices: {{precursors: {{{missing[0]}: {{usd_per_kg: ..., "
            "source: ...}}}).",
            key="prices.precursors", source=source, value=missing)
    comp_cfg = cfg["search_space"]["composition"]
    densities = dict(comp_cfg.get("densities_g_cm3", {}) or {})
    columns = [space.names.index(n) for n in space.composition_names]
    with located(f"{source} / {price_source}", rename={"yield_fraction": "cost.yield_fraction"}):
        return PrecursorCost(space.composition, prices, densities, columns,
                             (cfg.get("cost") or {}).get("yield_fraction", 1.0),
                             prices_cfg.get("name", ""))


def _target(name: str, t: Mapping, cfg: Mapping, space: SearchSpace, source: str) -> Target:
    key = f"targets.{name}"
    _unknown_fields(t, TARGET_FIELDS, key, source)
    known = None
    if t.get("known"):
        if t["known"] not in KNOWN_FORMULAS:
            raise ConfigError(f"{source}, key {key}.known: value={t['known']!r}; expected "
                              f"one of {list(KNOWN_FORMULAS)}.", key=f"{key}.known",
                              source=source, value=t["known"])
        known = _cost(cfg, space, source)
    vr = t.get("valid_range") or (None, None)
    constraint = None
    if t.get("constraint") is not None:
        c = _mapping(t["constraint"], f"{key}.constraint", source)
        _unknown_fields(c, CONSTRAINT_FIELDS, f"{key}.constraint", source)
        constraint = (c.get("min"), c.get("max"))
    with located(source, key):
        return Target(
            name=name, direction=t.get("direction"), threshold=t.get("threshold"),
            unit=t.get("unit", ""), transform=t.get("transform"),
            valid_range=tuple(_pair(vr, f"{key}.valid_range", source)),
            known=known, description=t.get("description", ""), constraint=constraint,
            objective=t.get("objective", True),
            checkpoints=_checkpoints(t.get("checkpoints")),
            checkpoint_unit=t.get("checkpoint_unit", "cycles"))


def _checkpoints(value: object) -> object:
    """A config list of checkpoints as a tuple (anything else is left for ``Target``)."""
    if value is None:
        return ()
    if isinstance(value, Sequence) and not isinstance(value, str):
        return tuple(value)
    return value


def _with_known_constraints(space: SearchSpace, objectives: Objectives,
                            source: str) -> SearchSpace:
    """The space with each known target's constraint added as exact linear
    constraints (a cost ceiling is linear in the fractions)."""
    for t in objectives.known:
        if t.constraint is None:
            continue
        extra = t.known.linear_constraints(*t.constraint, name=t.name)
        others = "; ".join(c.description for c in space.all_constraints) or "none"
        with located(source, f"targets.{t.name}.constraint"):
            try:
                space = dataclasses.replace(space, constraints=(*space.constraints, *extra))
            except ConfigError as err:
                raise ConfigError(
                    f"{'; '.join(c.description for c in extra)} leaves no composition "
                    f"within the search space's bounds and its constraints ({others}): no "
                    "point meets them all. Fix: relax the target's constraint, or widen "
                    "the composition bounds.", value=[c.description for c in extra]) from err
    return space


def _check_defined(targets: Mapping, source: str) -> None:
    """A target with nothing but a constraint names a target the campaign lacks (a
    typo in ``+targets.<name>.constraint.min=...``)."""
    defined = [n for n, t in targets.items()
               if not (isinstance(t, Mapping) and set(t) <= {"constraint", "objective"})]
    for name in targets:
        if name not in defined:
            close = difflib.get_close_matches(name, defined, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"{source}, key targets.{name}.constraint: a constraint on {name!r}, which "
                f"is not a target of this campaign{hint}; its targets are {defined}. Fix: "
                "put the constraint on one of them, or define the target (direction, "
                "threshold, unit) with objective: false to make it a constraint only.",
                key=f"targets.{name}.constraint", source=source, value=name)


def _objectives(cfg: Mapping, space: SearchSpace, source: str) -> Objectives:
    _check_defined(_mapping(cfg.get("targets"), "targets", source), source)
    targets = [_target(name, _mapping(t, f"targets.{name}", source), cfg, space, source)
               for name, t in _mapping(cfg.get("targets"), "targets", source).items()]
    with located(source, "targets"):
        return Objectives(tuple(targets))


def _weighing(cfg: Mapping, space: SearchSpace, source: str) -> WeighingSpec | None:
    """The optional top-level ``weighing:`` block (batch mass, balance, purities)."""
    if cfg.get("weighing") is None:
        return None
    w = _mapping(cfg["weighing"], "weighing", source)
    _unknown_fields(w, WEIGHING_FIELDS, "weighing", source)
    if space.composition is None:
        raise ConfigError(f"{source}, key weighing: the campaign has no "
                          "search_space.composition, so there is nothing to weigh. Fix: "
                          "delete the weighing block.", key="weighing", source=source)
    if "batch_mass_g" not in w:
        raise ConfigError(f"{source}, key weighing.batch_mass_g: missing. Fix: the mass of "
                          "one batch in g, e.g. batch_mass_g: 2.0.",
                          key="weighing.batch_mass_g", source=source)
    purity = _mapping(w.get("purity") or {}, "weighing.purity", source)
    with located(source, "weighing"):
        return WeighingSpec(w["batch_mass_g"], w.get("balance_resolution_g", 0.0001),
                            dict(purity))


def _checkpoint_spec(cfg: Mapping, source: str) -> CheckpointSpec:
    """The ``checkpoints:`` block (absent: the checkpoint GP on fade-law values)."""
    c = _mapping(cfg.get("checkpoints") or {}, "checkpoints", source)
    _unknown_fields(c, CHECKPOINT_FIELDS, "checkpoints", source)
    with located(source, "checkpoints"):
        return CheckpointSpec(**{k: v if k in ("stop_below", "min_cells") else str(v)
                                 for k, v in c.items()})


def _feasibility(cfg: Mapping, source: str) -> FeasibilitySpec:
    """The ``feasibility:`` block (absent: the classifier on, learning from failed rows)."""
    f = _mapping(cfg.get("feasibility") or {}, "feasibility", source)
    _unknown_fields(f, FEASIBILITY_FIELDS, "feasibility", source)
    learn = f.get("learn_from", ["failed"])
    with located(source, "feasibility"):
        return FeasibilitySpec(str(f.get("model", "gp")),
                               tuple(learn) if isinstance(learn, list | tuple) else learn)


def _accept(value: Any) -> tuple[str, ...] | str:
    """``accept_changes``: ``all``, an id, or a list of ids."""
    if value in (None, ""):
        return ()
    if value == "all":
        return "all"
    return tuple(str(v) for v in (value if isinstance(value, list | tuple) else [value]))


def _confined(cfg: Mapping, source: str) -> Path:
    """The ledger path, which must lie under ``paths.runs``."""
    paths = _mapping(cfg.get("paths"), "paths", source)
    ledger = Path(paths["ledger"])
    runs = Path(paths.get("runs", ledger.parent))
    if not ledger.resolve().is_relative_to(runs.resolve()):
        raise ConfigError(f"{source}, key paths.ledger: {ledger} lies outside paths.runs "
                          f"({runs}). Fix: keep campaign folders under paths.runs.",
                          key="paths.ledger", source=source, value=str(ledger))
    return ledger


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
        ConfigError: Any invalid value, named by file and key (``err.key``).
    """
    space = _space(cfg, source)
    objectives = _objectives(cfg, space, source)
    space = _with_known_constraints(space, objectives, source)
    init = _mapping(cfg.get("initial_design", {}) or {}, "initial_design", source)
    pool_path = (cfg.get("search_space") or {}).get("pool")
    with located(source, "search_space"):
        pool = CandidatePool.load(pool_path, space, source,
                                  exclude=tuple(objectives.names)) if pool_path else None
    with located(source, rename=SETTINGS_KEYS):
        return CampaignSettings(
            name=str(cfg["campaign_name"]),
            space=space,
            objectives=objectives,
            ledger_path=_confined(cfg, source),
            batch_size=cfg.get("batch_size", 4),
            n_initial=init.get("n", 8),
            surrogate=surrogate,
            acquisition=acquisition,
            optimizer=optimizer,
            seed=cfg.get("seed", 0),
            device=resolve_device(str(cfg.get("device", "auto"))),
            id_prefix=str(cfg.get("id_prefix", "exp")),
            pool=pool,
            initial_method=str(init.get("method", "space_filling")),
            accept_changes=_accept(cfg.get("accept_changes")),
            weighing=_weighing(cfg, space, source),
            feasibility=_feasibility(cfg, source),
            checkpoints=_checkpoint_spec(cfg, source),
        )


def resolve_threads(value: object) -> int | None:
    """``threads``: ``auto`` is 1 on machines with at most 4 cores (measured much faster
    there: README "Performance") and torch's default (``None``) otherwise; a positive
    whole number is taken as given.

    Raises:
        ConfigError: Anything else (``key="threads"``).
    """
    if value == "auto":
        return 1 if (os.cpu_count() or 1) <= 4 else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"config key threads: value={value!r}; expected auto or a "
                          "positive whole number. Fix: threads=auto, or threads=1.",
                          key="threads", value=value)
    return value


def tracker_from_config(tracking: Mapping) -> Tracker:
    """The configured tracker (it imports mlflow, connects and creates a store only when
    first used).

    Raises:
        ConfigError: An unknown ``tracking.kind``.
    """
    tracking = _mapping(tracking, "tracking", "config")
    kind = tracking.get("kind")
    if kind == "mlflow":
        parsed = urlparse(str(tracking["uri"]))
        if parsed.scheme in ("http", "https") and parsed.password is not None:
            shown = parsed._replace(netloc=f"{parsed.username}:***@{parsed.hostname}"
                                    + (f":{parsed.port}" if parsed.port else "")).geturl()
            raise ConfigError(
                f"config key tracking.uri: value={shown!r} holds a password; a config "
                "file and the resolved config logged with every round must never hold "
                "one. Fix: tracking.uri=" + parsed._replace(
                    netloc=parsed.hostname + (f":{parsed.port}" if parsed.port else "")
                ).geturl() + " and export MLFLOW_TRACKING_USERNAME=<account> "
                "MLFLOW_TRACKING_PASSWORD=<password>; Hydra saved this command line in "
                "the run's .hydra/overrides.yaml (under paths.runs): delete that folder, "
                "and change the password.", key="tracking.uri", value=shown)
        return MlflowTracker(tracking["uri"], tracking["artifact_root"],
                             tracking.get("http_max_retries", 2),
                             tracking.get("http_timeout_s", 10),
                             tracking.get("experiment"))
    if kind == "none":
        return NullTracker()
    raise ConfigError(f"config key tracking.kind: value={kind!r}; expected mlflow or none.",
                      key="tracking.kind", value=kind)
