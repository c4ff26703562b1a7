"""Reads template.yaml the way CloudFormation does: short-form tags, references and SAM Globals.

Short forms load as their long forms (``!Ref X`` -> ``{"Ref": "X"}``, ``!GetAtt A.B`` -> ``{"Fn::GetAtt": ["A", "B"]}``,
``!Sub s`` -> ``{"Fn::Sub": s}``), so tests read the template the way CloudFormation does.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from shared.yaml_text import safe_loader

type Template = dict[str, Any]

# ${Name} or ${Name.Attribute}; ${!Literal} is an escaped literal, not a reference.
_SUB_REFERENCE = re.compile(r"\$\{(?!!)([A-Za-z0-9_:]+)(?:\.[A-Za-z0-9_.]+)?\}")


class TemplateLoader(safe_loader()):  # type: ignore[misc]
    """YAML loader that understands CloudFormation's short-form intrinsic functions, on libyaml's safe loader where
    PyYAML was built with it (``shared/yaml_text.py``: template.yaml is read by every local stack and simulation)."""


def _construct_intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise yaml.constructor.ConstructorError(None, None, f"unexpected node for !{suffix}", node.start_mark)
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {f"Fn::{suffix}": value}


TemplateLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: Path) -> Template:
    """Parse a CloudFormation/SAM template with short-form tags expanded to their long forms."""
    with path.open(encoding="utf-8") as stream:
        template: Template = yaml.load(stream, Loader=TemplateLoader)
    return template


def resources_of_type(template: Template, resource_type: str) -> dict[str, dict[str, Any]]:
    """The template's resources of one type, by logical id."""
    return {
        logical_id: resource
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") == resource_type
    }


def function_property(template: Template, function: dict[str, Any], name: str, default: Any = None) -> Any:
    """A serverless function's property as deployed: its own value, else the Globals' value, else ``default``."""
    own = function.get("Properties", {})
    if name in own:
        return own[name]
    return template.get("Globals", {}).get("Function", {}).get(name, default)


def target_of(value: Any) -> str | None:
    """The logical id that ``!Ref X`` or ``!GetAtt X.Attribute`` points at; None for anything else."""
    if isinstance(value, dict) and len(value) == 1:
        if isinstance(value.get("Ref"), str):
            return str(value["Ref"])
        attribute = value.get("Fn::GetAtt")
        if isinstance(attribute, list) and attribute and isinstance(attribute[0], str):
            return attribute[0]
    return None


def referenced_names(value: Any) -> set[str]:
    """Every logical id or parameter named anywhere inside ``value`` (Ref, GetAtt, and ``${...}`` in Sub)."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= referenced_names(item)
    elif isinstance(value, dict):
        target = target_of(value)
        if target is not None:
            found.add(target)
        if "Fn::Sub" in value:
            found |= _sub_references(value["Fn::Sub"])
        for key, item in value.items():
            if key not in ("Ref", "Fn::GetAtt", "Fn::Sub"):
                found |= referenced_names(item)
    return found


def _sub_references(argument: Any) -> set[str]:
    if isinstance(argument, str):
        return set(_SUB_REFERENCE.findall(argument))
    text, variables = argument[0], argument[1]
    local = set(variables)
    found = {name for name in _SUB_REFERENCE.findall(text) if name not in local}
    for item in variables.values():
        found |= referenced_names(item)
    return found
