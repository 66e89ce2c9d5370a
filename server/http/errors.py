"""One error type for HTTP answers, one JSON body reader, one sanctuary-id check.

Every refusal under ``/api/`` (and before a WebSocket upgrade) is JSON:
``{"error": {"code": ..., "message": ...}}`` with the status of its code.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from dreamloom.protocol.errors import DreamloomError
from dreamloom.protocol.validate import ID_RE

from ..services import SERVICES
from ..stewardship import StewardshipError

log = logging.getLogger("dreamloom.http")

#: The HTTP status of each API error code.
STATUS = {
    "bad_request": 400,
    "bad_message": 400,
    "unauthorized": 401,
    "token_expired": 401,
    "forbidden": 403,
    "banned": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "too_large": 413,
    "render_unavailable": 503,
    "shutting_down": 503,
    "internal": 500,
}
_CODE_OF_STATUS = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 409: "conflict", 413: "too_large"}
MAX_BODY = 16 * 1024


class HttpError(DreamloomError):
    """An HTTP request refused: answered as JSON with the status of ``code``."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = str(code)
        self.message = message
        self.status = status if status is not None else STATUS.get(self.code, 400)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON answer (orjson)."""
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json", headers=headers)


def error_response(status: int, code: str, message: str) -> web.Response:
    """An error in the API's JSON shape."""
    return json_response({"error": {"code": str(code), "message": message}}, status)


@web.middleware
async def json_errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Any:
    """Answer our errors as JSON everywhere, and every other error under ``/api/`` too."""
    try:
        return await handler(request)
    except HttpError as exc:
        return error_response(exc.status, exc.code, exc.message)
    except StewardshipError as exc:
        return error_response(STATUS.get(exc.code, 400), exc.code, exc.message)
    except web.HTTPException as exc:
        if not request.path.startswith("/api/") or exc.status < 400:
            raise
        return error_response(exc.status, _CODE_OF_STATUS.get(exc.status, "bad_request"), exc.reason)
    except Exception:
        if not request.path.startswith("/api/"):
            raise
        log.exception("API request %s %s failed", request.method, request.path)
        return error_response(500, "internal", "internal server error")


async def read_json_body(request: web.Request, max_bytes: int = MAX_BODY) -> dict[str, Any]:
    """The request's JSON object body (empty: ``{}``), at most ``max_bytes``; else 400 or 413."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise HttpError("too_large", f"the body may hold at most {max_bytes} bytes")
    raw = await request.content.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise HttpError("too_large", f"the body may hold at most {max_bytes} bytes")
    try:
        data = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        raise HttpError("bad_request", "the body must be JSON") from None
    if not isinstance(data, dict):
        raise HttpError("bad_request", "the body must be a JSON object")
    return data


def valid_sanctuary_id(name: str, max_len: int) -> bool:
    """Whether ``name`` may name a sanctuary (W8 id rules)."""
    return 0 < len(name) <= max_len and ID_RE.match(name) is not None


def sanctuary_id(request: web.Request, key: str = "sanctuary") -> str:
    """The sanctuary id of the route (``/.../{sanctuary}``), checked; else 400."""
    name = request.match_info[key]
    if not valid_sanctuary_id(name, request.app[SERVICES].config.limits.max_id_len):
        raise HttpError("bad_request", "invalid sanctuary id")
    return name
