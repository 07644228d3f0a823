"""One file sent whole or in part (HTTP range requests, RFC 9110 section 14), so a browser seeks in a video
without downloading it. The file is opened once, without following a link, and everything after that reads
the open descriptor: what was checked is what is sent."""

import mimetypes
import os
import re
import stat
from pathlib import Path
from urllib.parse import quote

from fastapi import HTTPException, Request
from starlette.responses import Response, StreamingResponse

from footage.serve.schemas import problem

CHUNK_BYTES = 256 << 10
RANGE = re.compile(r"bytes=(\d*)-(\d*)", re.IGNORECASE)
BEYOND = 1 << 64  # a number of more than 19 digits: past the end of any file
TYPES = {".mkv": "video/x-matroska", ".webm": "video/webm", ".m4v": "video/mp4", ".ts": "video/mp2t",
         ".mts": "video/mp2t", ".m2ts": "video/mp2t", ".mov": "video/quicktime", ".ogv": "video/ogg"}  # fmt: skip


class Unsatisfiable(Exception):
    pass


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The first and last byte a Range header asks for, or None for the whole file: no header, or one this server
    ignores as RFC 9110 (section 14.2) lets it, another unit (`items=0-5`), several ranges or one it cannot parse.
    A range that starts past the end (or the last 0 bytes) raises Unsatisfiable."""
    if header is None:
        return None
    m = RANGE.fullmatch(header.strip())
    if not m or m.group(1) == m.group(2) == "":
        return None
    first, last = (_number(g) if g else None for g in m.groups())
    if first is None:  # the last N bytes
        if last == 0 or size == 0:
            raise Unsatisfiable
        return max(0, size - last), size - 1
    if last is not None and last < first:
        return None  # not a valid range: ignored
    if first >= size:
        raise Unsatisfiable
    return first, size - 1 if last is None else min(last, size - 1)


def _number(digits: str) -> int:
    return int(digits) if len(digits) <= 19 else BEYOND


def matches(header: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names this ETag (weak comparison, RFC 9110 section 13.1.2)."""
    if header is None:
        return False
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag.removeprefix("W/") in tags


def content_type(path: Path) -> str:
    return TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def send_file(request: Request, path: Path, kind: str | None = None, name: str | None = None) -> Response:
    """The file at `path` (never through a link), whole or the range asked for, with its ETag."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        raise HTTPException(404, "the file cannot be opened now") from None
    return send_fd(request, fd, path, kind, name)


def send_fd(request: Request, fd: int, path: Path, kind: str | None = None, name: str | None = None) -> Response:
    """The open file `fd` (named `path`), whole or the range asked for; the descriptor is closed when sent."""
    try:
        return _send(request, fd, path, kind, name)
    except BaseException:
        os.close(fd)
        raise


def _send(request: Request, fd: int, path: Path, kind: str | None, name: str | None) -> Response:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise HTTPException(404, "not a regular file")
    etag = f'"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}"'
    headers = {"Accept-Ranges": "bytes", "ETag": etag, "Cache-Control": "private, max-age=3600"}
    if name:
        headers["Content-Disposition"] = f"attachment; filename=\"clip.mp4\"; filename*=UTF-8''{_quote(name)}"
    if matches(request.headers.get("if-none-match"), etag):  # the browser holds it already
        os.close(fd)
        return Response(status_code=304, headers={k: v for k, v in headers.items() if k != "Content-Disposition"})
    wanted = request.headers.get("range")
    if request.headers.get("if-range") not in (None, etag):  # changed since the part the browser holds
        wanted = None
    try:
        part = byte_range(wanted, st.st_size)
    except Unsatisfiable:
        os.close(fd)
        refused = problem(416, "range not satisfiable", f"this file has {st.st_size} bytes; a range must start in them")
        refused.headers.update({**headers, "Content-Range": f"bytes */{st.st_size}"})
        return refused
    first, last = part or (0, st.st_size - 1)
    headers["Content-Length"] = str(last - first + 1)
    status = 200
    if part is not None:
        status = 206
        headers["Content-Range"] = f"bytes {first}-{last}/{st.st_size}"
    media_type = kind or content_type(path)
    if request.method == "HEAD":
        os.close(fd)
        return Response(status_code=status, headers=headers, media_type=media_type)
    return StreamingResponse(_read(fd, first, last), status_code=status, headers=headers, media_type=media_type)


def _read(fd: int, first: int, last: int):
    try:
        at = first
        while at <= last:
            chunk = os.pread(fd, min(CHUNK_BYTES, last - at + 1), at)
            if not chunk:
                break
            yield chunk
            at += len(chunk)
    finally:
        os.close(fd)


def _quote(name: str) -> str:
    """A file name for Content-Disposition: UTF-8, bytes that are not (a Latin-1 name) written as \\xNN."""
    return quote(os.fsencode(name).decode("utf-8", "backslashreplace").encode("utf-8"), safe="")
