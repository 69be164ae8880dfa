"""Graph specs: graphs as JSON or YAML documents, and back.

>>> from graphrun.engine.spec import dump, load
>>> g = load({
...     "name": "counter",
...     "nodes": {
...         "inc": {
...             "tool": "increment",
...             "args": {"key": "n"},
...             "next": [{"when": "n < 3", "to": "inc"}, {"to": "END"}],
...         }
...     },
... })
>>> g.compile().invoke({"n": 0}).state["n"]
3
>>> dump(g)["nodes"]["inc"]["next"]
[{'when': 'n < 3', 'to': 'inc'}, {'to': 'END'}]

:func:`parse` validates a document in the canonical form or in one of the two seed forms
and returns a :class:`GraphSpec`; :func:`load` also builds and checks the
:class:`~graphrun.engine.graph.Graph`. :func:`dump` writes a graph in the canonical form.
Every problem is raised together in one :class:`~graphrun.engine.errors.GraphSpecError`
whose locations are JSON paths such as ``nodes.review.retry.max_attempts``.
"""

from graphrun.engine.spec._api import TextFormat, dump, dumps, load, loads, parse, read_file
from graphrun.engine.spec._seeds import SpecForm, detect_form
from graphrun.engine.spec.models import (
    END_NAMES,
    BranchSpec,
    CacheSpec,
    EdgeSpec,
    GraphSpec,
    IfSpec,
    NodeSpec,
    PoliciesSpec,
    RetrySpec,
)

__all__ = [
    "END_NAMES",
    "BranchSpec",
    "CacheSpec",
    "EdgeSpec",
    "GraphSpec",
    "IfSpec",
    "NodeSpec",
    "PoliciesSpec",
    "RetrySpec",
    "SpecForm",
    "TextFormat",
    "detect_form",
    "dump",
    "dumps",
    "load",
    "loads",
    "parse",
    "read_file",
]
