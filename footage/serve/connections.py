"""The server's connections, held against hostile clients: uvicorn's h11 protocol with deadlines and limits.

uvicorn closes an idle connection only after a first response (its keep-alive timeout); a connection that sends
nothing, or half a header, stays open, and enough of them fill the connection limit so that every other client
is refused. Here every connection must finish its request line and headers within HEADER_SECONDS of opening
(or of the end of its previous response), and a request's body within BODY_SECONDS. A moment after a
connection opens (ADMIT_SECONDS, once what came with it is read), the limits apply: a client (one IP address)
keeps at most WAITING_PER_CLIENT connections that have not sent a whole request (a new one closes its oldest),
and MAX_PER_CLIENT connections in all; a connection that has sent its request is served, one that has not and
finds no room is refused. Refusals are 503 in the API's problem shape, with the security headers.
"""

import asyncio
import json
import socket
import time
from dataclasses import dataclass

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from footage.serve.schemas import HEADERS, problem

MAX_REQUESTS = 64  # requests being answered at once (the app's Busy layer); more are answered 503
SHUTDOWN_SECONDS = 10  # Ctrl-C or SIGTERM: requests still running after this are dropped, the server exits
ADMIT_SECONDS = 0.01  # a new connection's limits are applied after this: what came with it has been read


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
    return type("GuardedH11", (GuardedH11,), {"limits": limits, "clients": {}})


class GuardedH11(H11Protocol):
    limits = Limits()
    clients: dict = {}  # address -> its open connections; each protocol() class (each server) has its own

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)
        self.opened, self.deadline, self.body_due, self.refused = time.monotonic(), None, None, False
        self.admitted = False  # not closed to make room before its own admission: it has had no time to send
        self.address = self.client[0] if self.client else None
        self.peers = self.clients.setdefault(self.address, set())
        self.peers.add(self)
        self.arm(self.limits.header_seconds)
        # the limits are applied a moment later, when the loop has read what came with the connection: a client
        # that sends its request at once is then no waiting connection (a flood accepted in one go is)
        self.loop.call_later(ADMIT_SECONDS, self.admit)

    def admit(self) -> None:
        """Applies the limits to this new connection: the oldest waiting connections of its address, then of all,
        make room; one that still has no room and has not sent its request is refused."""
        self.admitted = True
        if not self.live():
            return
        mine = [c for c in self.peers if c is not self and c.live()]
        idle = [c for c in mine if c.idle()]
        self.make_room(idle, len(idle) - self.limits.waiting_per_client + 1)  # its unfinished ones: the oldest go
        mine = [c for c in mine if c.live()]
        self.make_room([c for c in mine if c.idle()], len(mine) - self.limits.max_per_client + 1)
        if sum(c.live() for c in mine) >= self.limits.max_per_client and self.idle() and not self.unread():
            return self.refuse("too many connections from your address")
        over = len(self.connections) - self.limits.max_connections
        if over > 0:  # rare: only then is every connection looked at
            self.make_room([c for c in self.connections if c is not self and c.idle()], over)
            if len(self.connections) - sum(not c.live() for c in self.connections) > self.limits.max_connections:
                if self.idle() and not self.unread():
                    return self.refuse("too many connections")

    @staticmethod
    def make_room(idle: list, count: int) -> None:
        """Closes the `count` oldest of these idle connections that have nothing unread."""
        for old in sorted(idle, key=lambda c: c.opened):
            if count <= 0:
                return
            if not old.unread():
                old.transport.close()
                count -= 1

    def live(self) -> bool:
        return not self.refused and not self.transport.is_closing()

    def idle(self) -> bool:
        """Admitted and not refused, and still sending a request line and headers, or idle between requests."""
        return (
            getattr(self, "admitted", False)
            and self.live()
            and self.conn.their_state is h11.IDLE
            and not (self.cycle is not None and not self.cycle.response_complete)
        )

    def unread(self) -> bool:
        """Whether the client has sent what the loop has not read yet (a client on the same address as a flood
        sends its request at once: that is not a connection to close)."""
        sock = self.transport.get_extra_info("socket")
        if sock is None:
            return False
        try:
            with socket.fromfd(sock.fileno(), sock.family, sock.type) as peek:  # a duplicate, to peek with
                return bool(peek.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except OSError:  # BlockingIOError: nothing sent
            return False

    def refuse(self, why: str) -> None:
        """503 at once, without reading the request; the connection closes when the client has read it."""
        self.refused = True
        try:
            self.transport.write(raw_problem(503, "busy", f"{why}; try again in a moment", {"Retry-After": "5"}))
            if self.transport.can_write_eof():
                self.transport.write_eof()
        except OSError:  # gone already
            self.transport.abort()
            return
        self.loop.call_later(1.0, self.transport.close)

    def data_received(self, data: bytes) -> None:
        if not self.refused:
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
        self.peers.discard(self)
        if not self.peers:
            self.clients.pop(self.address, None)
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
        timeout_graceful_shutdown=SHUTDOWN_SECONDS,
    )
