"""Aircall account -> daily, verifiable compliance evidence, orchestrated by Dagster."""

from pathlib import Path

__version__ = (Path(__file__).parent / "VERSION").read_text().strip()
