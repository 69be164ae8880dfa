"""Liveness."""

from __future__ import annotations

from fastapi import APIRouter

from graphrun import __version__
from graphrun.api.deps import ServicesDep
from graphrun.api.models import Health

router = APIRouter(tags=["health"])


@router.get("/", response_model=Health, summary="Service status")
@router.get("/health", response_model=Health, summary="Service status")
async def health(services: ServicesDep) -> Health:
    return Health(
        status="ok",
        version=__version__,
        database=services.settings.database_kind,
        runs_active=services.manager.active,
        runs_queued=services.manager.queued,
    )
