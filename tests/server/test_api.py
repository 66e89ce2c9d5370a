"""The HTTP API against a real in-process server, with content woven over real WebSockets."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

from dreamloom.protocol import Ack, Hello, MsgpackCodec, Op, Ops, Stamp, Tapestry, Welcome, ops
from dreamloom.server.testing import InProcessServer, serve_in_process

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[InProcessServer]:
    async with serve_in_process(data_dir=tmp_path) as srv:
        yield srv


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


class Dreamer:
    """A minimal WebSocket client built from the protocol codec: hello, send ops, wait for their acks."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, replica: str) -> None:
        self.ws = ws
        self.codec = MsgpackCodec()
        self.replica = replica
        self.counter = 0
        self.seqs: list[int] = []

    def stamp(self) -> Stamp:
        self.counter += 1
        return Stamp(self.counter, self.replica)

    async def receive(self) -> Any:
        frame = await self.ws.receive(timeout=20)
        if frame.type != aiohttp.WSMsgType.BINARY:
            raise AssertionError(f"connection ended: {frame.type.name} {frame.data} {frame.extra}")
        return self.codec.decode_server(frame.data)

    async def hello(self) -> Welcome:
        await self.ws.send_bytes(self.codec.encode(Hello(name="tester", replica=self.replica)))
        for _ in range(20):
            msg = await self.receive()
            if isinstance(msg, Welcome):
                return msg
        raise AssertionError("no welcome")

    async def send(self, batch: Sequence[Op]) -> list[int]:
        """Send one batch; return the seqs the server acknowledged, in op order."""
        await self.ws.send_bytes(self.codec.encode(Ops(tuple(batch))))
        wanted = {op.stamp[0] for op in batch}
        got: dict[int, int] = {}
        for _ in range(200):
            msg = await self.receive()
            if isinstance(msg, Ack):
                got.update(dict(msg.acks))
                if wanted <= got.keys():
                    seqs = [got[op.stamp[0]] for op in batch]
                    self.seqs.extend(seqs)
                    return seqs
            assert msg.type not in ("reject", "error"), msg
        raise AssertionError("ops were not acknowledged")


async def connect(http: aiohttp.ClientSession, server: InProcessServer, name: str, replica: str = "r1") -> Dreamer:
    ws = await http.ws_connect(server.ws_url(name), protocols=("dreamloom.v1.msgpack",))
    dreamer = Dreamer(ws, replica)
    await dreamer.hello()
    return dreamer


def symbol(d: Dreamer, fid: str, sym: str, x: float, z: str, **kw: Any) -> Op:
    return ops.create(fid, d.stamp(), kind="symbol", geom={"sym": sym, "size": 40}, x=x, y=0, z=z, **kw)


async def get_json(http: aiohttp.ClientSession, url: str, status: int = 200) -> Any:
    async with http.get(url) as resp:
        assert resp.status == status, await resp.text()
        assert resp.content_type == "application/json"
        return await resp.json()


async def post_json(http: aiohttp.ClientSession, url: str, body: Any, status: int) -> Any:
    async with http.post(url, json=body) as resp:
        assert resp.status == status, await resp.text()
        assert resp.content_type == "application/json"
        return await resp.json()


def error_code(body: Any) -> str:
    assert set(body) == {"error"}
    assert isinstance(body["error"]["message"], str)
    return str(body["error"]["code"])


async def weave_garden(http: aiohttp.ClientSession, server: InProcessServer) -> tuple[Dreamer, list[Op]]:
    """Three batches in sanctuary ``garden``: 3 symbols, then a text and a delete, then a move."""
    d = await connect(http, server, "garden")
    first = [
        symbol(d, "moon1", "moon", 0, "V1"),
        symbol(d, "owl1", "owl", 100, "V2", inspired_by=["moon1"]),
        symbol(d, "key1", "key", 200, "V3"),
    ]
    second = [
        ops.create("cap1", d.stamp(), kind="text", geom={"text": "<dream> & 'night'", "size": 18}, x=0, y=80, z="V4"),
        ops.delete("key1", d.stamp()),
    ]
    third = [ops.set_fields("moon1", d.stamp(), x=-50, y=-50)]
    for batch in (first, second, third):
        await d.send(batch)
    return d, first + second + third


