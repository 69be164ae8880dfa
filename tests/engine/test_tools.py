"""The tool registry, the @tool decorator and the graphrun.tools entry points."""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from graphrun.engine import END, Graph, RunStatus, Tool, ToolError, ToolRegistry, tool
from graphrun.engine import tools as tools_module
from graphrun.engine.tools import ENTRY_POINT_GROUP, default_registry, make_tool


def plain(state: Mapping[str, Any], *, key: str, value: int = 1) -> dict[str, Any]:
    """Set ``key`` to ``value``.

    The second paragraph is not part of the description."""
    return {key: value}


def with_ctx(state: Mapping[str, Any], ctx: Any, message: str = "hi") -> None:
    ctx.log(message)


async def slow(state: Mapping[str, Any], seconds: float = 0.0) -> dict[str, Any]:
    return {"slept": seconds}


def anything(state: Mapping[str, Any], **values: Any) -> dict[str, Any]:
    return dict(values)


# -- describing tools ------------------------------------------------------------------------


def test_make_tool_describes_a_function() -> None:
    t = make_tool(plain, "plain")
    assert t.name == "plain"
    assert t.description == "Set ``key`` to ``value``."
    assert t.signature == "plain(state, key: str, value: int = 1)"
    assert [p.name for p in t.params] == ["key", "value"]
    assert (t.is_async, t.takes_ctx, t.inline, t.accepts_any_kwargs) == (False, False, False, False)
    assert t.describe() == {
        "name": "plain",
        "description": "Set ``key`` to ``value``.",
        "signature": "plain(state, key: str, value: int = 1)",
        "async": False,
        "inline": False,
    }


def test_make_tool_with_ctx_async_and_kwargs() -> None:
    assert make_tool(with_ctx, "w").takes_ctx is True
    assert make_tool(with_ctx, "w").signature == "w(state, ctx, message: str = 'hi')"
    async_tool = make_tool(slow, "s", inline=True)
    assert async_tool.is_async and not async_tool.inline  # async tools are awaited, never inline
    any_tool = make_tool(anything, "a", description="Explicit.")
    assert any_tool.accepts_any_kwargs and any_tool.description == "Explicit."
    assert any_tool.signature == "a(state, **values: Any)"
    assert make_tool(lambda s: None, "anon").description == ""


@pytest.mark.parametrize("fn", [lambda: None, lambda *, state: None, lambda *a: None])
def test_a_tool_must_take_the_state_first(fn: Callable[..., Any]) -> None:
    with pytest.raises(ToolError, match="tool 'bad': the first parameter must take the state"):
        make_tool(fn, "bad")


def test_check_args() -> None:
    t = make_tool(plain, "plain")
    assert t.check_args({"key": "k"}, "nodes.n.args") == []
    problems = t.check_args({"kee": "k"}, "nodes.n.args")
    assert [(p.location, p.message) for p in problems] == [
        ("nodes.n.args.kee", "tool 'plain' takes no argument 'kee' (it takes: key, value)"),
        ("nodes.n.args", "tool 'plain' needs the argument 'key'"),
    ]
    assert make_tool(anything, "a").check_args({"x": 1, "y": 2}, "l") == []
    nothing = make_tool(lambda state: None, "nothing").check_args({"x": 1}, "l")
    assert nothing[0].message == "tool 'nothing' takes no argument 'x' (it takes: none)"


# -- the registry --------------------------------------------------------------------------------


def test_register_get_and_list() -> None:
    reg = ToolRegistry()
    reg._entry_points_loaded = True
    reg.add(plain)
    reg.add(slow, "zzz")
    reg.add(with_ctx, "aaa")
    assert reg.get("plain").fn is plain
    assert "zzz" in reg and "nope" not in reg
    assert reg.names() == ["aaa", "plain", "zzz"]
    assert [t.name for t in reg] == ["aaa", "plain", "zzz"]
    with pytest.raises(ToolError, match="unknown tool 'nope'"):
        reg.get("nope")


def test_a_name_cannot_be_taken_twice_unless_replaced() -> None:
    reg = ToolRegistry()
    reg.add(plain, "t")
    reg.add(plain, "t")  # the same function again is harmless
    with pytest.raises(ToolError, match="a tool named 't' is already registered"):
        reg.add(slow, "t")
    assert reg.get("t").fn is plain
    reg.add(slow, "t", replace=True)
    assert reg.get("t").fn is slow


def test_the_decorator_registers_and_returns_the_function() -> None:
    reg = ToolRegistry()

    @tool("shout", description="Shout.", inline=True, registry=reg)
    def shout(state: Mapping[str, Any], word: str = "hey") -> dict[str, Any]:
        return {"said": word.upper()}

    assert shout({}, "x") == {"said": "X"}
    t = reg.get("shout")
    assert (t.description, t.inline, t.fn) == ("Shout.", True, shout)

    @tool(registry=reg)
    def whisper(state: Mapping[str, Any]) -> None:
        """Whisper."""

    assert reg.get("whisper").description == "Whisper."


