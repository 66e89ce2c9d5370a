"""Shared constants of the client tests."""

from kit.timing import WAIT

__all__ = ["WAIT"]
