"""Fan-out beside a slow or failing store, over real sockets (SPEC F1, F5, S3)."""

from __future__ import annotations

from pathlib import Path

from server_kit import Wire
from test_sanctuary_fanout import GatedStore

from dreamloom.protocol import CloseCode, Op, Stamp
from dreamloom.protocol.ops import create
from dreamloom.server.store import LogEntry
from dreamloom.server.testing import serve_in_process


def symbol(fid: str, stamp: Stamp) -> Op:
    return create(fid, stamp, kind="symbol", geom={"sym": "moon", "size": 40}, z="V")


async def test_F1_S3_a_stalled_fsync_delays_the_ack_not_the_broadcast(tmp_path: Path, wire: Wire) -> None:
    store = GatedStore()
    async with serve_in_process(tmp_path, store=store) as server:
        writer = await wire.join(server.ws_url("garden"))
        other = await wire.join(server.ws_url("garden"))
        store.gate.clear()  # every commit now waits, as on a stalled disk
        [counter] = await writer.send_ops(writer.symbol("moon"))
        await other.wait_seq(1)
        await writer.wait_seq(1)  # the sender sees its own broadcast too
        assert writer.acks == {}  # but no ack before the commit (S3)
        store.gate.set()
        assert await writer.wait_acked([counter]) == {counter: 1}


async def test_F5_after_a_failed_commit_a_client_holding_the_lost_op_resyncs_without_it(
    tmp_path: Path, wire: Wire
) -> None:
    store = GatedStore()
    async with serve_in_process(tmp_path, store=store) as server:
        url = server.ws_url("garden")
        writer = await wire.join(url)
        other = await wire.join(url)
        await writer.wait_acked(await writer.send_ops(writer.symbol("kept")))
        store.gate.clear()
        store.fail_next = True
        await writer.send_ops(writer.symbol("lost"))
        await other.wait_seq(2)
        assert "lost" in other.tapestry
        store.gate.set()
        await other.closed.wait()
        assert other.close_code == CloseCode.INTERNAL_ERROR
        fresh = await wire.join(url, replica="r-fresh")
        await fresh.wait_acked(await fresh.send_ops(fresh.symbol("newer")))  # seq 2 again, another op
        back = await wire.resume(url, other)
        assert back.welcome is not None
        assert back.welcome.snapshot is not None  # its seq 2 was counted in the failed run (F5)
        assert sorted(back.tapestry.ids()) == ["kept", "newer"]


async def test_S3_F5_a_group_commit_the_sqlite_writer_refuses_closes_with_1011_and_acks_nothing(
    tmp_path: Path, wire: Wire
) -> None:
    # The default store tells the sanctuary itself when a commit ends (Store.append_soon): a commit
    # its writer thread refuses must fail the run as any failed commit does (rule 7).
    async with serve_in_process(tmp_path) as server:
        url = server.ws_url("garden")
        writer = await wire.join(url)
        other = await wire.join(url)
        await writer.wait_acked(await writer.send_ops(writer.symbol("kept")))
        # Seq 2 is taken in the log behind the sanctuary's back: its own seq 2 cannot follow.
        intruder = symbol("intruder", Stamp(1, "r-intruder"))
        await server.services.store.append("garden", [LogEntry(2, intruder, "someone", 0.0)])
        [counter] = await writer.send_ops(writer.symbol("lost"))
        await other.closed.wait()
        await writer.closed.wait()
        assert (writer.close_code, other.close_code) == (CloseCode.INTERNAL_ERROR, CloseCode.INTERNAL_ERROR)
        assert counter not in writer.acks
        fresh = await wire.join(url, replica="r-fresh")
        assert sorted(fresh.tapestry.ids()) == ["intruder", "kept"]
