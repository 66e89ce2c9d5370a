"""The SDK asks for the compact snapshot form and loads it straight into its replica (SPEC W37):
the same state, digest and events as a canonical joiner, in both codecs."""

from __future__ import annotations

from typing import Any

import pytest
from client_kit import WAIT
from websockets.asyncio.client import connect

from dreamloom.client import FragmentEvent, Weaver
from dreamloom.client.testing import dreamer, fast_backoff
from dreamloom.protocol import CLIENT_SIDE_LIMITS, JSON, MSGPACK, Hello, Tapestry, Welcome, codec_for


class Watcher(Weaver):
    def __init__(self, **options: Any) -> None:
        super().__init__(**fast_backoff(), **options)
        self.added: list[FragmentEvent] = []

    async def on_fragment_added(self, event: FragmentEvent) -> None:
        self.added.append(event)


async def raw_welcome(url: str, codec_name: str, replica: str, features: tuple[str, ...]) -> Welcome:
    """A plain client's welcome: its hello with ``features``, nothing else."""
    codec = codec_for(codec_name, CLIENT_SIDE_LIMITS)
    async with connect(url, subprotocols=[codec_name], max_size=None, proxy=None) as ws:  # type: ignore[list-item]
        await ws.send(codec.encode(Hello(name="raw", replica=replica, features=features)))
        while True:
            msg = codec.decode_server(await ws.recv())
            if isinstance(msg, Welcome):
                return msg


@pytest.mark.parametrize("codec", [MSGPACK, JSON])
async def test_W37_the_sdk_and_a_raw_client_load_a_compact_welcome_as_a_canonical_joiner(
    server: Any, codec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with dreamer(server.url, "garden", name="ada") as ada:
        strokes = [ada.add_stroke([0, 0, 10.5, n, 20, -3], x=n, y=2 * n) for n in range(8)]
        for stroke in strokes:
            await stroke
        await ada.update(strokes[2].id, x=500)
        await ada.delete(strokes[3].id)
        await ada.add_symbol("moon", x=1, y=1)
        await ada.wait_until(lambda: not ada.tapestry.pending, WAIT)

        loaded: list[int] = []
        from_compact, load_compact = Tapestry.from_compact, Tapestry.load_compact

        def spy(tapestry: Tapestry, items: Any, *args: Any) -> None:
            loaded.append(len(items))
            load_compact(tapestry, items, *args)

        # The SDK loads a compact welcome, or each of its parts (W36), straight into its tapestry.
        monkeypatch.setattr(Tapestry, "load_compact", spy)
        watcher = Watcher(name="watcher", codec=codec)
        async with watcher.connect(server.url, "garden"):
            await watcher.wait_until(lambda: len(watcher.tapestry) == 8, WAIT)
            assert loaded == [9]  # its welcome was compact, and loaded as such
            ws_url = server.ws_url("garden")
            compact = await raw_welcome(ws_url, codec, "raw-compact", ("compact",))
            canonical = await raw_welcome(ws_url, codec, "raw-canonical", ())
            assert compact.form == "compact"
            assert canonical.form is None
            expected = Tapestry.from_data(canonical.snapshot).digest()
            assert from_compact(compact.snapshot).digest() == expected
            assert watcher.tapestry.confirmed.digest() == expected == ada.tapestry.confirmed.digest()
            server_tapestry = (await server.hub.sanctuary("garden")).tapestry
            assert server_tapestry.digest() == expected
            # Bot authors see what they always saw: the fragments, the ai share, the ordered view.
            assert {f.id for f in watcher.tapestry} == {f.id for f in ada.tapestry}
            assert watcher.tapestry.get(strokes[2].id).x == 500  # type: ignore[union-attr]
            assert watcher.tapestry.ordered() == ada.tapestry.ordered()
            assert watcher.added == []  # a first load announces nothing, as before
