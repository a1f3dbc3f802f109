"""The Hydra boundary: compose a campaign's config and build its parts.

``python -m optim`` (Hydra's ``@hydra.main``) and :meth:`optim.Campaign.from_config`
(Hydra's compose API) arrive here with the same composed ``DictConfig``; from here on
everything is plain containers and typed objects.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.errors import HydraException, InstantiationException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from optim.config.overrides import check_overrides
from optim.config.parse import resolve_threads, settings_from_config, tracker_from_config
from optim.exceptions import ConfigError
from optim.paths import PROJECT_ROOT
from optim.settings import CampaignSettings
from optim.tracking import Tracker
from surrogates import SurrogateSettingsError

__all__ = ["CONFIG_DIR", "CampaignConfig", "build", "campaign_source", "compose",
           "register_resolvers"]

CONFIG_DIR = PROJECT_ROOT / "configs"


def register_resolvers() -> None:
    """``${optim.cwd:}``: the folder the command runs in (Hydra never changes it here,
    ``hydra.job.chdir=false``). Unlike ``${hydra:runtime.cwd}`` it resolves outside a
    Hydra job too, e.g. in the multirun sweeper that names the sweep folder. Registered
    when a config is composed, not when ``optim`` is imported."""
    if not OmegaConf.has_resolver("optim.cwd"):
        OmegaConf.register_new_resolver("optim.cwd", os.getcwd)
    if not OmegaConf.has_resolver("optim.relpath"):
        # ${optim.relpath:${hydra:runtime.output_dir},${paths.runs}}: a sweep job's
        # folder under paths.runs, which names its experiment (configs/sweep/jobs.yaml)
        OmegaConf.register_new_resolver("optim.relpath", lambda path, start: os.path.relpath(
            str(path), str(start)))


def campaign_source(campaign: str, config_dir: str | Path | None = None) -> str:
    """The campaign's YAML file as messages name it (Hydra takes the project's
    ``configs/`` before a ``config_dir`` when both hold the name)."""
    if (CONFIG_DIR / "campaign" / f"{campaign}.yaml").is_file():
        return f"configs/campaign/{campaign}.yaml"
    if config_dir is not None:
        path = Path(config_dir) / "campaign" / f"{campaign}.yaml"
        if path.is_file():
            return str(path)
    return f"configs/campaign/{campaign}.yaml"


def compose(campaign: str, overrides: Sequence[str] = (),
            config_dir: str | Path | None = None) -> DictConfig:
    """Compose a campaign's config with Hydra's compose API, as the CLI does.

    Args:
        campaign: A campaign config name (``configs/campaign/<name>.yaml``, or in
            ``config_dir``'s ``campaign/`` folder).
        overrides: Hydra overrides, as on the command line (``batch_size=2``).
        config_dir: An extra config folder (the CLI's ``--config-dir``): its
            ``campaign/``, ``lab/``, ``prices/``, ... folders add options. Hydra searches
            it after the project's ``configs/``, so an option of the same name there is
            taken from ``configs/``: give your own options names of their own.

    Raises:
        ConfigError: Unknown campaign or option, or a malformed override.
    """
    register_resolvers()
    extra = []
    if config_dir is not None:
        folder = Path(config_dir).expanduser().resolve()
        if not folder.is_dir():
            raise ConfigError(f"config_dir {config_dir}: not a folder. Fix: give the folder "
                              "that holds your campaign/<name>.yaml.", key="config_dir",
                              value=str(config_dir))
        extra = [f"hydra.searchpath=[file://{folder}]"]
    check_overrides([f"campaign={campaign}", *overrides], CONFIG_DIR, config_dir)
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            return hydra_compose("config", overrides=[f"campaign={campaign}", *extra,
                                                      *overrides])
    except (HydraException, OmegaConfBaseException) as err:
        known = sorted(p.stem for p in (CONFIG_DIR / "campaign").glob("*.yaml"))
        detail = "; ".join(line.strip() for line in
                           str(err).split("\nConfig search path")[0].strip().splitlines()
                           if line.strip())
        missing = f"'campaign/{campaign}'" in detail
        raise ConfigError(
            f"campaign {campaign!r} with overrides {list(overrides)} could not be composed: "
            f"{detail}. Fix: a campaign of {known} (or one in config_dir's campaign/ "
            "folder) and overrides written as on the command line (key=value).",
            key="campaign" if missing else None, value=campaign if missing else None,
        ) from err


@dataclass(frozen=True)
class CampaignConfig:
    """A composed config, built.

    Args:
        settings: The typed campaign settings.
        tracker: Where rounds are mirrored for review.
        lab: The lab that measures (``None``: people measure, ``lab=manual``).
        lab_name: The lab's ``_target_``, for messages.
        threads: torch CPU threads for rounds (``None``: torch's default).
        plain: The resolved config as plain containers (logged as run params).
    """

    settings: CampaignSettings
    tracker: Tracker
    lab: Callable[..., Any] | None
    lab_name: str | None
    threads: int | None
    plain: dict


def _instantiate(cfg: DictConfig, group: str, source: str) -> Any:
    try:
        return hydra.utils.instantiate(cfg[group])
    except InstantiationException as err:
        cause = err.__cause__ or err
        target = cfg[group].get("_target_")
        if isinstance(cause, ConfigError) and cause.source is None:
            key = f"{group}.{cause.key}" if cause.key else group
            raise ConfigError(f"{source}, key {key}: {cause.message}", key=key,
                              source=source, value=cause.value) from err
        if isinstance(cause, SurrogateSettingsError):
            key = f"{group}.{cause.field}"
            raise ConfigError(f"{source}, key {key}: {cause}", key=key, source=source,
                              value=cause.value) from err
        if isinstance(cause, ConfigError):
            raise cause from err
        raise ConfigError(f"{source}, config group {group!r} ({target}): {cause}", key=group,
                          source=source) from err


def build(cfg: DictConfig, source: str) -> CampaignConfig:
    """Resolve, instantiate and validate a composed config.

    Raises:
        ConfigError: Any invalid value, with file and key.
    """
    try:
        plain = OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as err:
        raise ConfigError(f"config could not be resolved: {err}") from err
    settings = settings_from_config(
        plain,
        surrogate=_instantiate(cfg, "surrogate", source),
        acquisition=_instantiate(cfg, "acquisition", source),
        optimizer=_instantiate(cfg, "acq_optimizer", source),
        source=source,
    )
    has_lab = "_target_" in (plain.get("lab") or {})
    lab = _instantiate(cfg, "lab", source) if has_lab else None
    check = getattr(lab, "check_campaign", None)
    if callable(check):  # a lab may check itself against the campaign (lab=replay)
        check(settings)
    return CampaignConfig(
        settings=settings,
        tracker=tracker_from_config(plain.get("tracking") or {}),
        lab=lab,
        lab_name=str(plain["lab"]["_target_"]) if has_lab else None,
        threads=resolve_threads(plain.get("threads", "auto")),
        plain=plain,
    )
