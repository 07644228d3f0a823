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
from urllib.parse import parse_qsl, urlencode

from fastapi import HTTPException, Request

from footage.errors import BadValue

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
URL_SECONDS = 6 * 3600  # a page left open this long still plays what it found


@dataclass
class Settings:
    token: str | None = None  # None: no auth (loopback only)
    roots: list[Path] = field(default_factory=list)  # folders an index job may read; none: jobs are off
    cors: list[str] = field(default_factory=list)  # origins allowed to call the API from a browser
    hosts: list[str] = field(default_factory=lambda: sorted(LOOPBACK))  # Host headers answered (DNS rebinding)
    secret: bytes = field(default_factory=lambda: os.urandom(32))  # signs media URLs; never leaves the process


def check_exposure(settings: Settings, host: str) -> None:
    """What `footage serve` would expose, checked in one place before it listens; BadValue says what is wrong
    in one line. Another machine (a non-loopback --host) or any web site (--cors '*') reaching the API needs a
    token; a token must not be blank or padded (a header's value is trimmed, so it could never match); the
    --root folders must exist."""
    token = settings.token
    if token is not None and (not token.strip() or token != token.strip()):
        raise BadValue("--token is blank or has spaces around it; give the token itself (no outer spaces)")
    if host not in LOOPBACK and token is None:
        raise BadValue(
            f"--host {host} would let other machines read your videos; give --token TOKEN too (every request "
            "must then carry it), or keep the default --host 127.0.0.1"
        )
    if "*" in settings.cors and token is None:
        raise BadValue("--cors '*' would let any web site you visit read your library; give --token TOKEN too")
    for root in settings.roots:
        if not root.is_dir():
            raise BadValue(f"--root {root}: no such folder")


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": 'Bearer realm="footage"'})


def check_token(request: Request) -> None:
    """A dependency of every API route: the bearer token, when the server has one."""
    token = request.app.state.settings.token
    if token is None:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise unauthorized("this server needs Authorization: Bearer TOKEN (the token footage serve was given)")


def sign(settings: Settings, url: str) -> str:
    """`url` (a path, and its query) with the query string that lets it be fetched without a header: the
    signature covers the path and every parameter, so a clip's URL cuts that clip only. Unchanged when there
    is no token."""
    if settings.token is None:
        return url
    path, _, query = url.partition("?")
    params = parse_qsl(query, keep_blank_values=True)
    expires = int(time.time()) + URL_SECONDS
    signature = _mac(settings, path, params, expires)
    return f"{path}?{urlencode([*params, ('exp', expires), ('sig', signature)])}"


def check_signature(request: Request) -> None:
    """A dependency of the media routes. Another site's page may not load them (its <img> or <video> would
    show or measure your files), but for an origin allowed by --cors that asks in CORS mode (`crossorigin`,
    fetch: the browser sends its Origin); with a token, a valid, unexpired signature for this very URL, or the
    token."""
    settings = request.app.state.settings
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        origin = request.headers.get("origin")
        if origin is None or not ("*" in settings.cors or origin in settings.cors):
            raise HTTPException(403, "media are served to this server's own page, and to --cors origins in CORS mode")
    if settings.token is None:
        return
    if request.headers.get("authorization"):
        check_token(request)
        return
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("exp", "sig")]
    try:
        expires = int(request.query_params.get("exp", ""))
    except ValueError:
        raise unauthorized("a media URL needs the exp and sig the API gave with it") from None
    signature = request.query_params.get("sig", "")
    if expires < time.time() or not hmac.compare_digest(signature, _mac(settings, request.url.path, params, expires)):
        raise unauthorized("this media URL is not signed or has expired; search again for a new one")


def _mac(settings: Settings, path: str, params: list[tuple[str, str]], expires: int) -> str:
    message = "\n".join([path, urlencode(sorted(params)), str(expires)])
    return hmac.new(settings.secret, message.encode(), hashlib.sha256).hexdigest()
