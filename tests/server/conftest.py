"""Fixtures of the server tests (defined in server_kit, which test modules import by name)."""

from server_kit import server, start_server, wire

__all__ = ["server", "start_server", "wire"]
