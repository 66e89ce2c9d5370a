"""The built-in weavers against a live server while a scripted person draws."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from client_kit import WAIT

from dreamloom.client import ErrorCode, Fragment, FragmentEvent, Ready, Rejected, Weaver
from dreamloom.client.geometry import bounds
from dreamloom.client.testing import dreamer, fast_backoff, issue_token, serve_in_process, set_policy
from dreamloom.client.weavers.harmonizer import Harmonizer
from dreamloom.client.weavers.interpreter import Interpreter, stems
from dreamloom.client.weavers.kaleidoscope import Kaleidoscope
from dreamloom.protocol import Stamp, Tapestry, ops


def assert_made_by(frag: Fragment, weaver: Weaver) -> None:
    """Provenance is the server's: the weaver's identity, and ``ai`` whenever that identity is a weaver's."""
    ident = weaver.identity
    assert ident is not None
    assert frag.author == ident.id
    assert frag.origin == ident.origin
    if ident.origin == "ai" or ident.role == "weaver":
        assert frag.origin == "ai"


def answers_to(weaver: Weaver, source_id: str) -> list[Fragment]:
    return [f for f in weaver.tapestry if source_id in f.inspired_by]


async def server_tapestry(server: Any, sanctuary: str) -> Tapestry:
    tapestry: Tapestry = (await server.hub.sanctuary(sanctuary)).tapestry
    return tapestry


async def test_kaleidoscope_mirrors_a_human_stroke_with_n_fold_symmetry(server: Any) -> None:
    kal = Kaleidoscope(folds=4, centre=(0, 0), **fast_backoff())
    await set_policy(server, "mirror", ai_share_cap=1.0)
    async with kal.connect(server.url, "mirror"), dreamer(server.url, "mirror", name="ada") as ada:
        stroke = ada.add_stroke([0, 0, 20, 0, 20, 10], x=100, y=0, style={"color": "#ff7a90", "width": 3})
        await stroke
        await ada.wait_until(lambda: len(answers_to(ada, stroke.id)) == 3, WAIT)
        mirrors = answers_to(ada, stroke.id)
        anchors = sorted((round(m.x), round(m.y)) for m in mirrors)
        assert anchors == [(-100, 0), (0, -100), (0, 100)]
        for m in mirrors:
            assert_made_by(m, kal)
            assert m.kind == "stroke"
            assert m.inspired_by == (stroke.id,)
            assert m.style["color"] == "#ff7a90"
            turned = round(math.degrees(math.atan2(m.y, m.x))) % 360
            expected = [round(v, 2) + 0.0 for v in _turn([0, 0, 20, 0, 20, 10], turned)]
            assert list(m.geom["pts"]) == pytest.approx(expected, abs=0.02)
        seqs = sorted(ada.tapestry.changed_at(m.id) or 0 for m in mirrors)
        assert seqs == list(range(seqs[0], seqs[0] + 3))  # one batch, one commit
        # Its own mirrors are never mirrored again, and nothing else was added.
        await kal.flush(WAIT)
        assert len(await server_tapestry(server, "mirror")) == 4


def _turn(pts: list[float], degrees: int) -> list[float]:
    a = math.radians(degrees)
    out: list[float] = []
    for i in range(0, len(pts), 2):
        x, y = pts[i], pts[i + 1]
        out += [x * math.cos(a) - y * math.sin(a), x * math.sin(a) + y * math.cos(a)]
    return out


