"""A weaver's identity against a real server: guest tokens kept across reconnects and (with an
identity file) across process restarts, refused guest tokens, the warning without a weaver
token (SPEC W5, P1)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from client_kit import WAIT

from dreamloom.client import Closed, Ready, Weaver
from dreamloom.client.identity import IdentityStore, server_key
from dreamloom.client.testing import dreamer, fast_backoff, issue_token, serve_in_process, set_policy
from dreamloom.protocol import CloseCode

GUEST_WARNING = "without a weaver token"


class Guest(Weaver):
    """A weaver that remembers every welcome."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**fast_backoff(), **options)
        self.readies: list[Ready] = []

    async def on_ready(self, event: Ready) -> None:
        self.readies.append(event)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if GUEST_WARNING in r.getMessage()]


async def test_W5_a_guest_weaver_keeps_its_identity_across_reconnects(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with serve_in_process(data_dir=tmp_path) as server:
        await set_policy(server, "guests", ai_share_cap=1.0)
        weaver = Guest(name="wanderer")
        async with weaver.connect(server.url, "guests"):
            first = weaver.identity
            assert first is not None
            assert (first.role, first.origin) == ("weaver", "ai")
            token = weaver._session.identities.load(server_key(server.ws_url("guests")))
            assert token is not None  # the guest token of the welcome, kept for the next hello
            before_action = weaver.add_symbol("moon", 0, 0)
            before = await before_action
            await server.restart()
            await weaver.wait_until(lambda: len(weaver.readies) == 2 and weaver.connected, WAIT)
            assert weaver.readies[-1].resumed
            assert weaver.identity == first
            after = weaver.add_symbol("star", 40, 0)
            assert await after > before
            server_t = (await server.hub.sanctuary("guests")).tapestry
            assert [server_t.get(a.id).author for a in (before_action, after)] == [first.id, first.id]  # type: ignore[union-attr]
        assert len(_warnings(caplog)) == 1  # once, at connect, not at every reconnect


async def test_W5_a_weaver_with_a_weaver_token_is_not_warned_and_keeps_no_guest_token(
    server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    weaver = Guest(name="moth", identity_file=None)
    token = issue_token(server, "tokens", name="moth")
    async with weaver.connect(server.url, "tokens", token=token):
        assert weaver.identity is not None
        assert weaver.identity.role == "weaver"
    assert _warnings(caplog) == []
    assert weaver._session.identities.load(server_key(server.ws_url("tokens"))) is None


async def test_W5_a_refused_guest_token_gives_way_to_a_new_guest_once(tmp_path: Path) -> None:
    identity_file = tmp_path / "wanderer.json"
    async with serve_in_process(data_dir=tmp_path / "data") as server:
        first = Guest(name="wanderer", identity_file=identity_file)
        async with first.connect(server.url, "renewed"):
            assert first.identity is not None
            old_id, old_replica = first.identity.id, first.replica_id
        await server.stop()
        (tmp_path / "data" / "token-secret").unlink()  # the operator changed the server's secret
        await server.start()
        second = Guest(name="wanderer", identity_file=identity_file)
        second._session.switch_replica(old_replica)  # and the replica id is bound to the old guest
        async with second.connect(server.url, "renewed"):
            assert second.identity is not None
            assert second.identity.id != old_id
            assert second.replica_id != old_replica
            await set_policy(server, "renewed", ai_share_cap=1.0)
            await second.add_symbol("moon", 0, 0)
        kept = IdentityStore(identity_file).load(server_key(server.ws_url("renewed")))
        assert kept is not None
        third = Guest(name="wanderer", identity_file=identity_file)
        async with third.connect(server.url, "renewed"):
            assert third.identity == second.identity


async def test_W14_a_refused_given_token_ends_the_weaver_with_4001(tmp_path: Path) -> None:
    async with serve_in_process(data_dir=tmp_path / "other") as other:
        foreign = issue_token(other, "refused", name="moth")
    async with serve_in_process(data_dir=tmp_path / "data") as server:
        weaver = Guest(name="moth")
        with pytest.raises(Closed) as info:
            await asyncio.wait_for(weaver.serve(server.url, "refused", token=foreign), WAIT)
        assert info.value.code == CloseCode.UNAUTHORIZED
        assert weaver.readies == []


async def test_W5_an_identity_file_keeps_a_guest_weaver_across_process_restarts(tmp_path: Path) -> None:
    (tmp_path / "moonwatcher.py").write_text(MOONWATCHER)
    identity_file = tmp_path / "state" / "moonwatcher.json"
    async with serve_in_process(data_dir=tmp_path / "data") as server:
        await set_policy(server, "restarts", ai_share_cap=1.0)
        async with dreamer(server.url, "restarts", name="ada") as ada:
            authors = []
            for caption in ("a dream of the sea", "a night of owls"):
                proc = await _weave(tmp_path, server.url, "restarts", "--identity-file", str(identity_file))
                try:
                    await ada.wait_until(lambda: any(p.name == "moonwatcher" for p in ada.peers.values()), WAIT)
                    made = ada.add_text(caption, 0, 0)
                    await ada.wait_until(lambda m=made: any(m.id in f.inspired_by for f in ada.tapestry), WAIT)
                    (moon,) = [f for f in ada.tapestry if made.id in f.inspired_by]
                    authors.append(moon.author)
                    assert moon.origin == "ai"
                finally:
                    output = await _interrupt(proc)
                await ada.wait_until(lambda: not any(p.name == "moonwatcher" for p in ada.peers.values()), WAIT)
                assert GUEST_WARNING in output
            assert authors[0] == authors[1]
            assert stat.S_IMODE(identity_file.stat().st_mode) == 0o600
            assert list(json.loads(identity_file.read_text())["guests"]) == [server_key(server.ws_url("restarts"))]


MOONWATCHER = """
from dreamloom.client import FragmentEvent, Weaver


class MoonWatcher(Weaver):
    name = "moonwatcher"

    async def on_fragment_added(self, event: FragmentEvent) -> None:
        if event.organic and event.fragment.kind == "text":
            self.add_symbol("moon", 0, 0, inspired_by=[event.fragment.id])
"""


async def _weave(cwd: Path, url: str, sanctuary: str, *args: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": str(cwd), "XDG_STATE_HOME": str(cwd / "xdg")}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dreamloom",
        "weave",
        "moonwatcher:MoonWatcher",
        "--url",
        url,
        "--sanctuary",
        sanctuary,
        *args,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def _interrupt(proc: asyncio.subprocess.Process) -> str:
    if proc.returncode is None:
        proc.send_signal(signal.SIGINT)
    out, _ = await asyncio.wait_for(proc.communicate(), WAIT)
    assert proc.returncode == 0, out.decode()
    return out.decode()


async def test_W5_a_guest_token_refused_by_an_invite_sanctuary_is_kept_for_the_open_ones(tmp_path: Path) -> None:
    identity_file = tmp_path / "wanderer.json"
    async with serve_in_process(data_dir=tmp_path / "data") as server:
        await set_policy(server, "closed", access="invite")
        first = Guest(name="wanderer", identity_file=identity_file)
        async with first.connect(server.url, "open"):
            assert first.identity is not None
        kept = IdentityStore(identity_file).load(server_key(server.ws_url("open")))
        refused = Guest(name="wanderer", identity_file=identity_file)
        with pytest.raises(Closed) as info:
            await asyncio.wait_for(refused.serve(server.url, "closed"), WAIT)
        assert info.value.code == CloseCode.UNAUTHORIZED
        assert "invite-only" in info.value.reason
        assert IdentityStore(identity_file).load(server_key(server.ws_url("open"))) == kept
        again = Guest(name="wanderer", identity_file=identity_file)
        async with again.connect(server.url, "open"):
            assert again.identity == first.identity


async def test_P5_a_sanctuary_that_refuses_guest_weavers_ends_a_tokenless_weaver_with_the_reason(server: Any) -> None:
    await set_policy(server, "members-only", guest_weavers=False)
    weaver = Guest(name="wanderer")
    with pytest.raises(Closed) as info:
        await asyncio.wait_for(weaver.serve(server.url, "members-only"), WAIT)
    assert info.value.code == CloseCode.FORBIDDEN
    assert "weaver token" in info.value.reason
    assert weaver.readies == []
