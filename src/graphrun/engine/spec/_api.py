"""Reading and writing graph specs: parse, load, loads, dump, dumps."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path as FilePath
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from graphrun.engine.conditions import ConditionRegistry
from graphrun.engine.errors import GraphSpecError, Problem
from graphrun.engine.graph import Graph
from graphrun.engine.spec._convert import graph_to_dict
from graphrun.engine.spec._paths import Path, PathMap, validation_issues
from graphrun.engine.spec._seeds import (
    detect_form,
    edge_map_model_at,
    edge_map_to_canonical,
    normalize_if_branches,
)
from graphrun.engine.spec.models import GraphSpec, model_at
from graphrun.engine.tools import ToolRegistry

TextFormat = Literal["yaml", "json"]

_SUFFIXES: dict[str, TextFormat] = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}

MAX_ITEMS = 1_000_000
"""Most values (counting every nested one) a YAML spec may expand to."""

# The C implementations when libyaml is present; both are the "safe" variants.
_YamlLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_YamlDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def parse(data: Mapping[str, Any]) -> GraphSpec:
    """Validate a spec in any accepted form and return it in the canonical form.

    Normalized: ``start_node`` becomes ``entry``, every END spelling ``"END"``, a
    ``{condition, if_true, if_false}`` next a branch list, and a seed 003 document the
    canonical nodes with their ``next``.

    Raises :class:`GraphSpecError` listing every structural problem (wrong types, unknown
    or missing fields, malformed edges) with its JSON path in ``data``. References
    (tools, targets, conditions) are checked by :meth:`GraphSpec.to_graph` / :func:`load`.
    """
    if not isinstance(data, Mapping):
        raise GraphSpecError([Problem("", f"a graph spec must be an object, got {_kind(data)}")])
    raw = dict(data)
    problems: list[Problem] = []
    origin = PathMap()
    if "start_node" in raw:
        start = raw.pop("start_node")
        if "entry" in raw:
            problems.append(Problem("start_node", "give entry or start_node, not both"))
        else:
            raw["entry"] = start
            origin.add(("entry",), ("start_node",))
    named_conditions: set[Path] = set()
    if detect_form(data) == "edge_map":
        try:
            seed = edge_map_to_canonical(raw)
        except ValidationError as exc:
            problems += origin.problems(validation_issues(exc, edge_map_model_at))
            raise GraphSpecError(problems) from None
        # The seed's own issues already have seed paths; only the rename applies to them.
        problems += origin.problems(seed.issues)
        if problems:
            raise GraphSpecError(problems)
        raw, named_conditions = seed.data, seed.named_conditions
        origin = seed.origin.then(origin)
    try:
        spec = GraphSpec.model_validate(raw)
    except ValidationError as exc:
        problems += origin.problems(validation_issues(exc, model_at))
        raise GraphSpecError(problems) from None
    if problems:
        raise GraphSpecError(problems)
    spec._origin = normalize_if_branches(spec).then(origin)
    spec._named_conditions = frozenset(named_conditions)
    return spec


def load(
    source: Mapping[str, Any] | GraphSpec | str | os.PathLike[str],
    *,
    tools: ToolRegistry | None = None,
    conditions: ConditionRegistry | None = None,
) -> Graph:
    """A checked :class:`Graph` from a spec: a mapping, a parsed :class:`GraphSpec`, or
    the path of a ``.json`` / ``.yaml`` / ``.yml`` file.

    Everything ``Graph.compile()`` would reject (unknown tools, targets or conditions,
    unreachable nodes, nodes without edges...) is raised first as one
    :class:`GraphSpecError` whose locations are JSON paths into the spec.
    ``tools`` and ``conditions`` default to the process-wide registries.
    """
    if isinstance(source, GraphSpec):
        spec = source
    elif isinstance(source, str | os.PathLike):
        spec = parse(read_file(source))
    else:
        spec = parse(source)
    return spec.to_graph(tools=tools, conditions=conditions)


def loads(
    text: str,
    format: TextFormat = "yaml",
    *,
    tools: ToolRegistry | None = None,
    conditions: ConditionRegistry | None = None,
) -> Graph:
    """:func:`load` for a spec held in a string (YAML, or JSON)."""
    return load(_decode(text, format, "spec"), tools=tools, conditions=conditions)


def dump(graph: Graph) -> dict[str, Any]:
    """The canonical, JSON-safe spec of ``graph``; ``load(dump(g))`` behaves like ``g``.

    Raises :class:`GraphSpecError` naming every node bound to a Python callable and every
    router function, which a spec cannot express.
    """
    return graph_to_dict(graph)


def dumps(graph: Graph, format: TextFormat = "yaml") -> str:
    """:func:`dump` as YAML or (indented) JSON text."""
    data = dump(graph)
    if format == "json":
        return json.dumps(data, indent=2) + "\n"
    if format == "yaml":
        text = yaml.dump(data, Dumper=_YamlDumper, sort_keys=False, allow_unicode=True)
        # PyYAML writes a few characters (e.g. U+0085) raw that its reader then folds
        # into spaces; escaping everything non-ASCII keeps such specs exact.
        if yaml.load(text, Loader=_YamlLoader) != data:
            text = yaml.dump(data, Dumper=_YamlDumper, sort_keys=False, allow_unicode=False)
        return text
    raise ValueError(f"unknown spec format {format!r} (use 'yaml' or 'json')")


def read_file(path: str | os.PathLike[str]) -> Any:
    """The decoded content of a ``.json`` / ``.yaml`` / ``.yml`` spec file.

    An unreadable file, an unknown suffix or a syntax error raises :class:`GraphSpecError`
    naming the file (and the line, for syntax errors).
    """
    file = FilePath(path)
    fmt = _SUFFIXES.get(file.suffix.lower())
    if fmt is None:
        known = ", ".join(_SUFFIXES)
        raise GraphSpecError(
            [Problem("", f"{file}: unknown spec file type {file.suffix!r} (use {known})")]
        )
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GraphSpecError([Problem("", f"cannot read {file}: {exc}")]) from None
    return _decode(text, fmt, str(file))


def _decode(text: str, format: TextFormat, name: str) -> Any:
    if format == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno}, column {exc.colno}"
            raise GraphSpecError(
                [Problem("", f"{name}: invalid JSON at {where}: {exc.msg}")]
            ) from None
        except RecursionError:
            raise GraphSpecError([Problem("", f"{name}: JSON nested too deeply")]) from None
    if format == "yaml":
        try:
            data = yaml.load(text, Loader=_YamlLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise GraphSpecError([Problem("", f"{name}: invalid YAML{where}: {problem}")]) from None
        except RecursionError:
            raise GraphSpecError([Problem("", f"{name}: YAML nested too deeply")]) from None
        if _too_big(data):
            # Aliases share objects, so a small text can stand for a huge document.
            raise GraphSpecError(
                [Problem("", f"{name}: the YAML expands to more than {MAX_ITEMS:,} items")]
            )
        return data
    raise ValueError(f"unknown spec format {format!r} (use 'yaml' or 'json')")


def _too_big(data: Any) -> bool:
    count = 0
    stack = [data]
    while stack:
        item = stack.pop()
        count += 1
        if count > MAX_ITEMS:
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _kind(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__
