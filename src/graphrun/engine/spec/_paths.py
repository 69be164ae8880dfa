"""JSON paths into a spec: rendering, mapping between forms, and pydantic errors → problems."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ValidationError

from graphrun.engine.errors import Problem

PathPart = str | int
Path = tuple[PathPart, ...]

# Tags of the spec's tagged unions. Pydantic puts the chosen tag into an error's location;
# a user never wrote it, so it is dropped from the paths we report.
UNION_TAGS = frozenset(
    {
        "next:target",
        "next:fanout",
        "next:branches",
        "next:if",
        "from:node",
        "from:nodes",
        "retry:policy",
        "retry:attempts",
        "cache:policy",
        "cache:flag",
        "node:name",
        "node:object",
        "default_next:target",
        "default_next:fanout",
    }
)

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-]+")
_ENGINE_PART = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")


def render(path: Sequence[PathPart]) -> str:
    """``("nodes", "a", "next", 0, "to")`` → ``nodes.a.next[0].to``.

    Keys that are not plain words are quoted: ``nodes["my node"].tool``.
    """
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


def split_suffix(text: str) -> Path:
    """Parse an engine location tail such as ``.args.key`` or ``.branches[1].when``."""
    parts: list[PathPart] = []
    for match in _ENGINE_PART.finditer(text):
        key, index = match.groups()
        parts.append(int(index) if index is not None else key)
    return tuple(parts)


@dataclass(frozen=True, slots=True)
class Issue:
    """A problem whose location is still a path tuple in some form of the spec."""

    path: Path
    message: str


@dataclass(frozen=True, slots=True)
class _Rule:
    prefix: Path
    target: Path
    keep_suffix: bool


@dataclass(slots=True)
class PathMap:
    """Rewrites paths of the normalized (canonical) spec into paths of the document the
    user wrote, by longest matching prefix. Maps chain with :meth:`then`."""

    _rules: list[_Rule] = field(default_factory=list)
    _after: PathMap | None = None

    def add(self, prefix: Path, target: Path, *, keep_suffix: bool = True) -> None:
        """Map ``prefix + rest`` to ``target + rest`` (or to ``target`` alone)."""
        self._rules.append(_Rule(prefix, target, keep_suffix))

    def then(self, other: PathMap) -> PathMap:
        """A map applying this one, then ``other``."""
        tail = self._after.then(other) if self._after is not None else other
        return PathMap(list(self._rules), tail)

    def __call__(self, path: Path) -> Path:
        best: _Rule | None = None
        for rule in self._rules:
            n = len(rule.prefix)
            if path[:n] == rule.prefix and (best is None or n > len(best.prefix)):
                best = rule
        if best is not None:
            rest = path[len(best.prefix) :] if best.keep_suffix else ()
            path = best.target + rest
        return self._after(path) if self._after is not None else path

    def problems(self, issues: Iterable[Issue]) -> list[Problem]:
        """Issues as problems located in the user's document."""
        return [Problem(render(self(i.path)), i.message) for i in issues]


ModelAt = Callable[[Path], type[BaseModel] | None]
"""Which spec model describes the object at a path (for "did you mean" hints)."""


def validation_issues(exc: ValidationError, model_at: ModelAt) -> list[Issue]:
    """Every pydantic error as an :class:`Issue` with a clean path and message."""
    issues: list[Issue] = []
    for err in exc.errors(include_url=False):
        loc: Path = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in UNION_TAGS))
        kind = err["type"]
        message = err["msg"]
        if loc and loc[-1] == "[key]":
            # A non-string key (YAML allows `1:`) is reported as the key it is, not an index.
            loc = (*loc[:-2], str(loc[-2])) if len(loc) >= 2 else ()
            message = f"keys must be strings, got {type(err['input']).__name__}"
        elif kind == "extra_forbidden" and loc:
            message = _unknown_field(str(loc[-1]), model_at(loc[:-1]))
        elif kind == "missing":
            message = "this field is required"
        elif kind in ("model_type", "dict_type", "model_attributes_type"):
            message = f"must be an object, got {_shown(err['input'])}"
        elif kind.endswith("_type") or kind == "literal_error":
            message = f"{message}, got {_shown(err['input'])}"
        issues.append(Issue(loc, message[0].lower() + message[1:] if message else message))
    return issues


def _unknown_field(name: str, model: type[BaseModel] | None) -> str:
    if model is None:
        return f"unknown field {name!r}"
    allowed = [f.alias or key for key, f in model.model_fields.items()]
    close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown field {name!r}; did you mean {close[0]!r}?"
    return f"unknown field {name!r} (allowed: {', '.join(allowed)})"


def _shown(value: object) -> str:
    """A short, JSON-like rendering of a bad value for an error message."""
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def close_match(name: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when ``name`` looks like a typo of one of ``choices``."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
