"""The limit of the fan-out benchmark: a naive aiohttp WebSocket broadcast server.

It accepts WebSockets on any path and relays every frame it receives, as it is,
to every connected socket (the sender included), one ``send`` per frame per
socket. No parsing, no merge, no storage, no batching: what any server that
relays must pay at least. It runs on the same event loop Dreamloom would pick
(uvloop when installed).

    python bench/baseline_server.py --port 9001
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from aiohttp import WSMsgType, web

SOCKETS = web.AppKey("sockets", set[web.WebSocketResponse])


async def relay(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(compress=False, max_msg_size=256 * 1024)
    await ws.prepare(request)
    sockets = request.app[SOCKETS]
    sockets.add(ws)
    try:
        async for msg in ws:
            if msg.type is WSMsgType.BINARY:
                for peer in tuple(sockets):
                    with contextlib.suppress(ConnectionError, RuntimeError):
                        await peer.send_bytes(msg.data)
            elif msg.type is WSMsgType.TEXT:
                for peer in tuple(sockets):
                    with contextlib.suppress(ConnectionError, RuntimeError):
                        await peer.send_str(msg.data)
    finally:
        sockets.discard(ws)
    return ws


def build_app() -> web.Application:
    app = web.Application()
    app[SOCKETS] = set()
    app.router.add_get("/{path:.*}", relay)
    return app


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="naive WebSocket broadcast server (benchmark baseline)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args(argv)
    loop_name = "asyncio"
    try:
        import uvloop
    except ImportError:
        pass
    else:
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        loop_name = "uvloop"
    print(f"baseline relay on ws://{args.host}:{args.port}/ (loop: {loop_name})", flush=True)
    web.run_app(build_app(), host=args.host, port=args.port, print=None, access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
