"""Shared state: per-key reducers, merging a step's updates, optional schema validation."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import Any

import jsonschema
from pydantic import BaseModel, ValidationError

from graphrun.engine.errors import StateError

State = dict[str, Any]
Update = Mapping[str, Any]


class Reducer(StrEnum):
    """How a node's write to a key combines with the value already there."""

    REPLACE = "replace"
    APPEND = "append"  # list: extend with a list, append any other value
    ADD = "add"  # numbers (or lists/strings) with ``+``
    MERGE = "merge"  # dicts: shallow merge, the update wins


def _append(old: Any, new: Any) -> Any:
    if old is not None and not isinstance(old, list | tuple):
        raise TypeError(f"the key holds {type(old).__name__}, not a list")
    base = list(old) if old is not None else []
    if isinstance(new, list):
        base.extend(new)
    else:
        base.append(new)
    return base


def _add(old: Any, new: Any) -> Any:
    return new if old is None else old + new


def _merge(old: Any, new: Any) -> Any:
    if not isinstance(new, Mapping):
        raise TypeError(f"merge needs an object, got {type(new).__name__}")
    if old is not None and not isinstance(old, Mapping):
        raise TypeError(f"the key holds {type(old).__name__}, not an object")
    merged = dict(old) if old is not None else {}
    merged.update(new)
    return merged


_COMBINE: dict[Reducer, Callable[[Any, Any], Any]] = {
    Reducer.APPEND: _append,
    Reducer.ADD: _add,
    Reducer.MERGE: _merge,
}


def check_update(node: str, update: object) -> Update | None:
    """Return the node's update as a mapping, or raise naming the node."""
    if update is None:
        return None
    if not isinstance(update, Mapping):
        raise StateError(
            f"node {node!r} returned {type(update).__name__}; a node must return a dict "
            "of state updates or None"
        )
    for key in update:
        if not isinstance(key, str):
            raise StateError(f"node {node!r} returned a non-string state key {key!r}")
    return update


def merge_updates(
    state: State,
    updates: Sequence[tuple[str, Update]],
    reducers: Mapping[str, Reducer],
) -> State:
    """Apply one step's updates to ``state`` in place and return the step's delta.

    ``updates`` holds ``(node, update)`` pairs in a deterministic order. The delta maps
    every written key to its new value. Two nodes writing one replace-key in the same
    step is an error naming both. On an error ``state`` is left as it was.
    """
    delta: State = {}
    if len(updates) == 1:
        node, update = updates[0]
        for key, value in update.items():
            reducer = reducers.get(key)
            if reducer is None or reducer is Reducer.REPLACE:
                delta[key] = value
            else:
                delta[key] = _combine(reducer, node, key, state.get(key), value)
        state.update(delta)
        return delta
    writers: dict[str, str] = {}
    for node, update in updates:
        for key, value in update.items():
            reducer = reducers.get(key, Reducer.REPLACE)
            if reducer is Reducer.REPLACE:
                if key in writers:
                    raise StateError(
                        f"nodes {writers[key]!r} and {node!r} both wrote state key {key!r} "
                        "in the same step; give the key a reducer (append, add, merge) "
                        "or let one node write it"
                    )
                writers[key] = node
                delta[key] = value
            else:
                old = delta[key] if key in delta else state.get(key)
                delta[key] = _combine(reducer, node, key, old, value)
    state.update(delta)
    return delta


def _combine(reducer: Reducer, node: str, key: str, old: Any, new: Any) -> Any:
    try:
        return _COMBINE[reducer](old, new)
    except TypeError as exc:
        raise StateError(f"node {node!r}: cannot {reducer.value} state key {key!r}: {exc}") from exc


class StateSchema:
    """Validates whole states against a JSON Schema or a Pydantic model."""

    def __init__(self, schema: Mapping[str, Any] | type[BaseModel]) -> None:
        self.source = schema
        self._model: type[BaseModel] | None = None
        self._validator: jsonschema.protocols.Validator | None = None
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            self._model = schema
        elif not isinstance(schema, Mapping):
            raise StateError(
                "a state schema must be a JSON Schema object or a Pydantic model class, "
                f"not {type(schema).__name__}"
            )
        else:
            if "$schema" in schema:
                # Without a default, an unknown $schema only warns and falls back.
                found = (
                    jsonschema.validators.validator_for(schema, default=None)  # type: ignore[arg-type]
                    if isinstance(schema["$schema"], str)
                    else None
                )
                if found is None:
                    raise StateError(f"invalid state schema: unknown $schema {schema['$schema']!r}")
                cls = found
            else:
                cls = jsonschema.validators.validator_for(schema)
            try:
                cls.check_schema(dict(schema))
            except jsonschema.SchemaError as exc:
                path = ".".join(str(p) for p in exc.path) or "(root)"
                raise StateError(f"invalid state schema at {path}: {exc.message}") from exc
            self._validator = cls(dict(schema))

    def json_schema(self) -> dict[str, Any]:
        if self._model is not None:
            return self._model.model_json_schema()
        return dict(self.source)  # type: ignore[arg-type]

    def problems(self, state: Mapping[str, Any]) -> list[str]:
        """Every way ``state`` breaks the schema, each with the path of the bad field."""
        if self._model is not None:
            try:
                self._model.model_validate(dict(state))
            except ValidationError as exc:
                return [
                    f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
                    for err in exc.errors()
                ]
            return []
        assert self._validator is not None
        out = []
        for err in sorted(self._validator.iter_errors(dict(state)), key=lambda e: list(e.path)):
            path = ".".join(str(p) for p in err.absolute_path) or "(root)"
            out.append(f"{path}: {err.message}")
        return out

    def validate(self, state: Mapping[str, Any], *, after: str) -> None:
        problems = self.problems(state)
        if problems:
            raise StateError(f"state after {after} breaks the state schema: " + "; ".join(problems))
