"""YAML read together with its node tree, so that a pydantic error can name the line it is about.

pydantic reports where a value failed as a path of keys and indexes (`loc`); the YAML nodes keep
where each key and value was written. Together they turn a ValidationError into `FILE line N: ...`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import yaml

from aircall_pipeline.config.settings_error import SettingsError

# pydantic's error types for a key the model does not declare (`extra="forbid"`).
UNKNOWN_KEY = ("extra_forbidden", "invalid_key")


def load_with_nodes(text: str, path: str) -> tuple[yaml.Node | None, Any]:
    """The YAML node tree (for line numbers) and the data it constructs, from one parse; invalid YAML
    is a SettingsError naming the file and the line."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        return root, (loader.construct_document(root) if root is not None else None)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise SettingsError(f"{path}{line}: not valid YAML ({getattr(exc, 'problem', None) or exc}).") from None
    finally:
        loader.dispose()


def node_at(root: yaml.Node, loc: Sequence[Any], *, key: bool = False) -> yaml.Node:
    """The deepest node along pydantic's error `loc` (the key's node instead of its value's with `key`)."""
    node = root
    for depth, part in enumerate(loc):
        last = depth == len(loc) - 1
        if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
        elif isinstance(node, yaml.MappingNode):
            pairs = [(k, v) for k, v in node.value if str(k.value) == str(part)]
            if not pairs:
                return node
            key_node, value_node = pairs[-1]  # a repeated key: the last one wins, as when loading
            node = key_node if (key and last) else value_node
        else:
            return node
    return node


def line_of(root: yaml.Node, loc: Sequence[Any], *, key: bool = False) -> int:
    """The 1-based line of the node along `loc`."""
    return node_at(root, loc, key=key).start_mark.line + 1


def first_located(
    errors: Sequence[dict[str, Any]],
    root: yaml.Node,
    node_loc: Callable[[dict[str, Any]], Sequence[Any]] = lambda error: error["loc"],
) -> tuple[int, dict[str, Any]]:
    """(line, error) of the error written first in the file (pydantic's order breaks ties). On one
    line an unknown key comes first: it often explains what seems missing (a misspelt key)."""
    located = []
    for order, error in enumerate(errors):
        unknown = error["type"] in UNKNOWN_KEY
        located.append((line_of(root, node_loc(error), key=unknown), not unknown, order, error))
    line, _, _, error = min(located, key=lambda e: e[:3])
    return line, error
