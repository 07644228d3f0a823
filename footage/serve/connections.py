"""The server's connections, held against hostile clients: uvicorn's h11 protocol with deadlines and limits.

uvicorn closes an idle connection only after a first response (its keep-alive timeout); a connection that sends
nothing, or half a header, stays open, and enough of them fill the connection limit so that every other client
is refused. Here every connection must finish its request line and headers within HEADER_SECONDS of opening
(or of the end of its previous response), and a request's body within BODY_SECONDS; a client (one IP address)
may hold at most WAITING_PER_CLIENT connections that have not finished their headers (a new one closes its
oldest), and MAX_PER_CLIENT connections in all. What is refused is answered 503 in the API's problem shape,
with the security headers.
"""

import asyncio
import json
import time
from dataclasses import dataclass

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from footage.serve.models import HEADERS, problem

MAX_REQUESTS = 64  # requests being answered at once (the app's Busy layer); more are answered 503


@dataclass(frozen=True)
class Limits:
    header_seconds: float = 5.0  # the request line and headers, from connect or from the previous response
    body_seconds: float = 60.0  # a request's body, from its headers: 20 MB at 350 kB/s
    waiting_per_client: int = 8  # connections of one address still sending their headers; more close the oldest
    max_per_client: int = 64  # connections of one address in all
    max_connections: int = 512  # connections in all (well under the process's open-file limit)


def raw_problem(status: int, title: str, detail: str, extra: dict[str, str] | None = None) -> bytes:
    """A whole HTTP/1.1 response in the problem shape, for answers given before the app sees a request."""
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail, "error": title})
    headers = {"Content-Type": "application/problem+json", "Content-Length": str(len(body)), "Connection": "close",
               **HEADERS, **(extra or {})}  # fmt: skip
    head = f"HTTP/1.1 {status} {title.title()}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (head + "\r\n" + body).encode()


def protocol(limits: Limits) -> type[H11Protocol]:
    """uvicorn's h11 protocol class with these limits (the `http` of a uvicorn.Config)."""
    return type("GuardedH11", (GuardedH11,), {"limits": limits})


class GuardedH11(H11Protocol):
    limits = Limits()

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)
        self.opened, self.deadline, self.body_due, self.refused = time.monotonic(), None, None, False
        self.address = self.client[0] if self.client else None
        def open_now():  # a closed connection stays in the set until the loop has run its connection_lost
            others = [c for c in self.connections if c is not self and not c.transport.is_closing()]
            return others, [c for c in others if getattr(c, "address", None) == self.address]

        others, mine = open_now()
        waiting = sorted((c for c in mine if isinstance(c, GuardedH11) and c.waiting()), key=lambda c: c.opened)
        for old in waiting[: max(0, len(waiting) - self.limits.waiting_per_client + 1)]:
            old.transport.close()  # the oldest of this client's unfinished connections makes room
        others, mine = open_now()
        if len(mine) >= self.limits.max_per_client:
            return self.refuse("too many connections from your address")
        if len(others) >= self.limits.max_connections:
            return self.refuse("too many connections")
        self.arm(self.limits.header_seconds)

    def waiting(self) -> bool:
        """Still sending a request line and headers, or idle between requests."""
        return not self.refused and not self.transport.is_closing() and self.conn.their_state is h11.IDLE

    def refuse(self, why: str) -> None:
        """503 at once, without reading the request; the connection closes when the client has read it."""
        self.refused = True
        self.transport.write(raw_problem(503, "busy", f"{why}; try again in a moment", {"Retry-After": "5"}))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(1.0, self.transport.close)

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return
        super().data_received(data)

    def eof_received(self) -> None:
        if self.refused:
            self.transport.close()

    def arm(self, seconds: float) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
        self.deadline = self.loop.call_later(seconds, self.due)

    def due(self) -> None:
        """The deadline: headers not finished (or a body still coming after BODY_SECONDS) close the connection."""
        self.deadline = None
        if self.transport.is_closing():
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            self.transport.close()
        elif state is h11.SEND_BODY:
            if self.body_due is None:
                self.body_due = True
                self.arm(self.limits.body_seconds)
            else:
                self.transport.close()  # the app reads a disconnect

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.body_due = None
        if not self.transport.is_closing():
            self.arm(self.limits.header_seconds)  # the next request's headers, as for a new connection

    def connection_lost(self, exc: Exception | None) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        """What h11 cannot parse: 400 in the problem shape, and the connection closed."""
        self.transport.write(raw_problem(400, "bad request", "not an HTTP/1.1 request this server can read"))
        self.transport.close()


class Busy:
    """Answers 503 (problem shape, Retry-After) when `limit` requests are being answered already."""

    def __init__(self, app, limit: int):
        self.app, self.limit, self.running = app, limit, 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.running >= self.limit:
            response = problem(503, "busy", "the server is answering many requests; try again in a moment")
            response.headers["Retry-After"] = "5"
            return await response(scope, receive, send)
        self.running += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.running -= 1


def config(app, limits: Limits = Limits()):
    """The uvicorn.Config `footage serve` runs with (tests and bench/serve.py run the same)."""
    import uvicorn

    return uvicorn.Config(
        app,
        http=protocol(limits),
        ws="none",
        log_level="warning",
        access_log=False,
        timeout_keep_alive=limits.header_seconds,  # the deadline above closes idle keep-alives as well
    )
