"""SPEC W38 through the weaver SDK: a pressure stroke goes out, others see its pressure, a bad
one fails locally, and the kaleidoscope's copies keep the pen's pressure."""

from __future__ import annotations

from typing import Any

import pytest
from client_kit import WAIT

from dreamloom.client import Weaver
from dreamloom.client.testing import dreamer, fast_backoff, set_policy
from dreamloom.client.weavers.kaleidoscope import Kaleidoscope
from dreamloom.protocol import UsageError


async def test_W38_a_weaver_draws_a_pressure_stroke_others_see_it(server: Any) -> None:
    async with dreamer(server.url, "brush", name="ada") as ada, dreamer(server.url, "brush", name="ben") as ben:
        stroke = ada.add_stroke([0, 0, 40, 10, 80, 0], x=10, y=20, pressure=[0.1, 0.9, 0.2], style={"width": 6})
        await stroke
        await ben.wait_until(lambda: stroke.id in ben.tapestry, WAIT)
        seen = ben.tapestry.get(stroke.id)
        assert seen is not None
        assert list(seen.geom["pressure"]) == [0.1, 0.9, 0.2]
        # A move keeps the pressure: it lives in geom.
        ada.update(stroke.id, x=300)
        await ada.flush(WAIT)
        await ben.wait_until(lambda: (f := ben.tapestry.get(stroke.id)) is not None and f.x == 300, WAIT)
        moved = ben.tapestry.get(stroke.id)
        assert moved is not None
        assert list(moved.geom["pressure"]) == [0.1, 0.9, 0.2]


async def test_W38_bad_pressure_fails_locally() -> None:
    w = Weaver()
    with pytest.raises(UsageError):
        w.add_stroke([0, 0, 5, 5], pressure=[0.5])  # one value short
    with pytest.raises(UsageError):
        w.add_stroke([0, 0, 5, 5], pressure=[0.5, 1.5])  # out of [0, 1]
    assert w.tapestry.pending == 0


async def test_W38_kaleidoscope_copies_keep_the_pressure(server: Any) -> None:
    kal = Kaleidoscope(folds=3, centre=(0, 0), **fast_backoff())
    await set_policy(server, "rosette", ai_share_cap=1.0)
    async with kal.connect(server.url, "rosette"), dreamer(server.url, "rosette", name="ada") as ada:
        stroke = ada.add_stroke([0, 0, 20, 0, 20, 10], x=100, y=0, pressure=[0.2, 0.7, 1])
        await stroke
        await ada.wait_until(lambda: sum(stroke.id in f.inspired_by for f in ada.tapestry) == 2, WAIT)
        for f in ada.tapestry:
            if stroke.id in f.inspired_by:
                assert list(f.geom["pressure"]) == [0.2, 0.7, 1]
