"""The compiled graph: routing, calling conventions, ordering, drawing, invoke."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import pytest

from graphrun.engine import END, Branch, ConditionError, ConditionRegistry, Graph, RunStatus
from graphrun.engine.compiled import (
    CompiledGraph,
    bind_callable,
    callable_takes_ctx,
    is_async_callable,
)


def noop(state: Mapping[str, Any]) -> None:
    return None


def routed(g: Graph, node: str, state: Mapping[str, Any]) -> list[str]:
    return g.compile().nodes[node].route(state)


def branching(*branches: Branch, conditions: ConditionRegistry | None = None) -> Graph:
    g = Graph(conditions=conditions).add_node("a", noop)
    for name in ("b", "c", "d"):
        g.add_node(name, noop, final=True)
    g.add_conditional_edges("a", list(branches))
    g.add_edge("a", "d")  # static edges always apply, besides the branch
    return g


# -- routing -------------------------------------------------------------------------------


def test_first_true_branch_wins() -> None:
    g = branching(Branch("b", "x > 10"), Branch("c", "x > 5"), Branch(END))
    assert routed(g, "a", {"x": 20}) == ["d", "b"]
    assert routed(g, "a", {"x": 7}) == ["d", "c"]
    assert routed(g, "a", {"x": 1}) == ["d", END]


def test_without_a_default_no_branch_may_match() -> None:
    g = branching(Branch("b", "x > 10"), Branch("c", "x > 5"))
    assert routed(g, "a", {"x": 1}) == ["d"]


def test_later_conditions_are_not_evaluated_once_one_holds() -> None:
    g = branching(Branch("b", "x > 10"), Branch("c", "missing > 1"))
    assert routed(g, "a", {"x": 20}) == ["d", "b"]  # 'missing' is never read


def test_named_conditions_route() -> None:
    registry = ConditionRegistry()
    registry.add("big", lambda s: s["x"] > 10)
    g = branching(Branch("b", "big"), Branch("c"), conditions=registry)
    assert routed(g, "a", {"x": 11}) == ["d", "b"]
    assert routed(g, "a", {"x": 1}) == ["d", "c"]


def test_a_missing_key_names_the_key_and_the_edge() -> None:
    g = branching(Branch("b", "x > 10"), Branch("c", "score > 0.5"), Branch(END))
    with pytest.raises(
        ConditionError,
        match=r"edge a -> c: condition 'score > 0.5' reads state "
        r"key 'score', which is not set",
    ):
        routed(g, "a", {"x": 1})


@pytest.mark.parametrize(
    ("choice", "expected"),
    [("b", ["b"]), (None, [END]), (END, [END]), (["b", "c"], ["b", "c"]), ([], [])],
)
def test_router_results(choice: Any, expected: list[str]) -> None:
    g = Graph().add_node("a", noop).add_node("b", noop, final=True).add_node("c", noop, final=True)
    g.add_conditional_edges("a", lambda s: choice)
    assert routed(g, "a", {}) == expected


def test_the_router_sees_the_state() -> None:
    g = Graph().add_node("a", noop).add_node("b", noop, final=True)
    g.add_conditional_edges("a", lambda s: "b" if s["go"] else None, targets=["b", END])
    assert routed(g, "a", {"go": True}) == ["b"]
    assert routed(g, "a", {"go": False}) == [END]


def test_a_failing_router_is_a_condition_error_naming_the_node() -> None:
    g = Graph().add_node("a", noop).add_node("b", noop, final=True)
    g.add_conditional_edges("a", lambda s: s["missing"])
    with pytest.raises(ConditionError, match="router of node 'a'"):
        routed(g, "a", {})


# -- calling conventions ----------------------------------------------------------------------


def test_callable_takes_ctx() -> None:
    def one(state: Any) -> None: ...
    def two(state: Any, ctx: Any) -> None: ...
    def named_ctx_with_default(state: Any, ctx: Any = None) -> None: ...
    def keyword_only(state: Any, *, ctx: Any) -> None: ...
    def var_args(*args: Any) -> None: ...

    assert callable_takes_ctx(one) is False
    assert callable_takes_ctx(two) is True
    assert callable_takes_ctx(named_ctx_with_default) is True
    assert callable_takes_ctx(lambda s, i=1: None) is False  # the loop-variable idiom
    assert callable_takes_ctx(keyword_only) is False
    assert callable_takes_ctx(var_args) is False


def test_is_async_callable() -> None:
    async def coro(state: Any) -> None: ...

    class AsyncCallable:
        async def __call__(self, state: Any) -> None: ...

    class SyncCallable:
        def __call__(self, state: Any) -> None: ...

    assert is_async_callable(coro)
    assert is_async_callable(AsyncCallable())
    assert is_async_callable(functools.partial(coro))
    assert not is_async_callable(noop)
    assert not is_async_callable(SyncCallable())


def test_bind_callable_always_takes_state_and_ctx() -> None:
    def plain(state: dict[str, Any]) -> Any:
        return ("plain", state)

    def ctxful(state: dict[str, Any], ctx: Any) -> Any:
        return ("ctx", state, ctx)

    def with_args(state: dict[str, Any], *, k: int) -> Any:
        return ("args", k)

    def ctx_and_args(state: dict[str, Any], ctx: Any, k: int) -> Any:
        return ("both", ctx, k)

    assert bind_callable(plain, {}, False)({"a": 1}, "CTX") == ("plain", {"a": 1})
    assert bind_callable(ctxful, {}, True)({}, "CTX") == ("ctx", {}, "CTX")
    assert bind_callable(with_args, {"k": 3}, False)({}, "CTX") == ("args", 3)
    assert bind_callable(ctx_and_args, {"k": 4}, True)({}, "CTX") == ("both", "CTX", 4)


def test_bound_args_are_copied() -> None:
    args = {"k": 1}

    def fn(state: Any, *, k: int) -> int:
        return k

    call = bind_callable(fn, args, False)
    args["k"] = 2
    assert call({}, None) == 1


# -- ordering, drawing, invoking ----------------------------------------------------------------


def three() -> CompiledGraph:
    g = Graph("three").add_node("first", noop).add_node("second", noop).add_node("third", noop)
    g.add_edge("first", "second").add_edge("first", "third")
    g.add_edge("second", END).add_edge("third", END)
    return g.compile()


def test_order_is_declaration_order() -> None:
    compiled = three()
    assert compiled.order({"third", "first", "second"}) == ["first", "second", "third"]
    assert compiled.order(["third", "second"]) == ["second", "third"]


def test_mermaid_draws_every_node_and_edge() -> None:
    g = Graph("m").add_node("a b", noop).add_node("t", tool="noop").add_node("c", noop)
    g.add_node("r", noop).add_node("j", noop, final=True)
    g.add_conditional_edges("a b", [Branch("t", 'x == "y"'), Branch("c")])
    g.add_edge("t", "r").add_edge("c", "r")
    g.add_conditional_edges("r", lambda s: "j")
    g.add_edge(["t", "c"], "j")
    chart = g.compile().mermaid()
    lines = chart.splitlines()
    assert lines[0] == "flowchart TD"
    assert "    __start__ --> n_a_b" in lines
    assert '    n_a_b["a b"]' in lines
    assert '    n_t["t<br/><i>noop</i>"]' in lines
    assert "    n_a_b -. \"x == 'y'\" .-> n_t" in lines
    assert '    n_a_b -. "else" .-> n_c' in lines
    assert "    n_t --> n_r" in lines
    assert "    n_r -. router .-> __end__" in lines
    assert "    n_t ==> n_j" in lines and "    n_c ==> n_j" in lines


def test_invoke_runs_to_the_end() -> None:
    g = Graph().add_node("inc", tool="increment", args={"key": "n", "by": 2})
    g.add_conditional_edges("inc", [Branch("inc", "n < 10"), Branch(END)])
    result = g.compile().invoke({"n": 1})
    assert result.status is RunStatus.COMPLETED
    assert result.state == {"n": 11}
    assert result.step == 5


async def test_ainvoke_inside_a_running_loop() -> None:
    result = await three().ainvoke()
    assert result.status is RunStatus.COMPLETED
    assert result.step == 2
    assert result.run_id


def test_new_caches_forgets_cached_updates() -> None:
    calls: list[int] = []

    def count(state: Mapping[str, Any]) -> dict[str, Any]:
        calls.append(1)
        return {"out": state["x"] * 2}

    compiled = Graph().add_node("c", count, cache=True).add_edge("c", END).compile()
    assert compiled.invoke({"x": 2}).state["out"] == 4
    assert compiled.invoke({"x": 2}).state["out"] == 4
    assert len(calls) == 1
    compiled.new_caches()
    compiled.invoke({"x": 2})
    assert len(calls) == 2


def test_conditions_are_compiled_once_when_the_graph_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from graphrun.engine import conditions

    g = Graph().add_node("inc", tool="increment", args={"key": "n"})
    g.add_conditional_edges("inc", [Branch("inc", "n < 5"), Branch(END)])
    compiled = g.compile()
    compiles: list[str] = []
    original = conditions.compile_expression
    monkeypatch.setattr(
        conditions, "compile_expression", lambda s: compiles.append(s) or original(s)
    )
    assert compiled.invoke({"n": 0}).state == {"n": 5}
    assert compiles == []
