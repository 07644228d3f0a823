"""footage serve against hostile clients, on real sockets: a real uvicorn on 127.0.0.1 with the server's own
protocol (footage/serve/connections.py), deadlines shortened so the tests are quick. Connections that send
nothing or half a header are closed at their deadline; a flood of them does not lock out anyone else; what is
refused is a 503 in the problem shape, with the security headers."""

import json
import socket
import threading
import time
import urllib.request
from contextlib import closing, contextmanager

import pytest
import uvicorn

from footage.serve.app import create_app
from footage.serve.connections import Limits, config
from footage.serve.security import Settings

HEADER_SECONDS = 1.0


@contextmanager
def serving(library, limits: Limits):
    """A real server on a free loopback port, in a thread; yields its port."""
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(256)
    server = uvicorn.Server(config(create_app(library, Settings()), limits))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield listening.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(30)
        listening.close()


@pytest.fixture(scope="module")
def port(photo_library):
    limits = Limits(header_seconds=HEADER_SECONDS, waiting_per_client=8, max_per_client=24)
    with serving(photo_library, limits) as port:
        yield port


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes `sock` within `seconds` (what it sends first is read and dropped)."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            continue
        except OSError:  # reset
            return True
    return False


def stats(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/stats", timeout=10) as response:
        assert json.load(response)["videos"] == 1
        return response.status


def response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of the one response the server sends on `sock` before it closes it."""
    data = b""
    sock.settimeout(10)
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def test_silent_and_half_header_connections_close_at_the_deadline(port):
    silent = [connect(port) for _ in range(3)]
    half = [connect(port) for _ in range(3)]
    for s in half:
        s.sendall(b"GET /api/v1/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # and nothing more
    after_one = connect(port)  # a first request answered, then half of a second: the same deadline
    after_one.sendall(b"GET /api/v1/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert after_one.recv(65536).startswith(b"HTTP/1.1 200")
    after_one.sendall(b"GET /api/v1/stats HTTP/1.1\r\n")
    for s in [*silent, *half, after_one]:
        with closing(s):
            assert closed_within(s, HEADER_SECONDS + 5)


def test_a_flood_of_idle_connections_does_not_lock_out_others(port):
    flood = [connect(port) for _ in range(70)]  # more than uvicorn's limit of 64 that 63 of them filled before
    try:
        for s in flood[::2]:
            s.sendall(b"GET / HTTP/1.1\r\n")
        time.sleep(0.5)  # held, as a flood is, not in the middle of being accepted (then a 503 may say wait)
        for _ in range(20):  # honest requests while the flood is connected: answered, every one
            assert stats(port) == 200
    finally:
        for s in flood:
            s.close()


def test_at_its_limit_an_address_is_refused_in_the_problem_shape(port):
    # requests whose bodies never come are no idle connections to close early: 24 of them fill this address's share
    stuck = []
    try:
        for _ in range(24):
            stuck.append(connect(port))
            stuck[-1].sendall(b"POST /api/v1/jobs/index HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{")
            time.sleep(0.02)  # read by the server before the next connects (else it is a waiting one, closed first)
        assert stats(port) == 200  # a client that sends its request at once is served all the same
        with closing(connect(port)) as refused:  # one that sends nothing is told, at once
            status, headers, body = response(refused)
        assert status == 503 and headers["content-type"] == "application/problem+json"
        assert headers["x-content-type-options"] == "nosniff" and "default-src" in headers["content-security-policy"]
        assert headers["retry-after"] == "5"
        problem = json.loads(body)
        assert problem["status"] == 503 and problem["error"] == "busy" and "too many connections" in problem["detail"]
    finally:
        for s in stuck:
            s.close()
    deadline = time.monotonic() + 10
    while True:  # once they are gone, the address is served again
        try:
            assert stats(port) == 200
            break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.2)


def test_a_body_that_never_ends_is_cut_off(photo_library):
    with serving(photo_library, Limits(header_seconds=HEADER_SECONDS, body_seconds=1.0)) as port:
        with closing(connect(port)) as slow:
            slow.sendall(b"POST /api/v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\nab")
            assert closed_within(slow, HEADER_SECONDS + 1.0 + 5)
        assert stats(port) == 200


def test_what_h11_cannot_parse_is_a_400_problem(port):
    with closing(connect(port)) as s:
        s.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        status, headers, body = response(s)
    assert status == 400 and headers["content-type"] == "application/problem+json" and json.loads(body)["status"] == 400
