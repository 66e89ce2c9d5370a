"""The SDK against a real in-process server: events, rejections, retries, resume, convergence."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from client_kit import WAIT

from dreamloom.client import Closed, Disconnect, FragmentEvent, PeerEvent, PolicyChange, Ready, Rejected, Weaver
from dreamloom.client.testing import Dreamer, dreamer, fast_backoff, issue_token, serve_in_process, set_policy
from dreamloom.protocol import CLIENT_SIDE_LIMITS, DEFAULT_LIMITS, CloseCode, ErrorCode, Tapestry, Welcome
from dreamloom.protocol.codec import codec_for
from dreamloom.server.sanctuary import Sanctuary
from dreamloom.server.store import SqliteStore
from dreamloom.server.testing import free_port


class Recorder(Weaver):
    """Records every event it is given."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**fast_backoff(), **options)
        self.events: list[object] = []
        self.rejections: list[Rejected] = []

    async def on_ready(self, event: Ready) -> None:
        self.events.append(event)

    async def on_fragment_added(self, event: FragmentEvent) -> None:
        self.events.append(event)

    async def on_fragment_changed(self, event: FragmentEvent) -> None:
        self.events.append(event)

    async def on_fragment_deleted(self, event: FragmentEvent) -> None:
        self.events.append(event)

    async def on_peer_joined(self, event: PeerEvent) -> None:
        self.events.append(event)

    async def on_peer_left(self, event: PeerEvent) -> None:
        self.events.append(event)

    async def on_presence(self, event: PeerEvent) -> None:
        self.events.append(event)

    async def on_rejected(self, error: Rejected) -> None:
        self.rejections.append(error)

    async def on_disconnect(self, event: Disconnect) -> None:
        self.events.append(event)

    def fragment_events(self, fid: str) -> list[FragmentEvent]:
        return [e for e in self.events if isinstance(e, FragmentEvent) and e.id == fid]


async def server_tapestry(server: Any, sanctuary: str) -> Tapestry:
    tapestry: Tapestry = (await server.hub.sanctuary(sanctuary)).tapestry
    return tapestry


async def test_events_carry_who_did_what_and_presence(server: Any) -> None:
    rec = Recorder(name="recorder")
    async with rec.connect(server.url, "events"), dreamer(server.url, "events", name="ada") as ada:
        assert ada.identity is not None
        assert rec.identity is not None
        await rec.wait_until(lambda: any(p.name == "ada" for p in rec.peers.values()), WAIT)
        stroke = ada.add_stroke([0, 0, 10, 5], x=3, y=4, style={"color": "#ff7a90"})
        await stroke
        ada.update(stroke.id, x=50)
        ada.delete(stroke.id)
        ada.restore(stroke.id)
        await ada.flush(WAIT)
        ada.show_cursor(12, 34)
        await rec.wait_until(lambda: len(rec.fragment_events(stroke.id)) == 4, WAIT)
        added, changed, deleted, restored = rec.fragment_events(stroke.id)
        assert [added.action, changed.action, deleted.action, restored.action] == [
            "added",
            "changed",
            "deleted",
            "restored",
        ]
        for event in (added, changed, deleted, restored):
            assert event.author == ada.identity.id
            assert event.origin == ada.identity.origin
            assert not event.mine
        assert changed.fields == ("x",)
        assert changed.fragment.x == 50
        assert added.fragment.style["color"] == "#ff7a90"
        assert added.seq is not None
        assert rec.tapestry.changed_at(stroke.id) == restored.seq
        await rec.wait_until(
            lambda: any(
                isinstance(e, PeerEvent) and e.action == "moved" and e.peer.cursor == (12, 34) for e in rec.events
            ),
            WAIT,
        )


async def test_peers_see_joins_and_leaves(server: Any) -> None:
    rec = Recorder()
    async with rec.connect(server.url, "hall"):
        async with dreamer(server.url, "hall", name="bo"):
            await rec.wait_until(lambda: any(p.name == "bo" for p in rec.peers.values()), WAIT)
        await rec.wait_until(lambda: not rec.peers, WAIT)
    actions = [e.action for e in rec.events if isinstance(e, PeerEvent) and e.peer.name == "bo"]
    assert actions[0] == "joined"
    assert actions[-1] == "left"


async def test_a_rejected_op_raises_the_typed_error_and_reaches_on_rejected(server: Any) -> None:
    rec = Recorder()
    async with rec.connect(server.url, "strict"):
        with pytest.raises(Rejected) as info:
            await rec.update("no-such-fragment", x=1)
        assert info.value.code is ErrorCode.UNKNOWN_FRAGMENT
        assert info.value.fragment_id == "no-such-fragment"
        assert info.value.reason
        await rec.wait_until(lambda: bool(rec.rejections), WAIT)
        assert rec.rejections[0].code is ErrorCode.UNKNOWN_FRAGMENT
        assert "no-such-fragment" not in rec.tapestry  # the optimistic write was taken back
        assert rec.tapestry.pending == 0


