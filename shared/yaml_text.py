"""YAML documents (shop configs, journey presets, template.yaml) read with libyaml's safe loader where PyYAML was built
with it: the same documents as ``yaml.safe_load`` gives, about ten times faster. PyYAML is imported on first use,
never with a handler: only configs read from YAML need it."""

from __future__ import annotations

from typing import Any


def safe_loader() -> Any:
    """``yaml.CSafeLoader`` if PyYAML has it, else ``yaml.SafeLoader``."""
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load(text)`` with :func:`safe_loader`'s loader (raises ``yaml.YAMLError``)."""
    import yaml

    return yaml.load(text, Loader=safe_loader())
