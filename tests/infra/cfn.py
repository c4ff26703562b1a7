"""The template reader the tests use is the one the local stack provisions from (so they cannot drift)."""

from infra.template import (
    Template,
    function_property,
    load_template,
    referenced_names,
    resources_of_type,
    target_of,
)

__all__ = ["Template", "function_property", "load_template", "referenced_names", "resources_of_type", "target_of"]
