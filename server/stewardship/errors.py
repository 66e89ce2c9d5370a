"""The one error of stewardship: a request that cannot be done, with a code people can act on."""

from __future__ import annotations

from dreamloom.protocol.errors import DreamloomError
from dreamloom.protocol.validate import ID_RE


class StewardshipError(DreamloomError):
    """A steward's (or a caller's) request refused: ``code`` is an API error code, ``message`` says why.

    Codes: ``bad_request``, ``unauthorized``, ``token_expired``, ``forbidden``, ``banned``,
    ``not_found``, ``shutting_down``. The HTTP layer maps each to its status.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def bad(message: str) -> StewardshipError:
    """A request whose fields are wrong (400)."""
    return StewardshipError("bad_request", message)


def check_id(value: object) -> None:
    """An identity or fragment id named in a request (letters, digits, _ . : -), else 400."""
    if type(value) is not str or not 0 < len(value) <= 128 or not ID_RE.match(value):
        raise bad("expected an id (letters, digits, _ . : -)")
