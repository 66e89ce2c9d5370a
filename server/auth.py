"""Signed access tokens (SPEC P2): who someone is, their role, and where.

A token is a JWT signed with HS256 by the server's secret. Claims::

    sub   stable identity id (letters, digits, _ . : -)
    name  display name
    role  steward | dreamer | weaver | viewer
    snc   the sanctuary it is valid for, or "*" for every sanctuary
    iat, exp, jti   issue time, expiry, unique token id (revocation is by jti)
    iss, aud        always "dreamloom"
    gst   optional, true on a guest token the server issued to a visitor (P3)

Only HS256 is accepted (never ``none``, never an algorithm named by the token),
tokens longer than the protocol's limit are refused before decoding, and every
claim above is required. The secret is generated into the data directory on
first use (mode 0600) unless one is configured.
"""

from __future__ import annotations

import base64
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import orjson

from dreamloom.protocol import DEFAULT_LIMITS, ErrorCode, ProtocolError
from dreamloom.protocol.messages import ROLES
from dreamloom.protocol.validate import ID_RE

ALGORITHM = "HS256"
ISSUER = "dreamloom"
AUDIENCE = "dreamloom"
ALL_SANCTUARIES = "*"
SECRET_FILE = "token-secret"
DEFAULT_TTL = 30 * 24 * 3600.0
MAX_TTL = 366 * 24 * 3600.0
#: A guest keeps one identity for a year of visits; then a new one is issued.
GUEST_TTL = 365 * 24 * 3600.0
GUEST_PREFIX = "guest-"
_REQUIRED = ["sub", "name", "role", "snc", "iat", "exp", "jti", "iss", "aud"]


@dataclass(frozen=True, slots=True)
class Claims:
    """The verified content of a token."""

    sub: str
    name: str
    role: str
    sanctuary: str
    iat: float
    exp: float
    jti: str
    guest: bool = False

    def covers(self, sanctuary: str) -> bool:
        return self.sanctuary in (ALL_SANCTUARIES, sanctuary)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sub": self.sub,
            "name": self.name,
            "role": self.role,
            "sanctuary": self.sanctuary,
            "iat": self.iat,
            "exp": self.exp,
            "jti": self.jti,
            "guest": self.guest,
        }


def load_or_create_secret(data_dir: Path, configured: str = "") -> bytes:
    """The signing secret: the configured one, else the data directory's, created on first run."""
    if configured:
        if len(configured) < 32:
            raise ValueError("the token secret must be at least 32 characters long")
        return configured.encode()
    path = Path(data_dir) / SECRET_FILE
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32).encode()
    try:
        # O_EXCL: two servers starting on one data directory agree on the first secret written.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret(path)
    with os.fdopen(fd, "wb") as f:
        f.write(value)
        f.flush()
        os.fsync(f.fileno())
    return value


def _read_secret(path: Path) -> bytes:
    value = path.read_bytes().strip()
    if len(value) < 32:
        raise ValueError(f"the token secret in {path.name} is too short")
    return value


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


_HS256_HEADER = _b64url(orjson.dumps({"alg": ALGORITHM, "typ": "JWT"}))


def _sign_hs256(payload: dict[str, Any], secret: bytes) -> str:
    """A compact HS256 JWT (RFC 7519). Signed here, not by PyJWT, because every guest's join
    signs one: PyJWT vets the key as a possible JWK (a JSON parse) at every call. Verifying
    stays with PyJWT."""
    signing_input = _HS256_HEADER + b"." + _b64url(orjson.dumps(payload))
    signature = _b64url(hmac.digest(secret, signing_input, "sha256"))
    return (signing_input + b"." + signature).decode("ascii")


def new_subject(role: str) -> str:
    """A fresh identity id for an invite."""
    return f"{role}-{secrets.token_hex(6)}"


