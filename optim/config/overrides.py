"""Check command-line overrides against the config tree before Hydra composes it.

Hydra reports a misspelled key (``campain=oxychloride``) as a missing ``campaign`` and
an unknown option (``campaign=oxychlorid``) with its search-path dump. This module reads
the config folders (the project's ``configs/`` and a ``--config-dir``) and turns both
into one ``ConfigError`` line that names the closest match and the fix, for the CLI and
:meth:`optim.Campaign.from_config` alike.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from pathlib import Path

import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, Override, OverrideType
from hydra.errors import HydraException

from optim.exceptions import ConfigError

__all__ = ["check_overrides", "config_folders", "group_options", "known_keys"]

# keys Hydra itself adds; `local` is an optional, gitignored group
BUILTIN_KEYS = ("hydra", "local")


def config_folders(base: Path, config_dir: str | Path | None = None) -> list[Path]:
    """The config folders in search order: ``config_dir`` (if any), then ``base``."""
    folders = [Path(config_dir).expanduser().resolve()] if config_dir is not None else []
    return [*folders, base]


def group_options(group: str, folders: Sequence[Path]) -> list[str]:
    """The options of a config group (``campaign`` -> ``oxychloride``, ...)."""
    found: set[str] = set()
    for folder in folders:
        root = folder / group
        found.update(p.relative_to(root).with_suffix("").as_posix()
                     for p in root.rglob("*.yaml"))
    return sorted(found)


def _groups(folders: Sequence[Path]) -> set[str]:
    return {p.name for folder in folders if folder.is_dir() for p in folder.iterdir()
            if p.is_dir() and not p.name.startswith((".", "_"))}


def _top_keys(path: Path) -> set[str]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return set()  # Hydra reports a broken file when it composes
    return {str(k) for k in data if k != "defaults"} if isinstance(data, dict) else set()


def known_keys(folders: Sequence[Path]) -> set[str]:
    """Every top-level name an override may change: the group names, the primary
    config's keys, and the keys of every ``# @package _global_`` option (campaigns,
    ``debug/smoke``, strategies, benchmarks)."""
    keys = set(BUILTIN_KEYS) | _groups(folders)
    for folder in folders:
        keys |= _top_keys(folder / "config.yaml")
        for path in folder.glob("*/**/*.yaml"):
            try:
                head = path.read_text(encoding="utf-8")[:400]
            except (OSError, UnicodeDecodeError):
                continue
            if "@package _global_" in head:
                keys |= _top_keys(path)
    return keys


def _closest(word: str, choices: Iterable[str]) -> str | None:
    match = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return match[0] if match else None


def _values(override: Override) -> list[str] | None:
    """The option names a group override selects (``None``: a glob or other sweep)."""
    value = override.value()
    if isinstance(value, ChoiceSweep):
        return [str(v) for v in value.list]
    if value is None or isinstance(value, str | int | float):
        return [] if value is None else [str(value)]
    return None


def _campaign_error(name: str, folders: Sequence[Path], config_dir: str | Path | None,
                    ) -> ConfigError:
    known = group_options("campaign", folders)
    near = _closest(name, known)
    where = "configs/campaign/" + (f" and {Path(config_dir)}/campaign/" if config_dir
                                   else "")
    hint = f"did you mean {near}? " if near else ""
    fix = f"campaign={near}" if near else f"one of {', '.join(known)}"
    return ConfigError(
        f"unknown campaign {name!r}: {hint}Available campaigns ({where}): "
        f"{', '.join(known)}. Fix: {fix}, or write {where.split(' and ')[-1]}{name}.yaml "
        "(a config folder of your own: --config-dir, or config_dir= in Python).",
        key="campaign", value=name)


def check_overrides(overrides: Sequence[str], base: Path,
                    config_dir: str | Path | None = None, *,
                    require_campaign: bool = True) -> None:
    """Refuse an override whose key or group option does not exist.

    Args:
        overrides: Overrides as on the command line (``campaign=oxychloride``).
        base: The project's config folder.
        config_dir: An extra config folder (``--config-dir``), searched first.
        require_campaign: Refuse overrides that select no campaign.

    Raises:
        ConfigError: A key that is neither a config key nor a group (with the closest
            name), an unknown option of a group (an unknown campaign lists the
            available ones), or no campaign.
    """
    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except HydraException:
        return  # malformed: Hydra's own parser message names the position
    folders = [f for f in config_folders(base, config_dir) if f.is_dir()]
    for override in parsed:  # `hydra.searchpath=[file:///my/configs]` adds folders too
        if override.key_or_group == "hydra.searchpath" and isinstance(override.value(), list):
            folders += [Path(str(v).removeprefix("file://")) for v in override.value()
                        if str(v).startswith("file://")]
    keys, groups = known_keys(folders), _groups(folders)
    has_campaign = False
    for override in parsed:
        name = override.key_or_group
        top = name.split(".", 1)[0].split("/", 1)[0]
        if override.type in (OverrideType.ADD, OverrideType.FORCE_ADD):
            has_campaign |= name == "campaign"
            continue  # `+key=value` adds a key on purpose
        if top not in keys:
            near = _closest(top, keys)
            text = override.input_line or f"{name}=..."
            fixed = text.replace(top, near, 1) if near else f"+{text}"
            hint = (f"did you mean {near}? " if near else
                    "it is neither a config key nor a config group. ")
            raise ConfigError(f"override {text!r}: unknown config key {top!r}; {hint}"
                              f"Fix: {fixed}" + ("" if near else " (to add a new key)")
                              + ".", key=top, value=text)
        if name not in groups or override.type == OverrideType.DEL:
            continue
        values = _values(override)
        if name == "campaign":
            has_campaign = True
        for value in values or ():
            options = group_options(name, folders)
            if value in options or (value == "null" and name != "campaign"):
                continue
            if name == "campaign":
                raise _campaign_error(value, folders, config_dir)
            near = _closest(value, options)
            hint = f"did you mean {near}? " if near else ""
            raise ConfigError(f"override '{name}={value}': no option {value!r} in config "
                              f"group {name!r}; {hint}Available: {', '.join(options)}. "
                              f"Fix: {name}={near or options[0]}, or add {name}/{value}.yaml "
                              "to a config folder (--config-dir).",
                              key=name, value=value)
        if values is None and name == "campaign":
            has_campaign = True  # a glob sweep
    if require_campaign and not has_campaign:
        known = group_options("campaign", folders)
        example = "oxychloride" if "oxychloride" in known else (known or ["<name>"])[0]
        raise ConfigError(f"no campaign given. Available campaigns: {', '.join(known)}. "
                          f"Fix: python -m optim campaign={example}.",
                          key="campaign")
