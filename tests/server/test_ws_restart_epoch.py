"""Epochs across restarts (SPEC F5, F7, S8): a clean restart keeps the epoch, a crash never does."""

from __future__ import annotations

import signal
from pathlib import Path

from server_kit import StartServer, Wire
from test_crash_recovery import start, wait_listening
from wire import WireClient

from dreamloom.protocol import CloseCode
from dreamloom.server.testing import free_port


async def write(client: WireClient, n: int, prefix: str) -> None:
    await client.wait_acked(await client.send_ops(*(client.symbol(f"{prefix}{i}", x=i) for i in range(n))))


async def test_F7_after_a_clean_restart_a_client_resumes_by_seq_in_the_same_epoch(
    start_server: StartServer, wire: Wire
) -> None:
    server = await start_server()
    url = server.ws_url("garden")
    writer = await wire.join(url)
    reader = await wire.join(url)
    await write(writer, 3, "a")
    await reader.wait_seq(3)
    assert reader.welcome is not None
    epoch = reader.welcome.epoch

    await server.restart()
    assert await reader.wait_closed() == CloseCode.GOING_AWAY

    back = await wire.resume(url, reader)
    welcome = back.welcome
    assert welcome is not None
    assert welcome.epoch == epoch
    assert welcome.snapshot is None
    assert (welcome.since, welcome.seq, welcome.ops) == (3, 3, ())
    # And the run goes on from there without a gap.
    again = await wire.resume(url, writer)
    await write(again, 2, "b")
    await back.wait_seq(5)
    assert back.gaps == []
    assert back.tapestry.encode() == (await server.hub.sanctuary("garden")).tapestry.encode()


async def test_F7_a_sanctuary_unloaded_when_idle_keeps_its_epoch_for_its_next_load(
    start_server: StartServer, wire: Wire
) -> None:
    server = await start_server(idle_unload=0.05)
    url = server.ws_url("garden")
    writer = await wire.join(url)
    await write(writer, 2, "a")
    assert writer.welcome is not None
    epoch = writer.welcome.epoch
    await writer.close()
    first = await server.hub.sanctuary("garden")
    await first.finished.wait()  # unloaded: nobody was left in it

    back = await wire.resume(url, writer)
    assert back.welcome is not None
    assert (back.welcome.epoch, back.welcome.snapshot, back.welcome.since) == (epoch, None, 2)


async def test_F7_a_crash_gives_a_new_epoch_even_after_a_clean_restart(tmp_path: Path, wire: Wire) -> None:
    port, data, log = free_port(), tmp_path / "data", tmp_path / "server.log"
    url = f"ws://127.0.0.1:{port}/ws/garden"

    proc = start(port, data, log)
    await wait_listening(proc, port, log)
    writer = await wire.join(url)
    await write(writer, 3, "a")
    assert writer.welcome is not None
    first_epoch = writer.welcome.epoch
    proc.send_signal(signal.SIGTERM)  # a clean stop: the epoch is kept
    assert proc.wait(30) == 0

    proc = start(port, data, log)
    await wait_listening(proc, port, log)
    writer = await wire.resume(url, writer)
    assert writer.welcome is not None
    assert (writer.welcome.epoch, writer.welcome.snapshot) == (first_epoch, None)
    # A crash of the run that went on with the kept epoch, before it committed anything: its
    # broadcasts could have run ahead of the store, so even at the same seq the epoch is not reused.
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    await writer.wait_closed()

    proc = start(port, data, log)
    try:
        await wait_listening(proc, port, log)
        back = await wire.resume(url, writer)
        welcome = back.welcome
        assert welcome is not None
        assert welcome.epoch != first_epoch
        assert welcome.snapshot is not None  # resumed by snapshot: nothing of the crashed run is trusted
        assert welcome.seq == 3
        assert len(back.tapestry) == 3
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