class TokenAuthority:
    """Issues and verifies tokens with one secret."""

    def __init__(self, secret: bytes, *, max_len: int = DEFAULT_LIMITS.max_token_len, leeway: float = 5.0) -> None:
        if len(secret) < 32:
            raise ValueError("the token secret must be at least 32 bytes")
        self._secret = secret
        self.max_len = max_len
        self.leeway = leeway

    def rekey(self, secret: bytes) -> None:
        """Sign and verify with ``secret`` from now on (a cluster node adopts the cluster's at start)."""
        if len(secret) < 32:
            raise ValueError("the token secret must be at least 32 bytes")
        self._secret = secret

    def issue(
        self,
        *,
        role: str,
        sanctuary: str,
        name: str,
        ttl: float = DEFAULT_TTL,
        sub: str | None = None,
        now: float | None = None,
        guest: bool = False,
    ) -> tuple[str, Claims]:
        """Sign a token; returns it with its claims."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if sanctuary != ALL_SANCTUARIES and not _valid_id(sanctuary):
            raise ValueError("sanctuary must be a sanctuary id or '*'")
        if not 0 < ttl <= MAX_TTL:
            raise ValueError(f"ttl must be within (0, {MAX_TTL:g}] seconds")
        if len(name) > DEFAULT_LIMITS.max_name_len:
            raise ValueError(f"name must be at most {DEFAULT_LIMITS.max_name_len} characters")
        sub = sub or new_subject(role)
        if not _valid_id(sub):
            raise ValueError("sub may contain only letters, digits and _ . : -")
        iat = int(time.time() if now is None else now)
        claims = Claims(sub, name, role, sanctuary, iat, iat + int(ttl), secrets.token_hex(12), guest)
        payload: dict[str, Any] = {
            "sub": claims.sub,
            "name": claims.name,
            "role": claims.role,
            "snc": claims.sanctuary,
            "iat": iat,
            "exp": int(claims.exp),
            "jti": claims.jti,
            "iss": ISSUER,
            "aud": AUDIENCE,
        }
        if guest:
            payload["gst"] = True
        return _sign_hs256(payload, self._secret), claims

    def issue_guest(self, name: str, *, weaver: bool = False, now: float | None = None) -> tuple[str, Claims]:
        """A guest token for a visitor without one: a fresh identity nobody else can present (P3).

        A person's app gets role ``dreamer``, a weaver role ``weaver`` (stamped ``ai``). The
        scope is every sanctuary, but a guest token never opens an ``invite`` sanctuary.
        """
        sub = f"{GUEST_PREFIX}{secrets.token_hex(8)}"
        role = "weaver" if weaver else "dreamer"
        return self.issue(
            role=role,
            sanctuary=ALL_SANCTUARIES,
            name=name[: DEFAULT_LIMITS.max_name_len],
            ttl=GUEST_TTL,
            sub=sub,
            now=now,
            guest=True,
        )

    def verify(self, token: str) -> Claims:
        """The claims of a valid token, or :class:`ProtocolError` ``unauthorized``/``token_expired``."""
        if not token or len(token) > self.max_len:
            raise ProtocolError(ErrorCode.UNAUTHORIZED, "token is empty or too long")
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != ALGORITHM:
                raise ProtocolError(ErrorCode.UNAUTHORIZED, f"token must be signed with {ALGORITHM}")
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=self.leeway,
                options={"require": _REQUIRED},
            )
        except jwt.ExpiredSignatureError:
            raise ProtocolError(ErrorCode.TOKEN_EXPIRED, "token has expired: ask the steward for a new one") from None
        except jwt.InvalidTokenError as exc:
            raise ProtocolError(ErrorCode.UNAUTHORIZED, f"invalid token: {_short(exc)}") from None
        return _claims(payload)


def _claims(p: dict[str, Any]) -> Claims:
    sub, name, role, snc, jti = p["sub"], p["name"], p["role"], p["snc"], p["jti"]
    if type(sub) is not str or not _valid_id(sub):
        raise ProtocolError(ErrorCode.UNAUTHORIZED, "invalid token: bad subject")
    if type(name) is not str or len(name) > DEFAULT_LIMITS.max_name_len:
        raise ProtocolError(ErrorCode.UNAUTHORIZED, "invalid token: bad name")
    if role not in ROLES:
        raise ProtocolError(ErrorCode.UNAUTHORIZED, "invalid token: unknown role")
    if type(snc) is not str or not (snc == ALL_SANCTUARIES or _valid_id(snc)):
        raise ProtocolError(ErrorCode.UNAUTHORIZED, "invalid token: bad sanctuary scope")
    if type(jti) is not str or not 8 <= len(jti) <= 64:
        raise ProtocolError(ErrorCode.UNAUTHORIZED, "invalid token: bad token id")
    iat, exp, gst = p["iat"], p["exp"], p.get("gst", False)
    # RFC 7519 NumericDate: a JSON number. PyJWT converts strings with int(); we do not.
    if not _numeric_date(iat) or not _numeric_date(exp):
        raise ProtocolError(ErrorCode.UNAUTHORIZED, "invalid token: iat and exp must be numbers")
    if type(gst) is not bool:
        raise ProtocolError(ErrorCode.UNAUTHORIZED, "invalid token: gst must be a boolean")
    return Claims(sub, name, role, snc, float(iat), float(exp), jti, gst)


def _numeric_date(value: Any) -> bool:
    return type(value) in (int, float) and value == value and abs(value) < 2**53


def _valid_id(value: str) -> bool:
    return 0 < len(value) <= DEFAULT_LIMITS.max_id_len and ID_RE.match(value) is not None


def _short(exc: Exception) -> str:
    # PyJWT messages never contain the token itself; keep them short for the wire.
    return str(exc)[:200] or type(exc).__name__
