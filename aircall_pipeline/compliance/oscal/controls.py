"""The controls the catalogue maps to, as OSCAL knows them.

A catalogue mapping is `FRAMEWORK:control` (`PCI:7.2.4`, `HIPAA:164.308(a)(4)`). OSCAL ids are tokens
that start with a letter and hold only letters, digits, `.`, `-` and `_`, so a PCI or HIPAA number is
not an id on its own, and two frameworks could number alike: the id is the framework and the control,
lower-cased, with parentheses folded into dots (`pci-7.2.4`, `hipaa-164.308.a.4`, `soc2-cc6.2`,
`iso27001-a.8.2`). The framework's own spelling stays on the control as its `label`.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources

CATALOG_FILE = "catalog.json"
# The namespace of the properties that are ours rather than OSCAL's.
NS = "https://github.com/aircall-pipeline/ns/oscal"
_FOLD = re.compile(r"\(([^()]*)\)")


def objective_id(mapping: str) -> str:
    """`HIPAA:164.308(a)(3)(ii)(C)` -> `hipaa-164.308.a.3.ii.c`; raises ValueError for a malformed mapping."""
    framework, sep, control = mapping.partition(":")
    if not sep or not framework or not control:
        raise ValueError(f"control mapping {mapping!r} is not FRAMEWORK:control")
    folded = _FOLD.sub(lambda m: "." + m[1], control)
    token = f"{framework}-{folded}".lower()
    if not re.fullmatch(r"[a-z][a-z0-9._-]*", token) or "(" in token or ")" in token:
        raise ValueError(f"control mapping {mapping!r} gives no usable OSCAL id ({token!r})")
    return token


@cache
def catalog() -> dict:
    """The shipped OSCAL catalog (parsed JSON, `{"catalog": {...}}`)."""
    return json.loads(resources.files(__package__).joinpath(CATALOG_FILE).read_text(encoding="utf-8"))


@cache
def controls() -> dict[str, dict[str, str]]:
    """OSCAL id -> {title, label, framework, group title} of every control in the shipped catalog."""
    found: dict[str, dict[str, str]] = {}
    for group in catalog()["catalog"]["groups"]:
        for control in group["controls"]:
            props = {p["name"]: p["value"] for p in control.get("props", [])}
            found[control["id"]] = {"title": control["title"], "label": props.get("label", control["id"]),
                                    "framework": group["id"], "framework_title": group["title"]}
    return found


def control(mapping: str) -> dict[str, str]:
    """The catalog entry of a catalogue mapping, with its `id`. A mapping the catalog does not hold (a
    check record from elsewhere) is described by its own spelling rather than refused: the result is
    still about that control, and the catalog test keeps the pipeline's own mappings covered."""
    oid = objective_id(mapping)
    entry = controls().get(oid)
    if entry is None:
        framework, _, label = mapping.partition(":")
        entry = {"title": mapping, "label": label, "framework": framework.lower(), "framework_title": framework}
    return {"id": oid, **entry}