async def add_ai_fragment(server: InProcessServer, name: str, fid: str) -> None:
    """A weaver's fragment, applied by the server itself (the path built-in weavers use)."""
    sanctuary = await server.hub.sanctuary(name)
    op = ops.create(
        fid, Stamp(10_000, "weaver-1"), kind="symbol", geom={"sym": "star", "size": 30}, x=300, y=0, z="W",
        author="weaver-1", origin="ai",
    )  # fmt: skip
    await sanctuary.call(lambda: sanctuary.apply_local([op], "weaver-1"))


# -- health, metrics, symbols ----------------------------------------------------------------
async def test_healthz(server: InProcessServer, http: aiohttp.ClientSession) -> None:
    body = await get_json(http, server.url + "/healthz")
    assert body["status"] == "ok"
    assert body["sanctuaries_loaded"] == 0
    assert body["version"]


async def test_metrics_are_prometheus_text(server: InProcessServer, http: aiohttp.ClientSession) -> None:
    d = await connect(http, server, "garden")
    await d.send([symbol(d, "a", "sun", 0, "V")])
    async with http.get(server.url + "/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    assert "dreamloom_ops_accepted_total 1.0" in text
    assert "dreamloom_connections 1.0" in text


async def test_symbols_catalogue_is_served_and_cacheable(server: InProcessServer, http: aiohttp.ClientSession) -> None:
    async with http.get(server.url + "/api/symbols") as resp:
        assert resp.status == 200
        etag = resp.headers["ETag"]
        assert "max-age" in resp.headers["Cache-Control"]
        body = await resp.json()
    assert body["box"] == 100
    names = [s["name"] for s in body["symbols"]]
    assert len(names) >= 64
    assert "moon" in names
    assert set(body["symbols"][0]) == {"name", "label", "path", "fill", "meaning", "keywords"}
    async with http.get(server.url + "/api/symbols", headers={"If-None-Match": etag}) as resp:
        assert resp.status == 304


# -- sanctuaries -----------------------------------------------------------------------------
async def test_create_by_title_makes_unique_slugs(server: InProcessServer, http: aiohttp.ClientSession) -> None:
    url = server.url + "/api/sanctuaries"
    a = await post_json(http, url, {"title": "  Night Garden of Owls! "}, 201)
    b = await post_json(http, url, {"title": "Night garden of owls"}, 201)
    c = await post_json(http, url, {"title": "Ñoño ☾ café"}, 201)
    d = await post_json(http, url, {"title": "☾☾☾"}, 201)
    assert (a["id"], a["title"]) == ("night-garden-of-owls", "Night Garden of Owls!")
    assert b["id"] == "night-garden-of-owls-2"
    assert c["id"] == "nono-cafe"
    assert d["id"] == "sanctuary"
    assert a["fragments"] == a["participants"] == a["last_seq"] == 0
    listing = await get_json(http, url)
    assert [s["id"] for s in listing] == [a["id"], b["id"], c["id"], d["id"]]


async def test_create_by_id(server: InProcessServer, http: aiohttp.ClientSession) -> None:
    url = server.url + "/api/sanctuaries"
    async with http.post(url, json={"id": "Dream_Lab.1", "title": "Lab"}) as resp:
        assert resp.status == 201
        assert resp.headers["Location"] == "/api/sanctuaries/Dream_Lab.1"
        assert (await resp.json())["title"] == "Lab"
    assert error_code(await post_json(http, url, {"id": "Dream_Lab.1"}, 409)) == "conflict"
    only_id = await post_json(http, url, {"id": "solo"}, 201)
    assert only_id["title"] == "solo"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"title": ""},
        {"title": "   "},
        {"title": 42},
        {"title": "x" * 121},
        {"title": "bell\x07"},
        {"id": "has space"},
        {"id": "x" * 65},
        {"id": ["a"]},
        {"title": "ok", "colour": "red"},
        [1, 2],
    ],
)
async def test_create_refuses_bad_bodies(server: InProcessServer, http: aiohttp.ClientSession, body: Any) -> None:
    resp_body = await post_json(http, server.url + "/api/sanctuaries", body, 400)
    assert error_code(resp_body) == "bad_request"


async def test_create_refuses_non_json_and_huge_bodies(server: InProcessServer, http: aiohttp.ClientSession) -> None:
    url = server.url + "/api/sanctuaries"
    async with http.post(url, data=b"{not json") as resp:
        assert resp.status == 400
        assert error_code(await resp.json()) == "bad_request"
    async with http.post(url, data=b'{"title": "' + b"x" * 20_000 + b'"}') as resp:
        assert resp.status == 413
        assert error_code(await resp.json()) == "too_large"


