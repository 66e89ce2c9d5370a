"""Size limits of protocol v1. Every limit has an at-limit / one-over test."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds a decoder enforces on untrusted input. The defaults are the spec's."""

    max_message_bytes: int = 256 * 1024
    max_ops_per_batch: int = 256
    max_points_per_stroke: int = 4096
    max_id_len: int = 64
    max_name_len: int = 64
    max_text_len: int = 2000
    max_z_len: int = 128
    max_inspired_by: int = 16
    max_selection: int = 256
    max_token_len: int = 4096
    max_symbol_len: int = 32
    max_coordinate: float = 1e9
    max_peers: int = 1024
    #: Peers a ``welcome`` or one ``peers`` page carries; the rest of a crowded room is paged (W23).
    max_peers_page: int = 256


DEFAULT_LIMITS = Limits()

#: What a client accepts from the server: a ``welcome`` carries the whole tapestry, which a
#: sanctuary at its fragment cap makes far larger than any client message (W4a). The SDK's
#: WebSocket ``max_size`` and its decoder both use this one figure; the browser has no such bound.
CLIENT_SIDE_LIMITS = Limits(max_message_bytes=1024 * 1024 * 1024)
