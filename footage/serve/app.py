"""create_app(library, settings): the FastAPI app. The CLI builds one over the real library; tests build one
over a temporary library.

Every error is JSON in RFC 9457's shape (`{"type", "title", "status", "detail"}`, with `error` as a short
name), with the status that fits: 404 for what the library does not have or whose file is gone, 400 for a
value it cannot take, 409 while another index run holds the library, 507 for a full disk."""

import traceback
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles

from footage import Library, __version__
from footage.errors import (
    BadValue,
    DiskFull,
    FootageError,
    LibraryBusy,
    LibraryDamaged,
    LibraryReadOnly,
    NoLibrary,
    NotFound,
    VideoError,
)
from footage.serve.connections import MAX_REQUESTS, Busy
from footage.serve.jobs import Jobs
from footage.serve.routes import feedback, jobs, media, search, videos
from footage.serve.schemas import HEADERS, problem
from footage.serve.security import Settings

STATIC = Path(__file__).parent / "static"
STATUS = [  # the first class an error is an instance of gives its status
    (NotFound, 404, "not found"),
    (NoLibrary, 404, "no library"),
    (BadValue, 400, "bad value"),
    (VideoError, 422, "not a readable video"),
    (LibraryBusy, 409, "busy"),
    (LibraryReadOnly, 403, "read-only"),
    (DiskFull, 507, "disk full"),
    (LibraryDamaged, 500, "library damaged"),
    (FootageError, 500, "error"),
]


MAX_BODY_BYTES = 21 << 20  # a request's body: the largest picture search, and its multipart framing


class BodyLimit:
    """Refuses a request body larger than MAX_BODY_BYTES with 413, before anything parses it (an upload is
    spooled to disk by the multipart parser, whatever the route would then read of it)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return await problem(413, "too large", f"a request body of at most {MAX_BODY_BYTES >> 20} MB")(
                scope, receive, send
            )
        if length is not None:
            return await self.app(scope, receive, send)
        body, more = [], True  # sent without a length: read here, up to the limit, then handed on
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return
            body.append(message.get("body", b""))
            more = message.get("more_body", False)
            if sum(map(len, body)) > MAX_BODY_BYTES:
                return await problem(413, "too large", f"a request body of at most {MAX_BODY_BYTES >> 20} MB")(
                    scope, receive, send
                )
        whole = {"type": "http.request", "body": b"".join(body), "more_body": False}

        async def replay():
            nonlocal whole
            message, whole = whole, None
            return message or await receive()

        return await self.app(scope, replay, send)


def create_app(library: Library, settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(
        title="footage",
        version=__version__,
        summary="Semantic search over a video library: find moments by describing them.",
        docs_url=None,  # the page is the UI; the OpenAPI document stays at /openapi.json
        redoc_url=None,
    )
    app.state.library, app.state.settings = library, settings
    app.state.jobs = Jobs(library, settings.roots)  # an index job reads nothing outside the roots
    app.state.clips = media.Clips()
    for router in (search.router, videos.router, media.router, jobs.router, feedback.router):
        app.include_router(router)

    @app.exception_handler(FootageError)
    def footage_error(request: Request, e: FootageError) -> JSONResponse:
        status, title = next((s, t) for kind, s, t in STATUS if isinstance(e, kind))
        return problem(status, title, str(e))

    @app.exception_handler(HTTPException)
    def http_error(request: Request, e: HTTPException) -> JSONResponse:
        response = problem(e.status_code, _title(e.status_code), e.detail)
        response.headers.update(e.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    def invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        where = [{"where": ".".join(map(str, err["loc"])), "why": err["msg"]} for err in e.errors()]
        return problem(422, "invalid request", where)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(BodyLimit)
    app.add_middleware(Busy, limit=MAX_REQUESTS)
    if settings.cors:  # an allowed origin reads the API, and loads media with crossorigin (CORS mode)
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors,
            allow_methods=["GET", "HEAD", "POST", "DELETE"],
            allow_headers=["*"],
            expose_headers=["Content-Range", "Accept-Ranges", "Content-Length", "ETag", "Retry-After"],
        )
    app.add_middleware(Guard, hosts=settings.hosts)  # outermost: every answer passes through it
    return app


class Guard:
    """The outermost layer: answers only requests for this machine's names (no DNS rebinding onto localhost),
    puts the security headers on every response, errors included, and turns an unexpected exception into a
    JSON 500 that says nothing of the server's insides (the traceback goes to the server's stderr)."""

    def __init__(self, app, hosts: list[str]):
        self.app, self.hosts = app, {h.lower() for h in hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def secured(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [
                    (k.lower().encode(), v.encode()) for k, v in HEADERS.items() if k.lower().encode() not in names
                ]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        if (
            "*" not in self.hosts
            and host_name(dict(scope["headers"]).get(b"host", b"").decode("latin-1")) not in self.hosts
        ):
            return await problem(400, "bad host", "this server answers only requests for its own names")(
                scope, receive, secured
            )
        try:
            await self.app(scope, receive, secured)
        except Exception:
            traceback.print_exc()
            if not started:
                await problem(500, "internal error", "the server failed on this request; its log says why")(
                    scope, receive, secured
                )


def host_name(header: str) -> str:
    """The name in a Host header, without its port: "127.0.0.1:8765", "[::1]:8765" -> "::1"."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


TITLES = {400: "bad request", 401: "unauthorized", 403: "forbidden", 404: "not found", 405: "method not allowed",
          409: "conflict", 413: "too large", 416: "range not satisfiable", 503: "busy"}  # fmt: skip


def _title(status: int) -> str:
    return TITLES.get(status, "error")