async def test_interpreter_answers_captions_and_symbols_with_related_symbols(server: Any) -> None:
    interp = Interpreter(**fast_backoff())
    await set_policy(server, "dreams", ai_share_cap=1.0)
    async with interp.connect(server.url, "dreams"), dreamer(server.url, "dreams", name="ada") as ada:
        caption = ada.add_text("lost in a maze of mirrors", 0, 0, size=20)
        await caption
        await ada.wait_until(lambda: len(answers_to(ada, caption.id)) >= 1, WAIT)
        expected = interp.lexicon.answer(stems("lost in a maze of mirrors"))
        assert expected  # the catalogue knows these words
        answers = answers_to(ada, caption.id)
        assert sorted(f.geom["sym"] for f in answers) == sorted(expected)
        cx, cy = bounds(ada.tapestry.get(caption.id)).center  # type: ignore[arg-type]
        for f in answers:
            assert_made_by(f, interp)
            assert f.kind == "symbol"
            assert math.hypot(f.x - cx, f.y - cy) < 300  # placed near its source

        moon = ada.add_symbol("moon", 400, 0)
        await moon
        await ada.wait_until(lambda: len(answers_to(ada, moon.id)) >= 1, WAIT)
        names = [f.geom["sym"] for f in answers_to(ada, moon.id)]
        assert "moon" not in names
        assert 1 <= len(names) <= 3
        assert names == [n for n in interp.lexicon.answer(interp.lexicon.words_of(ada.tapestry.get(moon.id)), ["moon"])]  # type: ignore[arg-type]


async def test_harmonizer_threads_organic_and_ai_fragments_that_relate(server: Any) -> None:
    # An AI fragment already in the tapestry (as the server's log would hold it from a weaver).
    seed = ops.create(
        "seed-1",
        Stamp(1, "seed"),
        kind="symbol",
        geom={"sym": "star", "size": 40},
        z="V",
        x=0,
        y=0,
        style={"color": "#ff7a90"},
        author="some-weaver",
        origin="ai",
    )
    sanctuary = await server.hub.sanctuary("woven")
    await sanctuary.call(lambda: sanctuary.apply_local(None, [seed], "some-weaver"))
    harm = Harmonizer(reach=200, most=2, **fast_backoff())
    async with harm.connect(server.url, "woven"), dreamer(server.url, "woven", name="ada") as ada:
        near = ada.add_stroke([0, 0, 30, 10], x=40, y=40, style={"color": "#ff7a91"})
        far = ada.add_stroke([0, 0, 30, 10], x=5000, y=5000, style={"color": "#00ff00"})
        await near
        await far
        await ada.wait_until(lambda: len(answers_to(ada, near.id)) == 1, WAIT)
        (thread,) = answers_to(ada, near.id)
        assert_made_by(thread, harm)
        assert thread.kind == "stroke"
        assert set(thread.inspired_by) == {near.id, "seed-1"}
        assert thread.z < min(f.z for f in ada.tapestry if f.id != thread.id)  # woven beneath
        await harm.flush(WAIT)
        assert answers_to(ada, far.id) == []  # nothing relates to it
        # A second related stroke gets its own thread; the first pair is never threaded twice.
        again = ada.add_stroke([0, 0, 5, 5], x=10, y=-30, style={"color": "#ff7a90"})
        await again
        await ada.wait_until(lambda: len(answers_to(ada, again.id)) == 1, WAIT)
        await harm.flush(WAIT)
        pairs = [frozenset(f.inspired_by) for f in ada.tapestry if f.author == harm.identity.id]  # type: ignore[union-attr]
        assert len(pairs) == len(set(pairs)) == 2


async def test_a_weaver_survives_server_restarts_without_losing_or_duplicating(tmp_path: Path) -> None:
    async with serve_in_process(data_dir=tmp_path) as server:
        kal = Kaleidoscope(folds=3, **fast_backoff())
        await set_policy(server, "restart", ai_share_cap=1.0)
        async with kal.connect(server.url, "restart"), dreamer(server.url, "restart", name="ada") as ada:
            strokes = []
            for i in range(4):
                await ada.wait_until(lambda: ada.connected and kal.connected, WAIT)
                stroke = ada.add_stroke([0, 0, 10, 10], x=50 + i * 20, y=10)
                await stroke
                strokes.append(stroke.id)
                if i % 2 == 0:
                    await server.restart()  # at once: the mirrors may be unsent, in flight or committed
            await ada.wait_until(lambda: all(len(answers_to(ada, s)) >= 2 for s in strokes), WAIT)
            await kal.flush(WAIT)
            await ada.flush(WAIT)
            server_t = await server_tapestry(server, "restart")
            seq = (await server.hub.sanctuary("restart")).seq
            await kal.wait_until(lambda: kal.seq == seq, WAIT)
            await ada.wait_until(lambda: ada.seq == seq, WAIT)
            for s in strokes:
                mirrors = [f for f in server_t.fragments() if s in f.inspired_by]
                assert len(mirrors) == 2, f"stroke {s} has {len(mirrors)} mirrors"
            assert len(server_t) == 3 * len(strokes)
            assert kal.tapestry.confirmed.encode() == server_t.encode()
            assert ada.tapestry.confirmed.encode() == server_t.encode()