def test_the_default_registry_has_the_builtins() -> None:
    assert {"noop", "set", "increment", "sleep", "log", "fail"} <= set(default_registry.names())


def test_tools_run_in_graphs_with_static_args(tools: ToolRegistry) -> None:
    tools.add(plain)
    tools.add(slow)
    tools.add(with_ctx, "say")
    g = Graph(tools=tools)
    g.add_node("p", tool="plain", args={"key": "answer", "value": 42})
    g.add_node("s", tool="slow", args={"seconds": 0.001})
    g.add_node("say")
    g.add_edge("p", "s").add_edge("s", "say").add_edge("say", END)
    result = g.compile().invoke({})
    assert result.status is RunStatus.COMPLETED
    assert result.state == {"answer": 42, "slept": 0.001}


async def test_ctx_gives_the_tool_registry(tools: ToolRegistry) -> None:
    tools.add(plain)
    seen: dict[str, Any] = {}

    def node(state: Mapping[str, Any], ctx: Any) -> dict[str, Any]:
        seen["tools"] = ctx.tools
        return ctx.tools.get("plain").fn(state, key="via_ctx", value=7)  # type: ignore[no-any-return]

    g = Graph(tools=tools).add_node("n", node).add_edge("n", END)
    result = await g.compile().ainvoke({})
    assert seen["tools"] is tools
    assert result.state == {"via_ctx": 7}


# -- entry points -------------------------------------------------------------------------------


@dataclass
class FakeEntryPoint:
    name: str
    target: Callable[[], Any]

    def load(self) -> Any:
        return self.target()


def install(monkeypatch: pytest.MonkeyPatch, *entries: FakeEntryPoint) -> list[str]:
    groups: list[str] = []

    def fake_entry_points(*, group: str) -> list[FakeEntryPoint]:
        groups.append(group)
        return list(entries)

    monkeypatch.setattr(tools_module, "entry_points", fake_entry_points)
    return groups


def _broken() -> Any:
    raise ImportError("No module named 'missing_dependency'")


def test_entry_points_add_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    reg = ToolRegistry()

    def module_with_decorators() -> types.ModuleType:
        # Importing a plugin module runs its @tool decorators.
        reg.add(anything, "from_module")
        return types.ModuleType("plugin")

    groups = install(
        monkeypatch,
        FakeEntryPoint("plain_tool", lambda: plain),
        FakeEntryPoint("ready", lambda: make_tool(slow, "ready_made")),
        FakeEntryPoint("plugin", module_with_decorators),
        FakeEntryPoint("a_class", lambda: ValueError),
    )
    assert reg.get("plain_tool").fn is plain
    assert reg.get("ready_made").is_async
    assert "from_module" in reg
    assert "a_class" not in reg and "ValueError" not in reg  # classes are not tools
    assert groups == [ENTRY_POINT_GROUP] == ["graphrun.tools"]
    reg.names()
    assert groups == ["graphrun.tools"], "entry points are loaded once"


def test_a_broken_entry_point_does_not_hide_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    reg = ToolRegistry()
    reg.add(plain, "builtin_like")
    install(
        monkeypatch,
        FakeEntryPoint("broken", _broken),
        FakeEntryPoint("good", lambda: slow),
        FakeEntryPoint("clash", lambda: anything),
        FakeEntryPoint("builtin_like", lambda: anything),  # name taken by another function
    )
    assert reg.get("builtin_like").fn is plain
    assert reg.get("good").fn is slow
    assert reg.get("clash").fn is anything
    assert set(reg.load_errors) == {"broken", "builtin_like"}
    assert "missing_dependency" in reg.load_errors["broken"]
    assert "already registered" in reg.load_errors["builtin_like"]
    with pytest.raises(ToolError, match=r"unknown tool 'broken'.*broken: ImportError"):
        reg.get("broken")


def test_a_graph_naming_a_builtin_compiles_despite_a_broken_plugin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reg = ToolRegistry()
    for t in default_registry:
        reg.register(t)
    install(monkeypatch, FakeEntryPoint("broken", _broken))
    g = Graph(tools=reg).add_node("noop").add_edge("noop", END)
    assert g.problems() == []
    g2 = Graph(tools=reg).add_node("x", tool="plugin_tool", final=True)
    (problem,) = g2.problems()
    assert problem.location == "nodes.x.tool"
    assert "plugin_tool" in problem.message


def test_a_tool_registered_by_entry_point_as_a_tool_object(monkeypatch: pytest.MonkeyPatch) -> None:
    reg = ToolRegistry()
    ready = Tool(name="custom", fn=plain, description="d")
    install(monkeypatch, FakeEntryPoint("whatever", lambda: ready))
    assert reg.get("custom") is ready
