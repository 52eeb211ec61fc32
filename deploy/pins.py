"""Print pip constraints (`name==version`, one a line) read from the project's setup.py.

The Dockerfiles install with `pip install -c <this output>` so the images use exactly the versions
setup.py pins (Dagster core 1.13.N and its 0.29.N libraries only work as a matched set), without a
second copy of the numbers to keep in sync by hand.

    python deploy/pins.py [path/to/setup.py] > constraints.txt

It runs setup.py with a stand-in `setuptools` module that only records the `setup()` arguments, so
it needs neither setuptools nor the package's dependencies (a bare python:3.11-slim image is
enough). Every requirement must be an exact `==` pin; anything else is an error, because an
unpinned line would make the image differ from what the tests ran.
"""

from __future__ import annotations

import re
import runpy
import sys
import types
from pathlib import Path

_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*==\s*([A-Za-z0-9.+!_-]+)\s*$")


def setup_kwargs(setup_py: Path) -> dict:
    captured: dict = {}
    fake = types.ModuleType("setuptools")
    fake.setup = lambda **kwargs: captured.update(kwargs)
    fake.find_packages = lambda *args, **kwargs: []
    saved = sys.modules.get("setuptools")
    sys.modules["setuptools"] = fake
    try:
        runpy.run_path(str(setup_py), run_name="__main__")
    finally:
        if saved is None:
            sys.modules.pop("setuptools", None)
        else:
            sys.modules["setuptools"] = saved
    if not captured:
        raise SystemExit(f"{setup_py}: setup() was never called")
    return captured


def constraints(setup_py: Path) -> list[str]:
    kwargs = setup_kwargs(setup_py)
    requirements = list(kwargs.get("install_requires", []))
    for extra in kwargs.get("extras_require", {}).values():
        requirements.extend(extra)
    pins: dict[str, str] = {}
    for requirement in requirements:
        match = _REQ.match(requirement)
        if not match:
            raise SystemExit(f"{setup_py}: {requirement!r} is not an exact '==' pin")
        name = re.sub(r"[-_.]+", "-", match.group(1)).lower()  # PEP 503 normalised
        version = match.group(2)
        if pins.get(name, version) != version:
            raise SystemExit(f"{setup_py}: {name} is pinned twice ({pins[name]} and {version})")
        pins[name] = version  # constraints may not carry extras: `pyrate-limiter[filelock]` -> name only
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def main(argv: list[str]) -> int:
    setup_py = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "setup.py"
    print("\n".join(constraints(setup_py)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