async def test_W9_rate_limited_ops_are_retried_with_their_own_stamps_until_they_land(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "dreamloom.client")
    async with serve_in_process(data_dir=tmp_path, ops_rate=100.0, ops_burst=8.0) as server:
        await set_policy(server, "busy", ai_share_cap=1.0)
        rec = Recorder()
        async with rec.connect(server.url, "busy"):
            actions = []
            for i in range(40):
                actions.append(rec.add_symbol("star", i * 10, 0))
                await asyncio.sleep(0)  # let the writer send them as several messages
            seqs = await asyncio.wait_for(asyncio.gather(*actions), 3 * WAIT)
            assert len(set(seqs)) == 40
            assert rec.rejections == []
            assert any("rate_limited" in r.getMessage() for r in caplog.records), "nothing was rate limited"
            # An ack means applied (W9): no op needed a new stamp to land.
            assert all(a.op.stamp.counter == int(a.id.rsplit(".", 1)[1]) for a in actions)
            server_t = await server_tapestry(server, "busy")
            assert sorted(f.id for f in server_t.fragments()) == sorted(a.id for a in actions)


async def test_a_final_close_code_stops_with_a_typed_error(server: Any) -> None:
    rec = Recorder()
    task = asyncio.create_task(rec.serve(server.url, "moderated"))
    await rec.wait_until(lambda: rec.connected, WAIT)
    sanctuary = await server.hub.sanctuary("moderated")
    sanctuary.members[rec._session.sid].close(CloseCode.KICKED, "kicked by the steward")
    with pytest.raises(Closed) as info:
        await asyncio.wait_for(task, WAIT)
    assert info.value.code == CloseCode.KICKED
    final = [e for e in rec.events if isinstance(e, Disconnect)]
    assert final
    assert final[-1].reconnecting is False
    assert final[-1].code == CloseCode.KICKED


async def test_ops_made_while_disconnected_arrive_once_after_reconnect(tmp_path: Path) -> None:
    async with serve_in_process(data_dir=tmp_path) as server:
        await set_policy(server, "offline", ai_share_cap=1.0)
        rec = Recorder()
        async with rec.connect(server.url, "offline"):
            first = await rec.add_text("before", 0, 0)
            await server.stop()
            await rec.wait_until(lambda: not rec.connected, WAIT)
            queued = [rec.add_symbol("moon", 10 * i, 10) for i in range(5)]
            assert all(a.id in rec.tapestry for a in queued)  # applied optimistically meanwhile
            await server.start()
            seqs = await asyncio.wait_for(asyncio.gather(*queued), WAIT)
            assert seqs == sorted(seqs)
            assert seqs[0] > first
            server_t = await server_tapestry(server, "offline")
            assert len(server_t) == 6
            await rec.wait_until(lambda: rec.seq == max(seqs) and rec.tapestry.pending == 0, WAIT)
            assert rec.tapestry.confirmed.encode() == server_t.encode()
            ready = [e for e in rec.events if isinstance(e, Ready)]
            assert [r.resumed for r in ready] == [False, True]


async def _random_workload(person: Dreamer, rng: random.Random, n: int) -> None:
    for _ in range(n):
        live = [f.id for f in person.tapestry]
        roll = rng.random()
        if roll < 0.45 or not live:
            kind = rng.choice(["stroke", "symbol", "text", "shape"])
            x, y = rng.uniform(-500, 500), rng.uniform(-500, 500)
            if kind == "stroke":
                person.add_stroke([rng.uniform(-50, 50) for _ in range(8)], x=x, y=y, style={"color": "#5cd3ff"})
            elif kind == "symbol":
                person.add_symbol(
                    rng.choice(["moon", "star", "key"]), x, y, inspired_by=rng.sample(live, min(2, len(live)))
                )
            elif kind == "text":
                person.add_text(rng.choice(["tide", "door", "owl"]), x, y)
            else:
                person.add_shape(rng.choice(["rect", "ellipse", "line", "arrow"]), x, y, 30, -20)
        elif roll < 0.8:
            person.update(rng.choice(live), x=rng.randint(-99, 99), y=rng.uniform(-1, 1))
        elif roll < 0.9:
            person.delete(rng.choice(live))
        else:
            with person.batch():
                for fid in rng.sample(live, min(3, len(live))):
                    person.bring_to_front(fid)
        if rng.random() < 0.3:
            await asyncio.sleep(0)  # interleave the clients' messages


