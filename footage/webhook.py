"""POSTing watch's messages to a URL, in a thread of its own, so a slow or dead receiver never holds the
stream back: each message is retried with a doubling wait (TRIES in all), and at most QUEUE wait their turn
(past that the oldest is dropped, and that is said)."""

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


def check(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise BadValue(f"--webhook {url!r}: not an http:// or https:// URL")
    return url


class Webhook:
    def __init__(self, url: str, said: Callable[[str], None] | None = None):
        self.url, self.said = check(url), said or (lambda message: None)
        self.queue: queue.Queue = queue.Queue(QUEUE)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def __call__(self, message: dict) -> None:
        """Queues a message; never waits."""
        while True:
            try:
                self.queue.put_nowait(message)
                return
            except queue.Full:
                try:
                    self.queue.get_nowait()
                    self.said(f"webhook {self.url}: {QUEUE} messages waiting; the oldest is dropped")
                except queue.Empty:
                    pass

    def close(self, wait: float = TIMEOUT) -> None:
        """Sends what is queued, waiting at most `wait` seconds for it."""
        self.queue.put(None)
        self.thread.join(wait)

    def _run(self) -> None:
        while (message := self.queue.get()) is not None:
            body = json.dumps(message).encode()
            wait = FIRST_WAIT
            for attempt in range(1, TRIES + 1):
                try:
                    request = urllib.request.Request(
                        self.url, body, {"Content-Type": "application/json"}, method="POST"
                    )
                    with urllib.request.urlopen(request, timeout=TIMEOUT):
                        break
                except (urllib.error.URLError, OSError, ValueError) as e:
                    if attempt == TRIES:
                        self.said(f"webhook {self.url}: a {message.get('type')} message not delivered ({e})")
                    else:
                        time.sleep(wait)
                        wait *= 2
