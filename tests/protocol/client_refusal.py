"""How a client message is refused: whole (W3) or one op at a time (W10a)."""

from __future__ import annotations

from dreamloom.protocol import Codec, DecodeError, ErrorCode, Ops


def client_refusal(codec: Codec, data: bytes) -> ErrorCode | None:
    """The code a client message is refused with, or None if it is accepted whole.

    An ``ops`` message whose ops break a rule but name their stamp and id decodes,
    with those ops set aside as invalid (each gets its own ``reject``); the first
    one's code is returned then.
    """
    try:
        message = codec.decode_client(data)
    except DecodeError as exc:
        return exc.code
    if isinstance(message, Ops) and message.invalid:
        return message.invalid[0].code
    return None
