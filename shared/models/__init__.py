"""nudge's pydantic models.

The modules that define models do not use ``from __future__ import annotations``: with it every field annotation is
a string that pydantic compiles and evaluates when the class is created, which is most of what creating a model
class costs at a cold start (the schema itself is built at first use: ``defer_build=True``). A forward reference is
written ``Self`` or quoted.
"""
