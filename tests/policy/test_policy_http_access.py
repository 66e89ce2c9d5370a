"""Access on every HTTP route of a sanctuary (SPEC P14), by route, caller and access mode, on one real server.

Each cell is one request: a route of ``meadow`` (``open``) or of ``cloister`` (``invite``), by one
kind of caller, answered as the table below says. The server is shared by the module (its state
is set up once: content, bans, role overrides, a revocation); no cell changes what another sees.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio
from harmony_client import Steward, acked
from harmony_kit import Harmony

from dreamloom.server.testing import serve_in_process

pytestmark = pytest.mark.asyncio(loop_scope="module")

OPEN, INVITE, OTHER = "meadow", "cloister", "elsewhere"
MODES = {"open": OPEN, "invite": INVITE}


@dataclass(frozen=True)
class Route:
    """One route of a sanctuary: what it needs of its caller (P14, P11) and what it answers when allowed."""

    method: str
    path: str
    need: str  # read | write | self | steward
    ok: int = 200
    body: Any = None

    @property
    def label(self) -> str:
        return f"{self.method} {self.path or '/'}"


ROUTES = [
    Route("GET", "", "read"),
    Route("GET", "/tapestry.json", "read"),
    Route("GET", "/tapestry.json?at=1", "read"),
    Route("GET", "/tapestry.svg", "read"),
    Route("GET", "/tapestry.svg?at=1", "read"),
    Route("GET", "/tapestry.png", "read"),
    Route("GET", "/tapestry.png?at=1&width=64", "read"),
    Route("GET", "/ops", "read"),
    Route("GET", "/checkpoints", "read"),
    Route("POST", "/checkpoints", "write", 201, {"name": "a bookmark"}),
    Route("GET", "/me", "self"),
    Route("GET", "/policy", "steward"),
    Route("PATCH", "/policy", "steward", body={"locked": False}),
    Route("GET", "/members", "steward"),
    Route("POST", "/moderation", "steward", body={"action": "unmute", "identity": "nobody-here"}),
    Route("GET", "/invites", "steward"),
    Route("POST", "/invites", "steward", 201, {"role": "viewer", "name": "Vi", "ttl": 60}),
    Route("DELETE", "/invites/{jti}", "steward"),  # a fresh invite of this sanctuary each time
    Route("GET", "/audit", "steward"),
]

OK, UNAUTHORIZED, EXPIRED = "ok", "401 unauthorized", "401 token_expired"
FORBIDDEN, BANNED = "403 forbidden", "403 banned"
NEEDS = ("read", "write", "self", "steward")
_OPEN_ALL = (OK, OK, OK, OK)
_READER, _WRITER = (OK, FORBIDDEN, OK, FORBIDDEN), (OK, OK, OK, FORBIDDEN)

#: What each caller gets in an open and in an invite sanctuary, by what the route needs (read, write, self, steward).
EXPECTED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "no token": ((OK, OK, UNAUTHORIZED, UNAUTHORIZED), (UNAUTHORIZED,) * 4),
    "guest token": (_WRITER, (UNAUTHORIZED,) * 4),
    "guest made steward": (_OPEN_ALL, (UNAUTHORIZED,) * 4),
    "viewer": (_READER, _READER),
    "dreamer": (_WRITER, _WRITER),
    "weaver": (_WRITER, _WRITER),
    "steward": (_OPEN_ALL, _OPEN_ALL),
    "steward of every sanctuary": (_OPEN_ALL, _OPEN_ALL),
    "dreamer made steward": (_OPEN_ALL, _OPEN_ALL),
    "dreamer made viewer": (_READER, _READER),
    "token of another sanctuary": ((FORBIDDEN,) * 4, (FORBIDDEN,) * 4),
    "revoked token": ((UNAUTHORIZED,) * 4, (UNAUTHORIZED,) * 4),
    "expired token": ((EXPIRED,) * 4, (EXPIRED,) * 4),
    "banned identity": ((BANNED, BANNED, OK, BANNED), (BANNED, BANNED, OK, BANNED)),
}
#: The role ``/me`` reports where the caller may call it.
ROLE_HERE = {
    "guest token": "dreamer",
    "guest made steward": "steward",
    "viewer": "viewer",
    "dreamer": "dreamer",
    "weaver": "weaver",
    "steward": "steward",
    "steward of every sanctuary": "steward",
    "dreamer made steward": "steward",
    "dreamer made viewer": "viewer",
    "banned identity": "dreamer",
}


@dataclass
class World:
    """The shared server: its helpers, each caller's token per sanctuary, and the operator."""

    harmony: Harmony
    tokens: dict[tuple[str, str], str | None]
    operator: str

    def as_operator(self, sanctuary: str) -> Steward:
        return self.harmony.steward(sanctuary, token=self.operator)