async def test_replicas_equal_the_server_tapestry_byte_for_byte_after_a_random_workload(server: Any) -> None:
    rng = random.Random(2024)
    async with (
        dreamer(server.url, "fuzz", name="a") as a,
        dreamer(server.url, "fuzz", name="b") as b,
        dreamer(server.url, "fuzz", name="c") as c,
    ):
        people = [a, b, c]
        await asyncio.gather(*(_random_workload(p, random.Random(rng.random()), 120) for p in people))
        await asyncio.gather(*(p.flush(WAIT) for p in people))
        server_t = await server_tapestry(server, "fuzz")
        seq = (await server.hub.sanctuary("fuzz")).seq
        for p in people:
            await p.wait_until(lambda p=p: p.seq == seq and p.tapestry.pending == 0, WAIT)
        expected = server_t.encode()
        assert len(server_t) > 50
        for p in people:
            assert p.tapestry.confirmed.encode() == expected
            assert p.tapestry.view.encode() == expected


@pytest.mark.parametrize("owner_present", [True, False], ids=["owner-connected", "owner-gone"])
async def test_W5_replica_in_use_takes_a_new_replica_id_and_keeps_queued_ops_in_order(
    server: Any, owner_present: bool
) -> None:
    sanctuary = f"bound-{owner_present}"
    await set_policy(server, sanctuary, ai_share_cap=1.0)
    owner = Recorder(name="owner")
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(
            owner.connect(server.url, sanctuary, token=issue_token(server, sanctuary, name="owner"))
        )
        taken = owner.replica_id
        await owner.add_symbol("star", 0, 0)  # the replica id is now bound to the owner, for good
        if not owner_present:
            await stack.aclose()
        late = Recorder(name="late")
        # A weaver that kept its replica id (and its clock) but lost its token: a new identity.
        late._session.switch_replica(taken)
        late._session.clock.observe_counter(owner._session.clock.counter)
        made = late.add_symbol("moon", 0, 0)
        moved = late.update(made.id, x=40)
        again = late.update(made.id, x=80)  # the last write must stay the last
        async with late.connect(server.url, sanctuary, token=issue_token(server, sanctuary, name="late")):
            seqs = await asyncio.wait_for(asyncio.gather(made, moved, again), WAIT)
            assert seqs == sorted(seqs)
            assert late.replica_id != taken
            assert {a.op.stamp.replica for a in (made, moved, again)} == {late.replica_id}
            server_t = await server_tapestry(server, sanctuary)
            frag = server_t.get(made.id)
            assert frag is not None
            assert frag.x == 80
            assert late.identity is not None
            assert frag.author == late.identity.id
            assert owner.connected is owner_present  # the owner was never disturbed
            assert not [e for e in late.events if isinstance(e, Disconnect)]  # it never was connected


async def test_on_disconnect_fires_once_per_lost_connection_not_per_failed_attempt(tmp_path: Path) -> None:
    async with serve_in_process(data_dir=tmp_path) as server:
        rec = Recorder()
        async with rec.connect(server.url, "flaky"):
            await server.stop()
            await rec.wait_until(lambda: rec._session.failures >= 3, WAIT)
            await server.start()
            await rec.wait_until(
                lambda: rec.connected and len([e for e in rec.events if isinstance(e, Ready)]) == 2, WAIT
            )
            lost = [e for e in rec.events if isinstance(e, Disconnect)]
            assert len(lost) == 1
            assert lost[0].reconnecting


async def test_a_weaver_that_never_connected_gives_up_with_the_cause_and_no_disconnect_event() -> None:
    rec = Recorder(give_up_after=3)
    with pytest.raises(Closed) as info:
        await asyncio.wait_for(rec.serve(f"http://127.0.0.1:{free_port()}", "nowhere"), WAIT)
    assert "gave up after 3 failed attempts" in info.value.reason
    assert "connection refused" in info.value.reason
    assert rec.events == []


async def test_W5a_on_resume_a_weaver_hears_missed_fragments_then_peers_then_policy_then_ready(server: Any) -> None:
    class Resumer(Recorder):
        async def on_policy(self, event: PolicyChange) -> None:
            self.events.append(event)

    rec = Resumer()
    async with rec.connect(server.url, "resume-order"):
        pass
    async with dreamer(server.url, "resume-order", name="ada") as ada:
        made = [ada.add_text("while you were away", 0, 0), ada.add_symbol("moon", 40, 0)]
        await ada.flush(WAIT)
        await set_policy(server, "resume-order", ai_share_cap=0.75)
        before = len(rec.events)
        async with rec.connect(server.url, "resume-order"):
            await rec.wait_until(lambda: isinstance(rec.events[-1], Ready), WAIT)
            kinds = [type(e).__name__ for e in rec.events[before:]]
            assert kinds == ["FragmentEvent", "FragmentEvent", "PeerEvent", "PolicyChange", "Ready"]
            fragments = [e for e in rec.events[before:] if isinstance(e, FragmentEvent)]
            assert [e.id for e in fragments] == [a.id for a in made]
            assert all(e.seq is not None for e in fragments)
            assert rec.events[-1].resumed  # type: ignore[union-attr]


