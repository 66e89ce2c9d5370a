"""Where a weaver keeps the guest token a server issued it, so it stays the same weaver.

A weaver that connects without a token gets a fresh guest identity and, in ``welcome.token``,
a signed guest token for it (SPEC W5). Presenting that token in every later ``hello`` keeps
the identity: reconnects always reuse it (it lives in memory for the life of the weaver) and,
with an identity file, so does a restarted process.

The file is JSON, readable by its owner only (mode 0600), one guest token per server::

    {"guests": {"ws://127.0.0.1:8765": "eyJhbGciOi..."}}

Only guest tokens go there: a token given to the weaver (``--token``) is its owner's to keep.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("dreamloom.client")

#: The environment variable naming the CLI's identity file, and the folder of its default.
IDENTITY_FILE_ENV = "DREAMLOOM_IDENTITY_FILE"


def server_key(ws_url: str) -> str:
    """The server part of a sanctuary's socket URL: guest tokens are valid server-wide.

    Example:

    >>> server_key("ws://127.0.0.1:8765/ws/dreams")
    'ws://127.0.0.1:8765'
    """
    parts = urlsplit(ws_url)
    return f"{parts.scheme}://{parts.netloc.lower()}"


def default_identity_file(weaver_name: str) -> Path:
    """Where ``dreamloom weave`` keeps a weaver's guest identity unless told otherwise:
    ``$DREAMLOOM_IDENTITY_FILE``, else ``$XDG_STATE_HOME/dreamloom/weavers/NAME.json``
    (``~/.local/state/dreamloom/weavers/NAME.json`` when ``XDG_STATE_HOME`` is unset).

    Example: ``default_identity_file("moonwatcher")``.
    """
    explicit = os.environ.get(IDENTITY_FILE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in weaver_name) or "weaver"
    return Path(state) / "dreamloom" / "weavers" / f"{safe}.json"


class IdentityStore:
    """Guest tokens by server, in memory and, when ``path`` is given, in a file (mode 0600).

    Example::

        store = IdentityStore(tmp_path / "moon.json")
        store.save("ws://127.0.0.1:8765", token)
        assert IdentityStore(tmp_path / "moon.json").load("ws://127.0.0.1:8765") == token
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = None if path is None else Path(path).expanduser()
        self._guests: dict[str, str] = self._read()

    def load(self, server: str) -> str | None:
        """The guest token kept for ``server``, if any. Example: ``store.load(server_key(url))``."""
        return self._guests.get(server)

    def save(self, server: str, token: str) -> None:
        """Keep ``token`` as this weaver's guest identity on ``server``.

        Example: ``store.save("ws://127.0.0.1:8765", welcome.token)``.
        """
        if self._guests.get(server) == token:
            return
        self._guests[server] = token
        self._write()

    def forget(self, server: str) -> None:
        """Drop the guest token of ``server`` (the server no longer accepts it).

        Example: ``store.forget("ws://127.0.0.1:8765")``.
        """
        if self._guests.pop(server, None) is not None:
            self._write()

    def _read(self) -> dict[str, str]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            data: Any = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            # An unreadable file must not stop the weaver: it starts as a new guest.
            log.warning("cannot read the identity file %s (%s): starting as a new guest", self.path, exc)
            return {}
        guests = data.get("guests") if isinstance(data, dict) else None
        if not isinstance(guests, dict):
            return {}
        return {k: v for k, v in guests.items() if isinstance(k, str) and isinstance(v, str)}

    def _write(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"guests": self._guests}, indent=2, sort_keys=True) + "\n"
        # Written beside the target and renamed over it: a crash never leaves half a token,
        # and the file is created 0600 from the start (a token is a credential).
        fd, tmp = tempfile.mkstemp(prefix=".identity-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(body)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