def _tokens(h: Harmony, sanctuary: str, guest: str, guest_steward: str) -> dict[str, str | None]:
    past = time.time() - 100
    return {
        "no token": None,
        "guest token": guest,
        "guest made steward": guest_steward,
        "viewer": h.token("viewer", sanctuary),
        "dreamer": h.token("dreamer", sanctuary),
        "weaver": h.token("weaver", sanctuary),
        "steward": h.token("steward", sanctuary),
        "steward of every sanctuary": h.token("steward", "*", sub="steward-all"),
        "dreamer made steward": h.token("dreamer", sanctuary, sub="dreamer-promoted"),
        "dreamer made viewer": h.token("dreamer", sanctuary, sub="dreamer-demoted"),
        "token of another sanctuary": h.token("steward", OTHER),
        "revoked token": h.token("dreamer", sanctuary, sub="dreamer-revoked"),
        "expired token": h.token("dreamer", sanctuary, ttl=1, now=past),
        "banned identity": h.token("dreamer", sanctuary, sub="dreamer-banned"),
    }


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    data = tmp_path_factory.mktemp("http-access")
    async with serve_in_process(data_dir=data) as server, aiohttp.ClientSession() as http:
        h = Harmony(server, http, data)
        operator = h.token("steward", "*", sub="operator", name="Operator")
        authority = h.stewardship.authority
        guest, _ = authority.issue_guest("Wanderer")
        guest_steward, guest_claims = authority.issue_guest("Promoted wanderer")
        tokens: dict[tuple[str, str], str | None] = {}
        for sanctuary in (OPEN, INVITE, OTHER):
            # One op in each, so ?at=1 names a real state.
            writer = await h.connect(token=operator, sanctuary=sanctuary)
            acked(await writer.write(writer.symbol(f"seed-{sanctuary}")))
            await writer.close()
            steward = h.steward(sanctuary, token=operator)
            if sanctuary != OPEN:
                await steward.policy(access="invite")
            await steward.act("ban", identity="dreamer-banned")
            await steward.act("role", identity="dreamer-promoted", role="steward")
            await steward.act("role", identity="dreamer-demoted", role="viewer")
            await steward.act("role", identity=guest_claims.sub, role="steward")
            for caller, token in _tokens(h, sanctuary, guest, guest_steward).items():
                tokens[(caller, sanctuary)] = token
            revoked = tokens[("revoked token", sanctuary)]
            assert revoked is not None
            await steward.act("revoke", jti=authority.verify(revoked).jti)
        yield World(h, tokens, operator)


