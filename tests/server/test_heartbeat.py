"""One sweep watches every connection's heartbeat (SPEC W12): quiet ones are told, and nothing stays behind."""

from __future__ import annotations

import time

from kit.timing import poll_until

from dreamloom.server import heartbeat


class Peer:
    def __init__(self, last_heard: float) -> None:
        self.last_heard = last_heard
        self.told: list[float] = []

    def __hash__(self) -> int:
        return id(self)

    def quiet(self, silent: float) -> None:
        self.told.append(silent)


async def test_W12_only_connections_silent_past_the_heartbeat_are_told() -> None:
    talking = Peer(time.monotonic() + 3600)  # heard all along: never silent for long
    silent = Peer(time.monotonic())
    heartbeat.register(talking, 0.05, 0.2)
    heartbeat.register(silent, 0.05, 0.2)
    try:
        await poll_until(lambda: len(silent.told) >= 3, "the silent one is told, sweep after sweep")
        assert all(s >= 0.05 for s in silent.told)  # never before the heartbeat
        assert silent.told == sorted(silent.told)  # the silence only grows
        assert talking.told == []
    finally:
        heartbeat.unregister(talking, 0.05, 0.2)
        heartbeat.unregister(silent, 0.05, 0.2)
    assert not heartbeat._SHARED  # the last one gone, no sweep is left (nor its loop held)