async def test_listing_and_detail_count_fragments_by_origin(
    server: InProcessServer, http: aiohttp.ClientSession
) -> None:
    d, _ = await weave_garden(http, server)
    await add_ai_fragment(server, "garden", "star1")
    listing = await get_json(http, server.url + "/api/sanctuaries")
    assert listing == [
        {
            "id": "garden",
            "title": "garden",
            "created": listing[0]["created"],
            "participants": 1,
            "fragments": 4,
            "organic": 3,
            "ai": 1,
            "last_seq": 7,
        }
    ]
    detail = await get_json(http, server.url + "/api/sanctuaries/garden")
    assert detail["fragments"] == {"organic": 3, "ai": 1, "deleted": 1, "total": 5}
    assert detail["last_seq"] == 7
    assert detail["participants"] == 1
    contributors = detail["contributors"]
    assert [(c["origin"], c["fragments"]) for c in contributors] == [("organic", 3), ("ai", 1)]
    assert contributors[0]["author"].startswith("guest-")
    assert contributors[1]["author"] == "weaver-1"
    await d.ws.close()


async def test_listing_counts_an_unloaded_sanctuary_from_the_store(tmp_path: Path) -> None:
    async with serve_in_process(data_dir=tmp_path) as server, aiohttp.ClientSession() as http:
        d, _ = await weave_garden(http, server)
        await d.ws.close()
    async with serve_in_process(data_dir=tmp_path) as server, aiohttp.ClientSession() as http:
        assert server.hub.loaded("garden") is None
        listing = await get_json(http, server.url + "/api/sanctuaries")
        assert [(s["id"], s["fragments"], s["last_seq"], s["participants"]) for s in listing] == [("garden", 3, 6, 0)]
        assert server.hub.loaded("garden") is None  # reading does not load the sanctuary


async def test_unknown_and_invalid_sanctuaries(server: InProcessServer, http: aiohttp.ClientSession) -> None:
    for suffix in ("", "/tapestry.json", "/tapestry.svg", "/tapestry.png", "/ops", "/checkpoints"):
        body = await get_json(http, server.url + "/api/sanctuaries/nowhere" + suffix, 404)
        assert error_code(body) == "not_found"
        body = await get_json(http, server.url + "/api/sanctuaries/bad%20id!" + suffix, 400)
        assert error_code(body) == "bad_request"
    assert error_code(await post_json(http, server.url + "/api/sanctuaries/nowhere/checkpoints", {"name": "x"}, 404))
    assert await server.hub.store.get_sanctuary("nowhere") is None  # asking never creates


async def test_unknown_api_paths_and_methods_answer_json(server: InProcessServer, http: aiohttp.ClientSession) -> None:
    assert error_code(await get_json(http, server.url + "/api/nothing-here", 404)) == "not_found"
    async with http.delete(server.url + "/api/sanctuaries") as resp:
        assert resp.status == 405
        assert error_code(await resp.json()) == "method_not_allowed"


# -- the tapestry, now and at a seq ----------------------------------------------------------
async def test_tapestry_json_now_and_at_seq(server: InProcessServer, http: aiohttp.ClientSession) -> None:
    d, sent = await weave_garden(http, server)
    base = server.url + "/api/sanctuaries/garden/tapestry.json"
    now = await get_json(http, base)
    assert now["seq"] == 6
    replayed = Tapestry.from_data(now["snapshot"])
    assert replayed.digest() == now["digest"]
    assert {f.id for f in replayed.fragments()} == {"moon1", "owl1", "cap1"}
    at3 = await get_json(http, base + "?at=3")
    assert at3["seq"] == 3
    assert {f.id for f in Tapestry.from_data(at3["snapshot"]).fragments()} == {"moon1", "owl1", "key1"}
    at0 = await get_json(http, base + "?at=0")
    assert (at0["seq"], at0["snapshot"]) == (0, [])
    past_the_end = await get_json(http, base + "?at=999")
    assert (past_the_end["seq"], past_the_end["digest"]) == (6, now["digest"])
    # the server stamped provenance: the snapshot is not byte-equal to our own ops, but the live ones match
    assert Tapestry.from_data(now["snapshot"]).get("moon1").x == -50  # type: ignore[union-attr]
    assert len(sent) == 6
    for bad in ("-1", "abc", "1.5", "1e3", "9" * 20):
        assert error_code(await get_json(http, f"{base}?at={bad}", 400)) == "bad_request"
    await d.ws.close()