async def _request(
    world: World, method: str, sanctuary: str, path: str, token: str | None, body: Any = None
) -> tuple[int, str | None, Any]:
    """One call: (status, error code or None, parsed body or raw bytes)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"{world.harmony.server.url}/api/sanctuaries{'/' + sanctuary if sanctuary else ''}{path}"
    async with world.harmony.http.request(method, url, json=body, headers=headers) as resp:
        raw = await resp.read()
        if resp.status < 400:
            return resp.status, None, orjson.loads(raw) if resp.content_type == "application/json" else raw
        assert resp.content_type == "application/json"
        error = orjson.loads(raw)
        assert set(error) == {"error"}, error
        assert set(error["error"]) == {"code", "message"}, error
        assert error["error"]["message"], error
        return resp.status, error["error"]["code"], error


def _expected(caller: str, mode: str, route: Route) -> tuple[int, str | None]:
    outcome = EXPECTED[caller][0 if mode == "open" else 1][NEEDS.index(route.need)]
    if outcome == OK:
        return route.ok, None
    status, code = outcome.split()
    return int(status), code


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("caller", list(EXPECTED))
@pytest.mark.parametrize("route", ROUTES, ids=[r.label for r in ROUTES])
async def test_P14_every_route_applies_the_access_rule(world: World, route: Route, caller: str, mode: str) -> None:
    sanctuary = MODES[mode]
    token = world.tokens[(caller, sanctuary)]
    path = route.path
    if "{jti}" in path:
        invite = await world.as_operator(sanctuary).call("POST", "/invites", {"role": "viewer", "name": "x"}, 201)
        path = path.replace("{jti}", invite["jti"])
    body = {"name": f"{caller} in {mode}"} if route.need == "write" else route.body
    status, code, answer = await _request(world, route.method, sanctuary, path, token, body)
    assert (status, code) == _expected(caller, mode, route)
    if route.path == "/me" and code is None:
        assert (answer["role"], answer["banned"]) == (ROLE_HERE[caller], caller == "banned identity")
    if route.need == "write" and code is not None:
        # A refused write leaves nothing behind.
        listed = await world.as_operator(sanctuary).call("GET", "/checkpoints")
        assert body["name"] not in [c["name"] for c in listed]


#: Besides meadow (open, shown to all who get a listing), what each caller's listing shows.
LISTED: dict[str, list[str] | str] = {
    "no token": [],
    "guest token": [],
    "guest made steward": [],
    "viewer": [INVITE],
    "dreamer": [INVITE],
    "weaver": [INVITE],
    "steward": [INVITE],
    "steward of every sanctuary": [INVITE, OTHER],
    "dreamer made steward": [INVITE],
    "dreamer made viewer": [INVITE],
    "token of another sanctuary": [OTHER],
    "revoked token": UNAUTHORIZED,
    "expired token": EXPIRED,
    "banned identity": [],
}


@pytest.mark.parametrize("caller", list(LISTED))
async def test_P14_the_list_shows_an_invite_sanctuary_only_to_who_may_enter(world: World, caller: str) -> None:
    status, code, answer = await _request(world, "GET", "", "", world.tokens[(caller, INVITE)])
    want = LISTED[caller]
    if isinstance(want, str):
        assert f"{status} {code}" == want
        return
    assert status == 200
    assert sorted(s["id"] for s in answer) == sorted([OPEN, *want])


@pytest.mark.parametrize("path", ["/tapestry.svg", "/tapestry.png"])
async def test_P14_a_revalidation_is_checked_like_a_read(world: World, path: str) -> None:
    member = world.tokens[("dreamer", INVITE)]
    status, _, _ = await _request(world, "GET", INVITE, path, member)
    assert status == 200
    headers = {"Authorization": f"Bearer {member}"}
    url = f"{world.harmony.server.url}/api/sanctuaries/{INVITE}{path}"
    async with world.harmony.http.get(url, headers=headers) as resp:
        etag = resp.headers["ETag"]
    async with world.harmony.http.get(url, headers={"If-None-Match": etag}) as resp:
        assert resp.status == 401  # never a 304 that confirms what the tapestry is
    async with world.harmony.http.get(url, headers={**headers, "If-None-Match": etag}) as resp:
        assert resp.status == 304


async def test_P14_unknown_sanctuaries_are_not_found_for_everyone(world: World) -> None:
    for token in (None, world.tokens[("dreamer", INVITE)], world.operator):
        status, code, _ = await _request(world, "GET", "nowhere", "/ops", token)
        assert (status, code) == (404, "not_found")


async def test_P14_the_table_covers_every_route_of_a_sanctuary(world: World) -> None:
    """A route added later without a row here fails this test, so none escapes the access rule unchecked."""
    app = world.harmony.server.app
    assert app is not None
    served = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if path.startswith("/api/sanctuaries/{") and route.method != "HEAD":
            served.add((route.method, path.split("}", 1)[1]))
    tested = {(r.method, r.path.split("?")[0]) for r in ROUTES}
    assert served == tested
