"""Handlers: the decorator form with filters, plain ``def`` handlers, misspelt names, failures of
spawned tasks, and blocking calls kept off the event loop (``run_blocking``)."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest
from client_kit import WAIT

from dreamloom.client import FragmentEvent, UsageError, Weaver, on_fragment
from dreamloom.client.testing import dreamer, fast_backoff, set_policy


class Filtered(Weaver):
    def __init__(self) -> None:
        super().__init__(**fast_backoff())
        self.texts: list[str] = []
        self.organic_changes: list[str] = []
        self.plain: list[str] = []

    @on_fragment("added", origin="organic", kind="text")
    async def person_wrote(self, event: FragmentEvent) -> None:
        self.texts.append(event.fragment.geom["text"])

    @on_fragment("changed", "deleted", origin="organic")
    async def person_changed(self, event: FragmentEvent) -> None:
        self.organic_changes.append(f"{event.action}:{event.id}")

    def on_fragment_added(self, event: FragmentEvent) -> None:  # type: ignore[override]
        self.plain.append(event.id)  # a plain def handler runs too


async def test_decorated_handlers_run_for_the_events_their_filters_name(server: Any) -> None:
    await set_policy(server, "filters", ai_share_cap=1.0)
    weaver = Filtered()
    async with weaver.connect(server.url, "filters"), dreamer(server.url, "filters") as ada:
        caption = ada.add_text("a tide of owls", 0, 0)
        stroke = ada.add_stroke([0, 0, 5, 5])
        await ada.flush(WAIT)
        ada.update(caption.id, x=20)
        ada.delete(stroke.id)
        mine = weaver.add_text("my own words", 0, 50)
        await weaver.wait_until(lambda: len(weaver.organic_changes) == 2 and len(weaver.plain) == 3, WAIT)
        assert weaver.texts == ["a tide of owls"]  # not the stroke, not the weaver's own text
        assert weaver.organic_changes == [f"changed:{caption.id}", f"deleted:{stroke.id}"]
        assert weaver.plain == [caption.id, stroke.id, mine.id]


def test_a_decorator_refuses_unknown_actions() -> None:
    with pytest.raises(UsageError, match="unknown fragment actions"):
        on_fragment("add")  # type: ignore[arg-type]


async def test_misspelt_handlers_are_reported_when_the_weaver_starts(
    server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class Typo(Weaver):
        async def on_fragment_add(self, event: FragmentEvent) -> None: ...

        async def on_fragment_added(self, event: FragmentEvent) -> None: ...

    caplog.set_level(logging.WARNING, "dreamloom.client")
    async with Typo(**fast_backoff()).connect(server.url, "typo", token=None):
        pass
    (message,) = [r.getMessage() for r in caplog.records if "not a handler" in r.getMessage()]
    assert message == "Typo.on_fragment_add is not a handler the SDK calls: did you mean on_fragment_added?"


class Failing(Weaver):
    def __init__(self) -> None:
        super().__init__(**fast_backoff())
        self.failures: list[tuple[str, object]] = []
        self.failed = asyncio.Event()

    async def on_ready(self, event: Any) -> None:
        self.spawn(self.broken())

    async def broken(self) -> None:
        raise ValueError("the model answered nonsense")

    async def on_handler_error(self, error: Exception, event: object) -> None:
        self.failures.append((str(error), event))
        self.failed.set()


async def test_errors_of_spawned_tasks_reach_on_handler_error(server: Any) -> None:
    weaver = Failing()
    async with weaver.connect(server.url, "spawned"):
        await asyncio.wait_for(weaver.failed.wait(), WAIT)
    ((text, event),) = weaver.failures
    assert text == "the model answered nonsense"
    assert isinstance(event, asyncio.Task)


class Slow(Weaver):
    """Its 'model' blocks the thread it runs in until the test releases it."""

    def __init__(self, release: threading.Event) -> None:
        super().__init__(**fast_backoff())
        self.release = release
        self.answers: list[str] = []

    def model(self, text: str) -> str:
        if not self.release.wait(5 * WAIT):
            raise TimeoutError("never released")
        return text.upper()

    @on_fragment("added", origin="organic", kind="text")
    async def answer(self, event: FragmentEvent) -> None:
        self.answers.append(await self.run_blocking(self.model, event.fragment.geom["text"], timeout=5 * WAIT))


async def test_run_blocking_keeps_the_connection_alive_while_a_model_blocks(server: Any) -> None:
    release = threading.Event()
    weaver = Slow(release)
    async with weaver.connect(server.url, "blocking"), dreamer(server.url, "blocking") as ada:
        first = ada.add_text("first", 0, 0)
        await first
        # While the model blocks its thread, the weaver's loop still reads the sanctuary.
        second = ada.add_text("second", 0, 40)
        await weaver.wait_until(lambda: second.id in weaver.tapestry, WAIT)
        assert weaver.answers == []
        release.set()
        await weaver.wait_until(lambda: weaver.answers == ["FIRST", "SECOND"], WAIT)


async def test_run_blocking_raises_timeout_error_after_its_timeout(server: Any) -> None:
    never = threading.Event()
    weaver = Slow(never)
    async with weaver.connect(server.url, "timeout"):
        with pytest.raises(TimeoutError):
            await weaver.run_blocking(never.wait, 5 * WAIT, timeout=0.05)
        never.set()  # lets the abandoned thread end
