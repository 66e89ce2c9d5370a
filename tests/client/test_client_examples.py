"""The example weavers of ``examples/`` against a real server and small stand-ins for the models
they call (no model runs in the tests)."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from client_kit import WAIT

from dreamloom.client import FragmentEvent, on_fragment
from dreamloom.client.testing import dreamer, fast_backoff, issue_token, set_policy

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def chat_endpoint() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Start an OpenAI-compatible stand-in answering with a given handler; yields its base URL."""
    servers: list[TestServer] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", handler)
        endpoint = TestServer(app, host="127.0.0.1")
        await endpoint.start_server()
        servers.append(endpoint)
        return str(endpoint.make_url("/v1"))

    yield start
    for endpoint in servers:
        await endpoint.close()


async def test_muse_answers_a_caption_with_the_models_line(server: Any, chat_endpoint: Any) -> None:
    asked: list[tuple[dict[str, Any], str | None]] = []

    async def completions(request: web.Request) -> web.Response:
        asked.append((await request.json(), request.headers.get("Authorization")))
        reply = {"choices": [{"index": 0, "message": {"role": "assistant", "content": '"the tide keeps your name"'}}]}
        return web.json_response(reply)

    base_url = await chat_endpoint(completions)
    muse = example("muse").Muse(base_url=base_url, model="tiny", api_key="k-1", **fast_backoff())
    await set_policy(server, "muse", ai_share_cap=0.5)
    token = issue_token(server, "muse", name="muse")
    async with muse.connect(server.url, "muse", token=token), dreamer(server.url, "muse", name="ada") as ada:
        caption = ada.add_text("I walked into the sea at night", 100, 100)
        await ada.wait_until(lambda: any(caption.id in f.inspired_by for f in ada.tapestry), WAIT)
        (line,) = [f for f in ada.tapestry if caption.id in f.inspired_by]
        assert (line.kind, line.geom["text"], line.origin) == ("text", "the tide keeps your name", "ai")
        assert line.y > 100  # below the caption, not on it
    ((body, auth),) = asked
    assert body["model"] == "tiny"
    assert body["messages"][-1] == {"role": "user", "content": "I walked into the sea at night"}
    assert auth == "Bearer k-1"


async def test_muse_gives_up_on_a_silent_model_after_its_timeout(server: Any, chat_endpoint: Any) -> None:
    never = asyncio.Event()

    async def silent(request: web.Request) -> web.Response:
        await never.wait()
        return web.json_response({})

    base_url = await chat_endpoint(silent)
    failures: list[Exception] = []
    failed = asyncio.Event()

    class Watched(example("muse").Muse):  # type: ignore[misc, name-defined]
        async def on_handler_error(self, error: Exception, event: object) -> None:
            failures.append(error)
            failed.set()

    muse = Watched(base_url=base_url, timeout=0.2, **fast_backoff())
    await set_policy(server, "silent", ai_share_cap=0.5)
    token = issue_token(server, "silent", name="muse")
    async with muse.connect(server.url, "silent", token=token), dreamer(server.url, "silent") as ada:
        ada.add_text("is anyone there", 0, 0)
        await asyncio.wait_for(failed.wait(), WAIT)
        assert isinstance(failures[0], TimeoutError)
        assert muse.connected
    never.set()


async def test_muse_asks_nothing_when_the_cap_leaves_no_room(server: Any, chat_endpoint: Any) -> None:
    asked: list[object] = []

    async def completions(request: web.Request) -> web.Response:
        asked.append(await request.json())
        return web.json_response({"choices": [{"message": {"content": "x"}}]})

    class Probed(example("muse").Muse):  # type: ignore[misc, name-defined]
        seen: ClassVar[list[str]] = []

        @on_fragment("added")
        async def after_answer(self, event: FragmentEvent) -> None:
            self.seen.append(event.id)  # runs after Muse.answer for the same event

    base_url = await chat_endpoint(completions)
    muse = Probed(base_url=base_url, **fast_backoff())
    await set_policy(server, "no-room", ai_share_cap=0.0)
    token = issue_token(server, "no-room", name="muse")
    async with muse.connect(server.url, "no-room", token=token), dreamer(server.url, "no-room") as ada:
        caption = ada.add_text("a quiet room", 0, 0)
        await muse.wait_until(lambda: caption.id in muse.seen, WAIT)
        assert not muse._tasks  # nothing was spawned to ask the model
    assert asked == []
