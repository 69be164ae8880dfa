"""The registered tools and named conditions."""

from __future__ import annotations

from fastapi import APIRouter

from graphrun.api.models import ConditionInfo, ToolInfo, ToolList
from graphrun.engine.conditions import default_conditions
from graphrun.engine.tools import default_registry

router = APIRouter(tags=["tools"])


@router.get("/tools", response_model=ToolList, summary="Registered tools and named conditions")
async def list_tools() -> ToolList:
    return ToolList(
        tools=[
            ToolInfo(name=t.name, description=t.description, signature=t.signature)
            for t in default_registry
        ],
        conditions=[
            ConditionInfo(name=c.source, description=c.description) for c in default_conditions
        ],
    )
