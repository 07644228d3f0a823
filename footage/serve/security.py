"""Who may ask, and for what: the server's settings, the bearer token, and signed media URLs.

With a token, every API call needs `Authorization: Bearer TOKEN`. A `<video>` or `<img>` element fetches
its URL without headers, so the media, thumbnail and clip URLs the API hands out carry a short-lived
signature instead: `?exp=UNIX_TIME&sig=HMAC(path, exp)`, made with a secret that lives only in this process.
"""

import hashlib
import hmac
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from fastapi import HTTPException, Request

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
URL_SECONDS = 6 * 3600  # a page left open this long still plays what it found


@dataclass
class Settings:
    token: str | None = None  # None: no auth (loopback only)
    roots: list[Path] = field(default_factory=list)  # folders an index job may read; none: jobs are off
    cors: list[str] = field(default_factory=list)  # origins allowed to call the API from a browser
    hosts: list[str] = field(default_factory=lambda: sorted(LOOPBACK))  # Host headers answered (DNS rebinding)
    secret: bytes = field(default_factory=lambda: os.urandom(32))  # signs media URLs; never leaves the process


def check_token(request: Request) -> None:
    """A dependency of every API route: the bearer token, when the server has one."""
    token = request.app.state.settings.token
    if token is None:
        return
    given = request.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        raise HTTPException(401, "this server needs Authorization: Bearer TOKEN (the token footage serve was given)")


def sign(settings: Settings, path: str) -> str:
    """`path` with the query string that lets it be fetched without a header (nothing when there is no token)."""
    if settings.token is None:
        return path
    expires = int(time.time()) + URL_SECONDS
    return f"{path}?{urlencode({'exp': expires, 'sig': _mac(settings, path, expires)})}"


def check_signature(request: Request) -> None:
    """A dependency of the media routes: a valid, unexpired signature for this path, or the bearer token."""
    settings = request.app.state.settings
    if settings.token is None:
        return
    if request.headers.get("authorization"):
        check_token(request)
        return
    try:
        expires = int(request.query_params.get("exp", ""))
    except ValueError:
        raise HTTPException(401, "a media URL needs the exp and sig the API gave with it") from None
    signature = request.query_params.get("sig", "")
    if expires < time.time() or not hmac.compare_digest(signature, _mac(settings, request.url.path, expires)):
        raise HTTPException(401, "this media URL is not signed or has expired; search again for a new one")


def _mac(settings: Settings, path: str, expires: int) -> str:
    return hmac.new(settings.secret, f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()
