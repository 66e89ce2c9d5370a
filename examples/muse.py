"""Muse: answers people's captions with a short line from any OpenAI-compatible chat model.

The chat completions API (``POST {base_url}/chat/completions``) is spoken by Ollama, vLLM,
llama.cpp's server and hosted services alike, so one weaver fits them all. Run it with a
local Ollama, for instance::

    ollama pull llama3.2
    dreamloom weave examples/muse.py:Muse --url http://127.0.0.1:8765 --sanctuary dreams \\
        --token "$TOKEN" -o base_url=http://127.0.0.1:11434/v1 -o model=llama3.2

Options (``-o KEY=VALUE`` or constructor arguments): ``base_url`` (default
``$MUSE_BASE_URL`` or Ollama's ``http://127.0.0.1:11434/v1``), ``model`` (``$MUSE_MODEL`` or
``llama3.2``), ``api_key`` (``$MUSE_API_KEY``; hosted services need one), ``timeout``
(seconds, default 30). Nothing is downloaded by the weaver: the model is the server's.
"""

from __future__ import annotations

import os
from typing import Any

import aiohttp

from dreamloom.client import FragmentEvent, Weaver, bounds, on_fragment

SYSTEM = (
    "You answer a line written on a shared dream canvas with one short, evocative line of your "
    "own (at most 12 words), as a dream would. Answer with the line only."
)


class Muse(Weaver):
    name = "muse"
    description = "answers captions with a line from an OpenAI-compatible chat model (Ollama, vLLM, llama.cpp)"

    def __init__(
        self,
        base_url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        timeout: float = 30.0,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.base_url = (base_url or os.environ.get("MUSE_BASE_URL") or "http://127.0.0.1:11434/v1").rstrip("/")
        self.model = model or os.environ.get("MUSE_MODEL") or "llama3.2"
        self.api_key = api_key or os.environ.get("MUSE_API_KEY")
        self.timeout = timeout

    @on_fragment("added", origin="organic", kind="text")
    async def answer(self, event: FragmentEvent) -> None:
        if self.backing_off or self.ai_room < 1:
            return  # the sanctuary has no room for more AI now: do not ask the model for nothing
        # The model is slow: ask beside the handlers, so other events keep flowing.
        self.spawn(self.reply(event.fragment.id, event.fragment.geom["text"]))

    async def reply(self, source_id: str, caption: str) -> None:
        line = (await self.ask(caption)).strip().strip('"')[:200]
        source = self.tapestry.get(source_id)
        if not line or source is None:
            return
        box = bounds(source)
        self.show_cursor(box.x0, box.y1 + 24)
        self.add_text(line, box.x0, box.y1 + 24, size=14, inspired_by=[source_id])

    async def ask(self, caption: str) -> str:
        """One chat completion: the caption in, the model's line out (TimeoutError after ``timeout``)."""
        body = {
            "model": self.model,
            "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": caption}],
            "max_tokens": 60,
            "temperature": 0.8,
        }
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.post(f"{self.base_url}/chat/completions", json=body, headers=headers) as response,
        ):
            response.raise_for_status()
            data = await response.json()
        content: str = data["choices"][0]["message"]["content"]
        return content