async def test_W20_tapestry_json_now_is_the_live_state_gzipped_with_an_etag_and_304(
    server: InProcessServer, http: aiohttp.ClientSession
) -> None:
    d, _ = await weave_garden(http, server)
    base = server.url + "/api/sanctuaries/garden/tapestry.json"
    live = (await server.hub.sanctuary("garden")).tapestry
    async with http.get(base, headers={"Accept-Encoding": "gzip"}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Encoding"] == "gzip"
        assert resp.headers["Vary"] == "Accept-Encoding"
        tag = resp.headers["ETag"]
        body = await resp.json()  # aiohttp inflates it
    assert (body["seq"], body["digest"]) == (6, live.digest())
    assert body["snapshot"] == live.to_data()
    async with http.get(base, headers={"Accept-Encoding": "identity"}) as resp:
        assert "Content-Encoding" not in resp.headers
        assert await resp.json() == body
    async with http.get(base, headers={"If-None-Match": tag}) as resp:
        assert resp.status == 304
    await d.send([ops.delete("owl1", d.stamp())])
    async with http.get(base, headers={"If-None-Match": tag}) as resp:
        assert resp.status == 200  # a new seq, a new tag
        assert resp.headers["ETag"] != tag
        after = await resp.json()
    assert after["seq"] == 7
    assert after["digest"] == (await server.hub.sanctuary("garden")).tapestry.digest()
    await d.ws.close()


async def test_tapestry_svg_time_travel_and_threads(server: InProcessServer, http: aiohttp.ClientSession) -> None:
    await weave_garden(http, server)
    base = server.url + "/api/sanctuaries/garden/tapestry.svg"

    async def drawn(query: str) -> tuple[ET.Element, list[str]]:
        async with http.get(base + query) as resp:
            assert resp.status == 200
            assert resp.content_type == "image/svg+xml"
            root = ET.fromstring(await resp.text())
        return root, [g.attrib["data-id"] for g in root.iter(f"{SVG}g") if "data-id" in g.attrib]

    _, now = await drawn("")
    assert now == ["moon1", "owl1", "cap1"]
    _, at3 = await drawn("?at=3")
    assert at3 == ["moon1", "owl1", "key1"]
    _, at1 = await drawn("?at=1")
    assert at1 == ["moon1"]
    root, _ = await drawn("?threads=1")
    threads = root.find(f".//{SVG}g[@class='threads']")
    assert threads is not None
    assert [(p.attrib["data-from"], p.attrib["data-to"]) for p in threads] == [("moon1", "owl1")]
    assert error_code(await get_json(http, base + "?threads=maybe", 400)) == "bad_request"


async def test_render_etag_revalidates_until_the_tapestry_changes(
    server: InProcessServer, http: aiohttp.ClientSession
) -> None:
    d, _ = await weave_garden(http, server)
    url = server.url + "/api/sanctuaries/garden/tapestry.svg"
    async with http.get(url) as resp:
        etag = resp.headers["ETag"]
        assert resp.headers["X-Dreamloom-Seq"] == "6"
    async with http.get(url, headers={"If-None-Match": etag}) as resp:
        assert resp.status == 304
    await d.send([symbol(d, "sun1", "sun", 400, "V9")])
    async with http.get(url, headers={"If-None-Match": etag}) as resp:
        assert resp.status == 200
        assert resp.headers["ETag"] != etag
    async with http.get(url + "?at=3", headers={"If-None-Match": etag}) as resp:
        assert resp.status == 200  # another seq, another tag


async def test_tapestry_png(server: InProcessServer, http: aiohttp.ClientSession) -> None:
    await weave_garden(http, server)
    base = server.url + "/api/sanctuaries/garden/tapestry.png"
    async with http.get(base + "?width=300") as resp:
        assert resp.status == 200
        assert resp.content_type == "image/png"
        img = Image.open(io.BytesIO(await resp.read())).convert("RGB")
    assert img.width == 300
    colours = img.getcolors(maxcolors=1 << 18)
    assert colours is not None
    background = max(colours)[1]
    assert sum(n for n, c in colours if c != background) > 500  # the glyphs and the caption are there
    async with http.get(base + "?at=1") as resp:
        assert resp.status == 200
        only_moon = Image.open(io.BytesIO(await resp.read()))
    assert only_moon.width < img.width  # at seq 1 the content is one 40-unit moon, rendered 1:1
    for bad in ("0", "4097", "-3", "wide"):
        assert error_code(await get_json(http, f"{base}?width={bad}", 400)) == "bad_request"


async def test_empty_sanctuary_renders(server: InProcessServer, http: aiohttp.ClientSession) -> None:
    await post_json(http, server.url + "/api/sanctuaries", {"id": "blank"}, 201)
    async with http.get(server.url + "/api/sanctuaries/blank/tapestry.svg") as resp:
        assert resp.status == 200
        ET.fromstring(await resp.text())
    async with http.get(server.url + "/api/sanctuaries/blank/tapestry.png") as resp:
        assert resp.status == 200
        assert Image.open(io.BytesIO(await resp.read())).size == (100, 100)
    assert (await get_json(http, server.url + "/api/sanctuaries/blank/tapestry.json"))["snapshot"] == []


# -- history ------------------------------------------------------------------------------------
async def test_ops_history_pages(server: InProcessServer, http: aiohttp.ClientSession) -> None:
    d = await connect(http, server, "history")
    sent = [symbol(d, f"s{i}", "star", i * 10, f"V{i:02d}V") for i in range(25)]
    await d.send(sent[:12])
    await d.send(sent[12:])
    base = server.url + "/api/sanctuaries/history/ops"
    seen: list[dict[str, Any]] = []
    since: int | None = 0
    pages = 0
    while since is not None and pages < 10:
        page = await get_json(http, f"{base}?since={since}&limit=10")
        seen.extend(page["ops"])
        since = page["next"]
        pages += 1
    assert pages == 3
    assert [e["seq"] for e in seen] == list(range(1, 26))
    assert [e["op"]["id"] for e in seen] == [op.id for op in sent]
    first = seen[0]
    assert first["op"]["t"] == "c"
    assert first["op"]["s"] == [1, "r1"]
    assert first["op"]["f"]["origin"] == "organic"
    assert first["author"].startswith("guest-")
    assert isinstance(first["time"], float)
    tail = await get_json(http, f"{base}?since=20")
    assert ([e["seq"] for e in tail["ops"]], tail["next"]) == ([21, 22, 23, 24, 25], None)
    assert await get_json(http, f"{base}?since=25") == {"ops": [], "next": None}
    exact = await get_json(http, f"{base}?since=15&limit=10")
    assert exact["next"] is None  # the page ends at the last op: nothing more to ask for
    for bad in ("limit=0", "limit=1001", "since=-1", "since=x"):
        assert error_code(await get_json(http, f"{base}?{bad}", 400)) == "bad_request"
    assert len((await get_json(http, f"{base}?limit=1000"))["ops"]) == 25


# -- checkpoints --------------------------------------------------------------------------------
async def test_checkpoints(server: InProcessServer, http: aiohttp.ClientSession) -> None:
    await weave_garden(http, server)
    url = server.url + "/api/sanctuaries/garden/checkpoints"
    now = await post_json(http, url, {"name": "after the move"}, 201)
    assert (now["name"], now["seq"]) == ("after the move", 6)
    early = await post_json(http, url, {"name": "three symbols", "seq": 3}, 201)
    assert early["seq"] == 3
    assert early["id"] != now["id"]
    assert isinstance(early["time"], float)
    listed = await get_json(http, url)
    assert [c["name"] for c in listed] == ["three symbols", "after the move"]
    older = await get_json(http, f"{url}?before={early['id']}")
    assert [c["name"] for c in older] == ["after the move"]
    assert len(await get_json(http, f"{url}?limit=1")) == 1
    # a checkpoint is a seq to travel back to
    at = await get_json(http, f"{server.url}/api/sanctuaries/garden/tapestry.json?at={early['seq']}")
    assert {f.id for f in Tapestry.from_data(at["snapshot"]).fragments()} == {"moon1", "owl1", "key1"}
    for bad in ({}, {"name": ""}, {"name": "x", "seq": 7}, {"name": "x", "seq": -1}, {"name": "x", "seq": "3"}):
        assert error_code(await post_json(http, url, bad, 400)) == "bad_request"
    assert error_code(await get_json(http, url + "?limit=5000", 400)) == "bad_request"
