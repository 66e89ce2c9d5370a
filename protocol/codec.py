"""The two codecs of protocol v1: ``dreamloom.v1.msgpack`` and ``dreamloom.v1.json``.

Decoding checks the size first, then parses with the library's own limits,
then validates the structure (SPEC W2-W4). Whatever the input, the only
exception that escapes ``decode_*`` is :class:`DecodeError`. Encoding is
deterministic: the same message gives the same bytes.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator
from typing import Any, ClassVar, Final, Protocol

import msgpack
import orjson

from .errors import DecodeError, ErrorCode
from .limits import DEFAULT_LIMITS, Limits
from .messages import CLIENT_PARSERS, SERVER_PARSERS, ClientMessage, Message, Parser, ServerMessage

MSGPACK: Final = "dreamloom.v1.msgpack"
JSON: Final = "dreamloom.v1.json"
SUBPROTOCOLS: Final = (MSGPACK, JSON)


#: Messages from this size up are parsed with the cyclic garbage collector paused.
_LARGE = 1 << 20


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block (a client decoding a welcome in parts, W36).

    Parsing a big welcome creates millions of containers, none of them garbage: each one counts
    toward a collection, and full collections over them doubled the time to decode it.

    Example::

        with collector_paused():
            parts = [codec.decode_server(frame) for frame in frames]
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_packers = threading.local()


def msgpack_bytes(obj: Any) -> bytes:
    """``msgpack.packb(obj, use_bin_type=True)`` with a packer kept per thread (not made per call)."""
    try:
        packer = _packers.packer
    except AttributeError:
        packer = _packers.packer = msgpack.Packer(use_bin_type=True)
    return packer.pack(obj)  # type: ignore[no-any-return]


class Wire(Protocol):
    def to_wire(self) -> dict[str, Any]: ...


def _reject_ext(code: int, data: bytes) -> Any:
    raise DecodeError(ErrorCode.BAD_ENCODING, "msgpack extension types are not allowed")


class Codec:
    """Base of both codecs: size check, parse, validate, dispatch by type."""

    name: ClassVar[str]
    binary: ClassVar[bool]

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits

    def dumps(self, obj: Any) -> bytes:
        """Encode a plain structure."""
        raise NotImplementedError

    def _loads(self, data: bytes) -> Any:
        raise NotImplementedError

    def loads(self, data: bytes | str) -> Any:
        """Decode bytes into a plain structure, or raise :class:`DecodeError`."""
        if isinstance(data, str):
            try:
                data = data.encode()
            except UnicodeEncodeError:  # lone surrogates: not text any peer could have sent
                raise DecodeError(ErrorCode.BAD_ENCODING, "text is not valid UTF-8") from None
        if len(data) > self.limits.max_message_bytes:
            raise DecodeError(
                ErrorCode.TOO_LARGE, f"message of {len(data)} bytes exceeds {self.limits.max_message_bytes}"
            )
        try:
            if len(data) < _LARGE:
                return self._loads(data)
            with collector_paused():
                return self._loads(data)
        except DecodeError:
            raise
        except Exception as exc:  # every parser failure means the same to the peer
            raise DecodeError(ErrorCode.BAD_ENCODING, f"not valid {self.name}: {type(exc).__name__}") from None

    def encode(self, msg: Wire) -> bytes:
        """Encode a message."""
        return self.dumps(msg.to_wire())

    def _decode(self, data: bytes | str, parsers: dict[str, Parser]) -> Any:
        obj = self.loads(data)
        if type(obj) is not dict:
            raise DecodeError(ErrorCode.BAD_MESSAGE, "a message must be a map")
        mtype = obj.get("type")
        parser = parsers.get(mtype) if type(mtype) is str else None
        if parser is None:
            shown = repr(mtype)[:40]
            raise DecodeError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {shown}")
        try:
            return parser(obj, self.limits)
        except DecodeError:
            raise
        except (TypeError, ValueError, KeyError, RecursionError) as exc:
            # Defence in depth: validators are meant to catch everything first.
            raise DecodeError(ErrorCode.BAD_MESSAGE, f"invalid {mtype}: {type(exc).__name__}") from None

    def decode_client(self, data: bytes | str) -> ClientMessage:
        """Decode a message sent by a client (what the server reads)."""
        msg: ClientMessage = self._decode(data, CLIENT_PARSERS)
        return msg

    def decode_server(self, data: bytes | str) -> ServerMessage:
        """Decode a message sent by the server (what a client reads)."""
        msg: ServerMessage = self._decode(data, SERVER_PARSERS)
        return msg

    def decode(self, data: bytes | str, from_server: bool) -> Message:
        """Decode a message of either direction."""
        return self.decode_server(data) if from_server else self.decode_client(data)


class MsgpackCodec(Codec):
    """``dreamloom.v1.msgpack``: binary frames, msgpack with the str/bin distinction."""

    name = MSGPACK
    binary = True

    def dumps(self, obj: Any) -> bytes:
        return msgpack_bytes(obj)

    def _loads(self, data: bytes) -> Any:
        n = self.limits.max_message_bytes
        return msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            ext_hook=_reject_ext,
            max_str_len=n,
            max_bin_len=n,
            max_array_len=n,
            max_map_len=n,
            max_ext_len=0,
        )


class JsonCodec(Codec):
    """``dreamloom.v1.json``: text frames, UTF-8 JSON (orjson)."""

    name = JSON
    binary = False

    def dumps(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def _loads(self, data: bytes) -> Any:
        return orjson.loads(data)


CODECS: Final[dict[str, type[Codec]]] = {MSGPACK: MsgpackCodec, JSON: JsonCodec}


def codec_for(subprotocol: str, limits: Limits = DEFAULT_LIMITS) -> Codec:
    """The codec of a negotiated subprotocol name."""
    try:
        return CODECS[subprotocol](limits)
    except KeyError:
        raise DecodeError(ErrorCode.BAD_MESSAGE, f"unknown subprotocol {subprotocol!r}") from None
