"""The project's version: the VERSION file beside this module, which setup.py packages too. A module
of its own so that any layer (the Aircall client's User-Agent, the evidence manifests) can name it
without importing the package's root."""

from pathlib import Path

__version__ = (Path(__file__).parent / "VERSION").read_text().strip()
