"""Debian's Chromium for the browser tests: where it is, how it starts, and what happens without it."""

from __future__ import annotations

import os

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_chromium() -> None:
    """Skip without Chromium, except under CI=true where a missing browser is a failure."""
    if os.path.exists(CHROMIUM):
        return
    message = f"{CHROMIUM} is missing: run `make browser-deps` (installs Debian's chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (browser tests never skip under CI=true)")
    pytest.skip(message)
