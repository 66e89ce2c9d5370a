"""The SDK's groups and bound arrows against a real in-process server (SPEC M13, M14)."""

from __future__ import annotations

from typing import Any

from client_kit import WAIT

from dreamloom.client.testing import dreamer
from dreamloom.protocol import Tapestry, bindings


async def test_M13_M14_a_weaver_groups_fragments_and_binds_an_arrow_that_follows(server: Any) -> None:
    async with dreamer(server.url, "sdk-groups", name="ada") as ada, dreamer(server.url, "sdk-groups", name="bo") as bo:
        box = ada.add_shape("rect", 0, 0, 100, 100)
        moon = ada.add_symbol("moon", 300, 50, size=40)
        arrow = ada.add_arrow(-200, 50, 150, 0, end=box.id)
        actions = ada.group_fragments([box.id, moon.id])
        await ada.flush(WAIT)
        for action in (box, moon, arrow, *actions):
            await action
        await bo.wait_until(lambda: (f := bo.tapestry.get(moon.id)) is not None and f.group is not None, WAIT)
        t: Tapestry = (await server.hub.sanctuary("sdk-groups")).tapestry
        gid = t.get(box.id).group  # type: ignore[union-attr]
        assert gid is not None
        assert bo.tapestry.get(box.id).group == gid  # type: ignore[union-attr]
        drawn = t.get(arrow.id)
        assert drawn is not None
        assert drawn.end == box.id
        assert bindings.ends(drawn, t.get)[1] == (-6.0, 50.0)
        # The box moves: the arrow's end follows it, for every replica alike.
        await ada.update(box.id, x=300, y=-100)
        await bo.wait_until(lambda: bo.tapestry.get(box.id).x == 300, WAIT)  # type: ignore[union-attr]
        mine = bo.tapestry.get(arrow.id)
        assert mine is not None
        assert bindings.ends(mine, bo.tapestry.get) == bindings.ends(t.get(arrow.id), t.get)  # type: ignore[arg-type]
        assert bindings.ends(mine, bo.tapestry.get)[1][0] > 280
        await ada.flush(WAIT)
        for action in ada.ungroup_fragments([box.id, moon.id]):
            await action
        await bo.wait_until(lambda: bo.tapestry.get(moon.id).group is None, WAIT)  # type: ignore[union-attr]
