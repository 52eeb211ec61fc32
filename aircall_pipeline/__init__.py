"""Aircall account -> daily, verifiable compliance evidence, orchestrated by Dagster."""

from aircall_pipeline.version import __version__

__all__ = ["__version__"]
