"""Creating sanctuaries (SPEC W21) and which ids may name one (W8a)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from server_kit import StartServer, Wire
from yarl import URL

from dreamloom.protocol import CloseCode, ErrorCode
from dreamloom.server.auth import ALL_SANCTUARIES
from dreamloom.server.naming import sanctuary_id_problem
from dreamloom.server.testing import InProcessServer


async def _create(server: InProcessServer, body: dict[str, Any], token: str | None = None) -> aiohttp.ClientResponse:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http:
        resp = await http.post(f"{server.url}/api/sanctuaries", json=body, headers=headers)
        await resp.read()
        return resp


def _operator(server: InProcessServer) -> str:
    token, _ = server.services.stewardship.authority.issue(
        role="steward", sanctuary=ALL_SANCTUARIES, name="Steward", ttl=600.0, sub="steward"
    )
    return token


async def test_W21_one_client_creates_sanctuaries_per_hour_up_to_its_budget(
    start_server: StartServer, wire: Wire
) -> None:
    server = await start_server(sanctuaries_per_hour=2)
    assert (await _create(server, {"id": "one"})).status == 201
    ws = await wire.join(server.ws_url("two"))  # joining a new id creates it, and counts
    assert ws.welcome is not None
    over = await _create(server, {"id": "three"})
    assert over.status == 429
    assert int(over.headers["Retry-After"]) > 0
    error = (await over.json())["error"]
    assert error["code"] == "too_many_sanctuaries"
    assert "sanctuaries_per_hour" in error["message"]
    # By WebSocket too: refused with a reason naming the limit, and nothing is created.
    late = await wire.open(server.ws_url("four"))
    await late.send_wire({"type": "hello", "v": 1, "name": "late", "replica": late.replica, "seq": None})
    assert await late.wait_closed() == CloseCode.RATE_LIMITED
    assert [e.code for e in late.errors] == [ErrorCode.RATE_LIMITED]
    assert "sanctuaries_per_hour" in late.errors[0].reason
    assert await server.services.store.get_sanctuary("four") is None
    # What exists is still open to everyone; the operator is not rate limited.
    assert (await wire.join(server.ws_url("one"))).welcome is not None
    assert (await _create(server, {"id": "five"}, _operator(server))).status == 201


async def test_W21_the_server_holds_at_most_max_sanctuaries_even_for_the_operator(start_server: StartServer) -> None:
    server = await start_server(max_sanctuaries=2)
    token = _operator(server)
    assert (await _create(server, {"title": "A"}, token)).status == 201
    assert (await _create(server, {"title": "B"})).status == 201
    over = await _create(server, {"title": "C"}, token)
    assert over.status == 503
    assert (await over.json())["error"]["code"] == "sanctuary_limit"
    assert len(await server.services.store.list_sanctuaries()) == 2


@pytest.mark.parametrize("name", ["..", ".", "__proto__", "CON", "con", "nul.txt", "LPT1", "a.", "a..b", ".hidden"])
async def test_W8a_unsafe_ids_are_refused_everywhere(server: InProcessServer, name: str) -> None:
    created = await _create(server, {"id": name})
    assert created.status == 400
    assert (await created.json())["error"]["code"] == "bad_request"
    quoted = name.replace(".", "%2E")
    async with aiohttp.ClientSession() as http:
        for path in (f"/api/sanctuaries/{quoted}", f"/api/sanctuaries/{quoted}/tapestry.json", f"/ws/{quoted}"):
            async with http.get(URL(server.url + path, encoded=True)) as resp:
                assert resp.status in (400, 404), path  # dot segments may be normalised away: never served
                if resp.status == 400:
                    assert (await resp.json())["error"]["code"] == "bad_request"
    assert await server.services.store.get_sanctuary(name) is None


def test_W8a_the_safe_pattern_at_its_limits() -> None:
    assert sanctuary_id_problem("a" * 64, 64) is None
    assert sanctuary_id_problem("a" * 65, 64) is not None
    assert sanctuary_id_problem("a", 64) is None
    assert sanctuary_id_problem("Dream_Lab.1", 64) is None
    assert sanctuary_id_problem("console", 64) is None  # only the reserved word itself
    assert sanctuary_id_problem("con.garden", 64) is not None
    assert sanctuary_id_problem("", 64) is not None
