"""The compact snapshot form on the wire (SPEC W37, M15, M16): sent only to a hello that asks for
it, and holding exactly the state a canonical welcome holds."""

from __future__ import annotations

import pytest
from server_kit import Wire
from wire import CODECS, WireClient

from dreamloom.protocol import CloseCode, ErrorCode, Tapestry
from dreamloom.protocol.compact import expand
from dreamloom.server.testing import InProcessServer


async def _fill(client: WireClient) -> None:
    """Fragments written by one create each, and a few written again under other stamps."""
    batch = [client.symbol(f"f{n:02d}", x=n) for n in range(12)]
    batch.append(client.stroke("s1", [0, 0, 10.5, 5, 20, -3]))
    await client.wait_acked(await client.send_ops(*batch))
    again = [client.set("f03", x=99, z="W"), client.delete("f05"), client.set("s1", style={"color": "#ff7a90"})]
    await client.wait_acked(await client.send_ops(*again))


@pytest.mark.parametrize("codec", CODECS)
async def test_W37_compact_only_to_a_hello_that_asks(server: InProcessServer, wire: Wire, codec: str) -> None:
    url = server.ws_url("garden")
    writer = await wire.join(url, codec=codec)
    await _fill(writer)
    plain = await wire.open(url, codec=codec)
    canonical = await wire.hello(plain)
    unknown = await wire.open(url, codec=codec)
    future = await wire.hello(unknown, features=["a-feature-of-tomorrow"])
    asking = await wire.open(url, codec=codec)
    compact = await wire.hello(asking, features=["a-feature-of-tomorrow", "compact"])

    assert canonical.form is None
    assert future.form is None
    assert future.snapshot == canonical.snapshot
    assert compact.form == "compact"
    assert compact.snapshot is not None
    assert canonical.snapshot is not None
    assert compact.seq == canonical.seq
    # M16: expanded, the compact snapshot is the canonical one exactly, so the digests agree.
    assert expand(compact.snapshot) == canonical.snapshot
    assert Tapestry.from_compact(compact.snapshot).digest() == Tapestry.from_data(canonical.snapshot).digest()
    # M15: one stamp per fragment written once; the rewritten registers listed apart.
    items = {item[0]: item for item in compact.snapshot}
    assert items["f00"][4] == {}
    assert items["f00"][3]["x"] == 0
    assert set(items["f03"][4]) == {"x", "z"}
    assert "x" not in items["f03"][3]
    assert asking.tapestry.digest() == plain.tapestry.digest()


@pytest.mark.parametrize("codec", CODECS)
async def test_W37_kept_compact_items_follow_later_writes(server: InProcessServer, wire: Wire, codec: str) -> None:
    url = server.ws_url("garden")
    writer = await wire.join(url, codec=codec)
    await _fill(writer)
    first = await wire.open(url, codec=codec)
    await wire.hello(first, features=["compact"])
    # Written after the compact items were built: only these fragments are encoded again.
    more = [writer.set("f00", y=7), writer.symbol("g1"), writer.delete("f01"), writer.restore("f01")]
    await writer.wait_acked(await writer.send_ops(*more))
    plain = await wire.open(url, codec=codec)
    canonical = await wire.hello(plain)
    later = await wire.open(url, codec=codec)
    compact = await wire.hello(later, features=["compact"])
    assert compact.form == "compact"
    assert compact.snapshot is not None
    assert expand(compact.snapshot) == canonical.snapshot
    tapestry = (await server.hub.sanctuary("garden")).tapestry
    assert compact.snapshot == tapestry.to_compact()
    assert later.tapestry.digest() == tapestry.digest() == plain.tapestry.digest()


@pytest.mark.parametrize("features", [["compact"] * 17, "compact", [""], ["x" * 33], [7]])
async def test_W37_bad_hello_features_refuse_the_hello(server: InProcessServer, wire: Wire, features: object) -> None:
    client = await wire.open(server.ws_url("garden"))
    await client.send_wire({"type": "hello", "v": 1, "name": "a", "replica": "r9", "seq": None, "features": features})
    # A hello that does not decode is no hello (W5): handshake_required, with the decoder's reason.
    assert await client.wait_closed() == CloseCode.PROTOCOL_ERROR
    assert [e.code for e in client.errors] == [ErrorCode.HANDSHAKE_REQUIRED]
    assert "hello.features must be a list of at most 16 short strings" in client.errors[0].reason
