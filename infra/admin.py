"""Operator commands: validate a shop configuration, store it (and its hashed keys) in the shops table."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from shared.adapters.shops import ShopDirectory
from shared.models.config import ShopConfig


class ConfigInvalidError(Exception):
    """The configuration file cannot be used; ``problems`` says where and why, one line each."""

    def __init__(self, path: str | Path, problems: list[str]) -> None:
        super().__init__(f"{path}: {len(problems)} problem(s)")
        self.problems = problems


def load_config(path: str | Path) -> ShopConfig:
    """Parse and validate the shop configuration at ``path``; raises ConfigInvalidError with every problem."""
    try:
        return ShopConfig.from_yaml_file(path)
    except yaml.YAMLError as error:
        raise ConfigInvalidError(path, [f"not valid YAML: {error}"]) from error
    except ValidationError as error:
        problems = [
            f"{'.'.join(str(part) for part in detail['loc']) or '(document)'}: {detail['msg']}"
            for detail in error.errors(include_url=False)
        ]
        raise ConfigInvalidError(path, problems) from error
    except OSError as error:
        raise ConfigInvalidError(path, [f"cannot read: {error.strerror}"]) from error


class UnknownJourneyError(ValueError):
    """The shop, or the journey in the shop's config, does not exist; the message names which."""


def pause_journey(shop_id: str, journey: str, shops_table: str, paused: bool = True) -> frozenset[str]:
    """Pause (or resume) ``journey`` of the shop stored in ``shops_table``: its marketing messages wait, deferred
    (at most the contact policy's ``max_deferral``), until it is resumed; the journeys paused now."""
    directory = ShopDirectory(shops_table)
    config = directory.config(shop_id)
    if config is None:
        raise UnknownJourneyError(f"no shop {shop_id!r} in {shops_table}")
    if journey not in config.journeys:
        raise UnknownJourneyError(f"shop {shop_id!r} has no journey {journey!r}: one of {sorted(config.journeys)}")
    return directory.pause(shop_id, journey, paused)


def apply_config(path: str | Path, shops_table: str) -> ShopConfig:
    """Validate the file and store it in ``shops_table`` (its keys take effect, dropped keys stop working)."""
    config = load_config(path)
    ShopDirectory(shops_table).apply(config)
    return config
