"""The built-in weavers against a live server while a scripted person draws."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from client_kit import WAIT

from dreamloom.client import Fragment, FragmentEvent, Ready, Rejected, Weaver
from dreamloom.client.geometry import bounds
from dreamloom.client.testing import dreamer, fast_backoff, issue_token, serve_in_process, set_policy
from dreamloom.client.weavers.harmonizer import Harmonizer
from dreamloom.client.weavers.interpreter import Interpreter, stems
from dreamloom.client.weavers.kaleidoscope import Kaleidoscope
from dreamloom.protocol import Tapestry


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


async def test_harmonizer_dresses_ai_answers_in_their_sources_colours_and_adds_nothing(server: Any) -> None:
    await set_policy(server, "woven", ai_share_cap=0.5)
    harm = Harmonizer(**fast_backoff())
    painter = Weaver(name="painter", **fast_backoff())
    tokens = [issue_token(server, "woven", name=name) for name in ("harmonizer", "painter")]
    async with (
        harm.connect(server.url, "woven", token=tokens[0]),
        painter.connect(server.url, "woven", token=tokens[1]),
        dreamer(server.url, "woven", name="ada") as ada,
    ):
        red = ada.add_stroke([0, 0, 30, 10], x=40, y=40, style={"color": "#ff7a90", "width": 3})
        blue = ada.add_stroke([0, 0, 30, 10], x=140, y=40, style={"color": "#3050ff"})
        await red
        await blue
        await painter.wait_until(lambda: blue.id in painter.tapestry, WAIT)
        answer = painter.add_symbol(
            "moon", 100, 120, style={"color": "#00ff00", "width": 2}, inspired_by=[red.id, blue.id]
        )
        await answer
        mean = "#9865c8"  # the mean of #ff7a90 and #3050ff
        await ada.wait_until(lambda: ada.tapestry.get(answer.id).style.get("color") == mean, WAIT)  # type: ignore[union-attr]
        assert ada.tapestry.get(answer.id).style["width"] == 2  # type: ignore[union-attr]  # the rest of the style stays
        # A person recolours a source: the answer follows.
        ada.update(blue.id, style={"color": "#ff7a90"})
        await ada.wait_until(lambda: ada.tapestry.get(answer.id).style.get("color") == "#ff7a90", WAIT)  # type: ignore[union-attr]
        await harm.flush(WAIT)
        server_t = await server_tapestry(server, "woven")
        assert harm.identity is not None
        assert [f for f in server_t.fragments() if f.author == harm.identity.id] == []  # it added nothing
        assert server_t.live_counts == {"organic": 2, "ai": 1}
        assert [f.style for f in server_t.fragments() if f.origin == "organic"] == [
            {"color": "#ff7a90", "width": 3},
            {"color": "#ff7a90"},
        ]  # people's fragments are only ever changed by people


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
        # One caption, a 50 % cap: room for one answer, so it sends one (and nothing is refused).
        await ada.wait_until(lambda: len(answers_to(ada, caption.id)) == 1, WAIT)
        await interp.flush(WAIT)
        assert interp.rejections == []
        (answer,) = answers_to(interp, caption.id)
        assert answer.origin == "ai"
        assert_made_by(answer, interp)
        await ada.wait_until(lambda: len(answers_to(ada, caption.id)) == 1, WAIT)
        assert interp.tapestry.ai_share == 0.5


def _centroid(frag: Fragment) -> tuple[float, float]:
    pts = frag.geom["pts"]
    xs, ys = pts[0::2], pts[1::2]
    return (frag.x + sum(xs) / len(xs), frag.y + sum(ys) / len(ys))


async def test_P6_kaleidoscope_rosettes_are_whole_or_absent_around_their_stroke_and_within_the_cap(
    server: Any,
) -> None:
    await set_policy(server, "rosettes", ai_share_cap=0.75)  # room for 3 AI per organic fragment
    kal = CountingKaleidoscope(folds=6, **fast_backoff())
    token = issue_token(server, "rosettes", name="kaleidoscope")
    async with kal.connect(server.url, "rosettes", token=token), dreamer(server.url, "rosettes") as ada:
        strokes = []
        for i in range(4):
            made = ada.add_stroke([0, 0, 40, 0, 40, 20], x=1000 * i, y=500, style={"color": "#ff7a90"})
            strokes.append(made)
            await made
            await kal.wait_until(lambda m=made: m.id in kal.seen, WAIT)
        await kal.flush(WAIT)
        assert kal.rejections == []  # never a refused copy: it checked the room first
        server_t = await server_tapestry(server, "rosettes")
        counts = server_t.live_counts
        assert counts["ai"] <= 0.75 * (counts["ai"] + counts["organic"])
        for stroke in strokes:
            source = server_t.get(stroke.id)
            assert source is not None
            copies = [f for f in server_t.fragments() if stroke.id in f.inspired_by]
            assert len(copies) in (0, 5), "a rosette is whole or absent"
            for copy in copies:  # turned around the stroke's own centre, not the canvas origin
                assert _centroid(copy) == pytest.approx(_centroid(source), abs=0.05)
        assert sum(1 for s in strokes if s.id in kal.skipped) >= 1
        assert any(len([f for f in server_t.fragments() if s.id in f.inspired_by]) == 5 for s in strokes)


class CountingKaleidoscope(Kaleidoscope):
    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.rejections: list[Rejected] = []
        self.seen: list[str] = []

    async def on_fragment_added(self, event: FragmentEvent) -> None:
        await super().on_fragment_added(event)
        self.seen.append(event.id)

    async def on_rejected(self, error: Rejected) -> None:
        self.rejections.append(error)


async def test_P7_kaleidoscope_sends_no_rosette_the_ai_rate_would_cut(server: Any) -> None:
    await set_policy(server, "slow-rate", ai_share_cap=1.0, ai_rate_per_weaver=7)
    kal = CountingKaleidoscope(folds=6, **fast_backoff())
    token = issue_token(server, "slow-rate", name="kaleidoscope")
    async with kal.connect(server.url, "slow-rate", token=token), dreamer(server.url, "slow-rate") as ada:
        first = ada.add_stroke([0, 0, 40, 0], x=0, y=0)
        second = ada.add_stroke([0, 0, 40, 0], x=500, y=0)
        await kal.wait_until(lambda: second.id in kal.seen, WAIT)
        await kal.flush(WAIT)
        assert kal.ai_rate_room == 2
        assert len(answers_to(kal, first.id)) == 5  # 5 of the 7 ops a minute
        assert answers_to(kal, second.id) == []  # 5 more would pass the rate: none sent
        assert kal.skipped == [second.id]
        assert kal.rejections == []


async def test_interpreter_answers_in_free_space_never_over_peoples_fragments(server: Any) -> None:
    await set_policy(server, "crowded", ai_share_cap=1.0)
    interp = CountingInterpreter(size=44, **fast_backoff())
    token = issue_token(server, "crowded", name="interpreter")
    async with interp.connect(server.url, "crowded", token=token), dreamer(server.url, "crowded") as ada:
        # People's work right where answers would naturally go: on the caption's right (in an
        # arc, as a simple placement would put them), below it, and on its left.
        text = "lost in a maze of mirrors under the moon"
        box = bounds(Fragment("c", "text", 0, 0, {"text": text, "size": 20}, {}, "V", "", "organic", (), False, False))
        (cx, cy), radius = box.center, max(box.x1 - box.x0, box.y1 - box.y0) / 2 + 44
        arc = [(cx + radius * math.cos(a), cy + radius * math.sin(a)) for a in (-math.pi / 4, 0, math.pi / 4)]
        around = [ada.add_symbol("whale", x, y, size=90) for x, y in arc]
        around += [
            ada.add_symbol("fish", box.x1 + 40, cy, size=80),
            ada.add_stroke([0, 0, 120, 0, 120, 60, 0, 60], x=cx - 60, y=box.y1 + 10),
            ada.add_stroke([0, 0, 60, 0, 60, 60, 0, 60], x=box.x0 - 80, y=cy - 30),
        ]
        for made in around:
            await made
        caption = ada.add_text(text, 0, 0, size=20)
        await ada.wait_until(lambda: len(answers_to(ada, caption.id)) >= 1, WAIT)
        await interp.flush(WAIT)
        answers = answers_to(ada, caption.id)
        organic = [f for f in ada.tapestry if f.origin == "organic"]
        for answer in answers:
            for other in organic:
                assert not bounds(answer).intersects(bounds(other)), f"{answer.geom['sym']} covers {other.id}"
            for other in answers:
                assert other is answer or not bounds(answer).intersects(bounds(other))
        source = bounds(ada.tapestry.get(caption.id))  # type: ignore[arg-type]
        for answer in answers:  # still beside the caption it answers
            (ax, ay), (sx, sy) = bounds(answer).center, source.center
            assert math.hypot(ax - sx, ay - sy) < 400
        assert interp.rejections == []
