"""HTTP errors: every bad request gets a 4xx whose body names the problem."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from graphrun.engine.errors import ConditionError, Problem, ProblemsError, StateError
from graphrun.logs import get_logger

log = get_logger(__name__)


class ApiError(Exception):
    """An error with an HTTP status and a message for the client."""

    status_code = 400

    def __init__(self, detail: str, problems: Sequence[Problem] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.problems = list(problems) if problems is not None else None


class NotFoundError(ApiError):
    status_code = 404


class ConflictError(ApiError):
    status_code = 409


class InvalidInputError(ApiError):
    status_code = 422


class PayloadTooLargeError(ApiError):
    status_code = 413


class UnavailableError(ApiError):
    status_code = 503


def _body(detail: str, problems: Sequence[Problem] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"detail": detail}
    if problems is not None:
        body["problems"] = [{"location": p.location, "message": p.message} for p in problems]
    return body


def _loc(parts: Sequence[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(_body(exc.detail, exc.problems), status_code=exc.status_code)

    @app.exception_handler(ProblemsError)
    async def problems_error(_: Request, exc: ProblemsError) -> JSONResponse:
        title = str(exc).split("\n", 1)[0]
        return JSONResponse(_body(title, exc.problems), status_code=422)

    @app.exception_handler(StateError)
    async def state_error(_: Request, exc: StateError) -> JSONResponse:
        return JSONResponse(_body(str(exc)), status_code=422)

    @app.exception_handler(ConditionError)
    async def condition_error(_: Request, exc: ConditionError) -> JSONResponse:
        return JSONResponse(_body(str(exc)), status_code=422)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            Problem(_loc(err.get("loc", ())), str(err.get("msg", "invalid")))
            for err in exc.errors()
        ]
        return JSONResponse(_body("invalid request", problems), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(_body(str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", path=request.url.path)
        return JSONResponse(_body("internal error; see the server log"), status_code=500)
