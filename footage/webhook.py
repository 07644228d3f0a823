"""POSTing watch's messages to a URL, in a thread of its own, so a slow or dead receiver never holds the
stream back: each message is retried with a doubling wait (TRIES in all), and at most QUEUE wait their turn
(past that the oldest is dropped, and that is said). When watching stops, what is queued is sent for at most
FLUSH_SECONDS, and the number of messages that could not be is said."""

import json
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from urllib.parse import urlparse

from footage.errors import BadValue

TRIES = 5
FIRST_WAIT = 0.5  # seconds before the second try; doubled for each next one
TIMEOUT = 5.0  # seconds a POST may take
QUEUE = 1000
FLUSH_SECONDS = 3.0  # at exit: how long what is queued may take to send


def check(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise BadValue(f"--webhook {url!r}: not an http:// or https:// URL")
    return url


class Webhook:
    def __init__(self, url: str, said: Callable[[str], None] | None = None):
        self.url, self.said = check(url), said or (lambda message: None)
        self.queue: queue.Queue = queue.Queue(QUEUE)
        self.pending = 0  # queued or being sent, and not yet delivered or said to be lost
        self.lock = threading.Lock()
        self.deadline: float | None = None  # set by close: no try begins or waits past it
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def __call__(self, message: dict) -> None:
        """Queues a message; never waits."""
        with self.lock:
            self.pending += 1
        while True:
            try:
                self.queue.put_nowait(message)
                return
            except queue.Full:
                try:
                    self.queue.get_nowait()
                    self._done()
                    self.said(f"webhook {self.url}: {QUEUE} messages waiting; the oldest is dropped")
                except queue.Empty:
                    pass

    def close(self, wait: float = FLUSH_SECONDS) -> int:
        """Sends what is queued for at most `wait` seconds; says how many messages were not delivered, and
        returns that number."""
        self.deadline = time.monotonic() + wait
        self.queue.put(None)  # after every message: the thread ends once they are sent
        self.thread.join(wait)
        with self.lock:
            lost = self.pending
        if lost:
            self.said(f"{lost} webhook message{'s' if lost != 1 else ''} not delivered to {self.url}")
        return lost

    def _done(self) -> None:
        with self.lock:
            self.pending -= 1

    def _left(self) -> float:
        """Seconds left before close's deadline (infinite before close)."""
        return float("inf") if self.deadline is None else self.deadline - time.monotonic()

    def _run(self) -> None:
        while (message := self.queue.get()) is not None:
            if self._left() <= 0:
                continue  # past the deadline: left to be counted as not delivered
            body = json.dumps(message).encode()
            wait = FIRST_WAIT
            for attempt in range(1, TRIES + 1):
                try:
                    request = urllib.request.Request(
                        self.url, body, {"Content-Type": "application/json"}, method="POST"
                    )
                    with urllib.request.urlopen(request, timeout=max(0.1, min(TIMEOUT, self._left()))):
                        self._done()
                        break
                except (urllib.error.URLError, OSError, ValueError) as e:
                    if self._left() <= wait:
                        break  # no time for another try: counted at close
                    if attempt == TRIES:
                        self._done()
                        self.said(f"webhook {self.url}: a {message.get('type')} message not delivered ({e})")
                    else:
                        time.sleep(wait)
                        wait *= 2