async def test_a_server_that_is_not_dreamloom_ends_the_weaver_with_a_hint() -> None:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<html>a blog</html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    site = TestServer(app, host="127.0.0.1")
    await site.start_server()
    try:
        rec = Recorder()
        with pytest.raises(Closed) as info:
            await asyncio.wait_for(rec.serve(str(site.make_url("/")), "garden"), WAIT)
        assert info.value.http_status == 200
        assert "is this a Dreamloom server?" in info.value.reason
        assert rec.events == []
    finally:
        await site.close()


async def test_F5_F7_the_sdk_resumes_by_seq_within_its_epoch_and_by_snapshot_in_a_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    welcomes: list[Welcome] = []
    answer = Sanctuary._welcome

    async def spy(self: Sanctuary, member: Any, hello: Any) -> tuple[list[bytes], Any]:
        # The welcome, then any ops that follow it (W25), and its parts to come (W36).
        frames, parts = await answer(self, member, hello)
        welcomes.append(codec_for(member.codec_name, CLIENT_SIDE_LIMITS).decode_server(frames[0]))
        return frames, parts

    monkeypatch.setattr(Sanctuary, "_welcome", spy)

    def readies() -> int:
        return len([e for e in rec.events if isinstance(e, Ready)])

    async with serve_in_process(data_dir=tmp_path) as server:
        await set_policy(server, "epochs", ai_share_cap=1.0)
        rec = Recorder()
        async with rec.connect(server.url, "epochs"):
            await rec.add_symbol("moon", 0, 0)
            sanctuary = await server.hub.sanctuary("epochs")
            # A reconnectable close, the sanctuary staying loaded: the same run, the same epoch.
            sanctuary.members[rec._session.sid].close(CloseCode.SLOW_CONSUMER, "behind")
            await rec.wait_until(lambda: readies() == 2, WAIT)
            again = welcomes[-1]
            assert again.epoch == sanctuary.epoch
            assert again.snapshot is None  # resumed op by op: the SDK sent back the epoch
            # A clean restart keeps the epoch (F7): resumed op by op again.
            await server.stop()
            await rec.wait_until(lambda: not rec.connected, WAIT)
            await server.start()
            await rec.wait_until(lambda: readies() == 3, WAIT)
            assert (await server.hub.sanctuary("epochs")).epoch == sanctuary.epoch
            assert (welcomes[-1].epoch, welcomes[-1].snapshot) == (sanctuary.epoch, None)
            # A run that did not end cleanly keeps nothing (as after a crash): the next is a new one.
            await server.stop()
            await rec.wait_until(lambda: not rec.connected, WAIT)
            store = SqliteStore(str(tmp_path / "dreamloom.db"))
            await store.open()
            assert await store.take_epoch("epochs") is not None
            await store.close()
            await server.start()
            await rec.wait_until(lambda: readies() == 4, WAIT)
            reloaded = await server.hub.sanctuary("epochs")
            assert reloaded.epoch != sanctuary.epoch  # a new run: its seqs are not the old run's (F5)
            assert welcomes[-1].snapshot is not None
            assert [f.id for f in rec.tapestry] == [f.id for f in (await server_tapestry(server, "epochs")).fragments()]


async def test_W23_W24_the_sdk_counts_a_crowded_room_pages_its_peers_and_follows_the_roster(tmp_path: Path) -> None:
    async with serve_in_process(data_dir=tmp_path, limits=replace(DEFAULT_LIMITS, max_peers_page=2)) as server:
        async with contextlib.AsyncExitStack() as stack:
            for n in range(4):
                await stack.enter_async_context(dreamer(server.url, "hall", name=f"p{n}"))
            rec = Recorder()
            async with rec.connect(server.url, "hall"):
                assert rec.peer_count == 4  # the welcome listed two of them and counted all four
                peers = await rec.fetch_peers()
                assert sorted(p.name for p in peers.values()) == ["p0", "p1", "p2", "p3"]
                await stack.aclose()  # all four leave: one roster tells it
                await rec.wait_until(lambda: not rec.peers and rec.peer_count == 0, WAIT)
    left = [e.peer.name for e in rec.events if isinstance(e, PeerEvent) and e.action == "left"]
    assert sorted(left) == ["p0", "p1", "p2", "p3"]
