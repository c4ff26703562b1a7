"""Shipped journey presets (``presets.yaml``), read by ``shared.models.journeys``: data, not code."""