class WatchfulKaleidoscope(Kaleidoscope):
    """A kaleidoscope that also remembers what it was told."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.readies: list[Ready] = []
        self.added: list[FragmentEvent] = []

    async def on_ready(self, event: Ready) -> None:
        self.readies.append(event)

    async def on_fragment_added(self, event: FragmentEvent) -> None:
        self.added.append(event)
        await super().on_fragment_added(event)


@pytest.mark.parametrize("resume_window", [1000, 1], ids=["resume-by-ops", "resume-by-snapshot"])
async def test_a_weaver_catches_up_on_what_it_missed_while_away(tmp_path: Path, resume_window: int) -> None:
    async with serve_in_process(data_dir=tmp_path, resume_window=resume_window) as server:
        kal = WatchfulKaleidoscope(folds=2, **fast_backoff())
        async with dreamer(server.url, "away", name="ada") as ada:
            async with kal.connect(server.url, "away"):
                first = ada.add_stroke([0, 0, 10, 0], x=10, y=10)
                await first
                await ada.wait_until(lambda: len(answers_to(ada, first.id)) == 1, WAIT)
            missed = [ada.add_stroke([0, 0, 5, 5], x=100 + 10 * i, y=0) for i in range(3)]
            await ada.flush(WAIT)
            async with kal.connect(server.url, "away"):
                await ada.wait_until(lambda: all(len(answers_to(ada, a.id)) == 1 for a in missed), WAIT)
                await kal.flush(WAIT)
            assert [r.resumed for r in kal.readies] == [False, True]
            caught_up = [e for e in kal.added if e.id in {a.id for a in missed}]
            assert len(caught_up) == 3
            from_snapshot = all(e.seq is None for e in caught_up)
            assert from_snapshot is (resume_window == 1)
            server_t = await server_tapestry(server, "away")
            assert len(server_t) == 8  # 4 strokes, 4 mirrors: nothing lost, nothing twice
            await ada.wait_until(lambda: ada.seq == kal.seq, WAIT)
            assert ada.tapestry.confirmed.encode() == kal.tapestry.confirmed.encode() == server_t.encode()


class CountingInterpreter(Interpreter):
    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.rejections: list[Rejected] = []

    async def on_rejected(self, error: Rejected) -> None:
        self.rejections.append(error)


async def test_a_weaver_with_a_weaver_token_weaves_ai_fragments_within_the_share_cap(server: Any) -> None:
    interp = CountingInterpreter(**fast_backoff())
    token = issue_token(server, "harmony", name="interpreter")
    async with interp.connect(server.url, "harmony", token=token), dreamer(server.url, "harmony") as ada:
        assert interp.identity is not None
        assert interp.identity.role == "weaver"
        caption = ada.add_text("lost in a maze of mirrors", 0, 0)
        await caption
        assert len(interp.lexicon.answer(stems("lost in a maze of mirrors"))) == 2
        # One caption, a 50 % cap: one answer lands, the second is refused by the policy.
        await interp.wait_until(lambda: bool(interp.rejections), WAIT)
        await interp.flush(WAIT)
        assert [r.code for r in interp.rejections] == [ErrorCode.AI_SHARE_CAP]
        (answer,) = answers_to(interp, caption.id)
        assert answer.origin == "ai"
        assert_made_by(answer, interp)
        await ada.wait_until(lambda: len(answers_to(ada, caption.id)) == 1, WAIT)
        assert interp.tapestry.ai_share == 0.5
