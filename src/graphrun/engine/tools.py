"""The tool registry: named, described callables that graph nodes can be bound to.

Tools are registered in Python (the ``@tool`` decorator or the ``graphrun.tools``
entry-point group), never sent over the network; a graph spec names them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, TypeVar

from graphrun.engine.errors import Problem, ToolError

ENTRY_POINT_GROUP = "graphrun.tools"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class Tool:
    """A registered callable. It takes the state first, then ``ctx`` if it names it,
    then keyword arguments bound statically by the node (``args`` in a spec)."""

    name: str
    fn: Callable[..., Any]
    description: str
    inline: bool = False
    is_async: bool = False
    takes_ctx: bool = False
    params: tuple[inspect.Parameter, ...] = ()
    accepts_any_kwargs: bool = False
    signature: str = field(default="")

    def check_args(self, args: dict[str, Any], location: str) -> list[Problem]:
        """Problems with binding ``args`` to this tool, each at ``location``."""
        problems: list[Problem] = []
        known = {p.name for p in self.params}
        if not self.accepts_any_kwargs:
            for name in args:
                if name not in known:
                    allowed = ", ".join(sorted(known)) or "none"
                    problems.append(
                        Problem(
                            f"{location}.{name}",
                            f"tool {self.name!r} takes no argument {name!r} (it takes: {allowed})",
                        )
                    )
        for p in self.params:
            if p.default is inspect.Parameter.empty and p.name not in args:
                problems.append(
                    Problem(location, f"tool {self.name!r} needs the argument {p.name!r}")
                )
        return problems

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "signature": self.signature,
            "async": self.is_async,
            "inline": self.inline,
        }


def make_tool(
    fn: Callable[..., Any], name: str, description: str | None = None, *, inline: bool = False
) -> Tool:
    """Inspect ``fn`` and describe it as a tool."""
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    if not params or params[0].kind not in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        raise ToolError(f"tool {name!r}: the first parameter must take the state")
    rest = params[1:]
    takes_ctx = bool(rest) and rest[0].name == "ctx"
    if takes_ctx:
        rest = rest[1:]
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in rest)
    kw = tuple(
        p
        for p in rest
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    )
    is_async = inspect.iscoroutinefunction(fn)
    doc = description or inspect.getdoc(fn) or ""
    shown = ", ".join(_format_param(p) for p in rest)
    return Tool(
        name=name,
        fn=fn,
        description=doc.strip().split("\n\n")[0].replace("\n", " "),
        inline=inline and not is_async,
        is_async=is_async,
        takes_ctx=takes_ctx,
        params=kw,
        accepts_any_kwargs=accepts_any,
        signature=f"{name}(state{', ctx' if takes_ctx else ''}{', ' + shown if shown else ''})",
    )


def _format_param(p: inspect.Parameter) -> str:
    # str(p) would quote annotations that are strings (``from __future__ import annotations``).
    text: str = p.name
    if p.kind is inspect.Parameter.VAR_POSITIONAL:
        text = "*" + text
    elif p.kind is inspect.Parameter.VAR_KEYWORD:
        text = "**" + text
    if p.annotation is not inspect.Parameter.empty:
        ann = p.annotation
        text += ": " + (ann if isinstance(ann, str) else inspect.formatannotation(ann))
    if p.default is not inspect.Parameter.empty:
        text += f" = {p.default!r}"
    return text


class ToolRegistry:
    """Named tools. ``default_registry`` is the process-wide one the decorator fills."""

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}
        self._entry_points_loaded = False
        self.load_errors: dict[str, str] = {}
        """Entry points that could not be loaded: entry point name -> why."""

    def register(self, tool: Tool, *, replace: bool = False) -> Tool:
        existing = self._tools.get(tool.name)
        if existing is not None and not replace and existing.fn is not tool.fn:
            raise ToolError(f"a tool named {tool.name!r} is already registered")
        self._tools[tool.name] = tool
        return tool

    def add(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        *,
        description: str | None = None,
        inline: bool = False,
        replace: bool = False,
    ) -> Tool:
        return self.register(
            make_tool(fn, name or fn.__name__, description, inline=inline), replace=replace
        )

    def get(self, name: str) -> Tool:
        self.load_entry_points()
        try:
            return self._tools[name]
        except KeyError:
            broken = "; ".join(f"{ep}: {why}" for ep, why in sorted(self.load_errors.items()))
            hint = f" (tool entry points that failed to load: {broken})" if broken else ""
            raise ToolError(f"unknown tool {name!r}{hint}") from None

    def __contains__(self, name: object) -> bool:
        self.load_entry_points()
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        self.load_entry_points()
        return iter(sorted(self._tools.values(), key=lambda t: t.name))

    def names(self) -> list[str]:
        return [t.name for t in self]

    def load_entry_points(self) -> None:
        """Import the ``graphrun.tools`` entry points once. Each names a module (whose
        decorators register tools) or a callable/Tool registered under the entry's name.

        One broken entry point does not hide the others: its error is kept in
        :attr:`load_errors` and named when a tool cannot be found."""
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                obj = ep.load()
                if isinstance(obj, Tool):
                    self.register(obj)
                elif callable(obj) and not inspect.isclass(obj):
                    self.add(obj, ep.name)
            except Exception as exc:
                self.load_errors[ep.name] = f"{type(exc).__name__}: {exc}"


default_registry = ToolRegistry()


def tool(
    name: str | None = None,
    *,
    description: str | None = None,
    inline: bool = False,
    registry: ToolRegistry | None = None,
) -> Callable[[F], F]:
    """Register a function as a tool.

    ``inline=True`` declares a sync tool pure and fast: it runs on the event loop instead
    of a worker thread. The first line of the docstring is the description unless given.
    """

    def decorate(fn: F) -> F:
        (registry or default_registry).add(
            fn, name or fn.__name__, description=description, inline=inline, replace=True
        )
        return fn

    return decorate
