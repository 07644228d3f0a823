"""footage watch: a live stream's events and alerts as they happen, on a real stream over the loopback."""

import json
import os
import queue
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from media import PHOTOS, ffmpeg, photo_video

from footage.search import live

ROCKET_AT = 3.0  # seconds into the clip: cat 0-3 s, rocket 3-7 s, cat 7-12 s


def unit(v) -> np.ndarray:
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


def test_a_lasting_match_is_one_alert_and_a_dip_does_not_end_it():
    alerts = live.Alerts(["a rocket"], unit([1, 0, 0])[None], threshold=0.5)
    scores = [0.1, 0.2, 0.6, 0.7, 0.47, 0.6, 0.3, 0.6, 0.2, 0.1, 0.1, 0.1]  # 0.47: within the hysteresis
    log = []
    for t, score in enumerate(scores):
        started, ended = alerts.add(float(t), unit([score, np.sqrt(1 - score**2), 0]))
        log += [("start", a.start) for a in started] + [("end", a.start, a.end) for a in ended]
    # one dip to 0.3 lasts a second: not the end; from 8 s it stays under, and 2 s later it has ended
    assert log == [("start", 2.0), ("end", 2.0, 8.0)]


def test_an_event_closes_when_the_stream_has_moved_away_from_it():
    events = live.Events(decoder=lambda vectors: [f"{v.argmax()}" for v in vectors])
    a, b = unit([1, 0.1, 0]), unit([0.1, 1, 0])
    closed = [events.add(float(t), v) for t, v in enumerate([a, a, a, b, a, a, b, b, b])]  # one b: a blip
    done = [e for e in closed if e is not None]
    assert [(e.start, e.end, e.caption) for e in done] == [(0.0, 6.0, "0")]  # closed at 7 s, when b stayed
    last = events.flush(9.0)
    assert (last.start, last.end, last.caption) == (6.0, 9.0, "1")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lines(stream, into: queue.Queue) -> None:
    for line in stream:
        into.put((time.time(), line))
    into.put((time.time(), None))


def wait_for(q: queue.Queue, what, seconds: float):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            at, line = q.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        if what(line):
            return at, line
    raise AssertionError(f"not seen within {seconds} s")


@pytest.fixture(scope="module")
def stream_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("live")
    photos = dict((n, f) for n, _, f in PHOTOS)
    photo_video(folder / "clip.mp4", photos=[("cat", 3, photos["cat"]), ("rocket", 4, photos["rocket"]),
                                            ("cat", 5, photos["cat"])], extra=("-g", "10"))  # fmt: skip
    # a keyframe a second, as live streams have them: a receiver that joins late starts within a second
    ffmpeg("-i", str(folder / "clip.mp4"), "-c", "copy", "-f", "mpegts", str(folder / "clip.ts"))
    return folder / "clip.ts"


def send(path, port) -> float:
    """Plays the file to the port at its own speed; returns the wall time it started."""
    started = time.time()
    ffmpeg_args = ["-re", "-i", str(path), "-c", "copy", "-f", "mpegts", f"udp://127.0.0.1:{port}?pkt_size=1316"]
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", *ffmpeg_args], check=True, timeout=60)
    return started


def test_watch_alerts_on_a_live_stream_within_2_s_survives_its_restart_and_stops_cleanly_recorded(
    footage_cli, stream_file, tmp_path
):
    port = free_udp_port()
    watcher = subprocess.Popen(
        [footage_cli, "--library", str(tmp_path / "lib"), "watch", f"udp://127.0.0.1:{port}", "--alert",
         "a rocket launch", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    out, err = queue.Queue(), queue.Queue()
    threading.Thread(target=lines, args=(watcher.stdout, out), daemon=True).start()
    threading.Thread(target=lines, args=(watcher.stderr, err), daemon=True).start()
    try:
        wait_for(err, lambda line: "watching udp://" in line, 60)  # models loaded, ffmpeg listening
        time.sleep(0.5)
        started = send(stream_file, port)
        at, line = wait_for(out, lambda line: json.loads(line)["type"] == "alert", 10)
        alert = json.loads(line)
        assert alert["query"] == "a rocket launch" and alert["score"] >= live.THRESHOLD
        latency = at - (started + ROCKET_AT)
        assert -0.2 <= latency <= 2.0, latency  # from the rocket's first frame on the wire to the line on stdout
        _, line = wait_for(out, lambda line: json.loads(line)["type"] == "alert_end", 10)  # one alert, then its end
        events = [json.loads(line)]
        # The stream stops: watch says so and waits for it; it comes back and the rocket is seen again
        wait_for(err, lambda line: "reconnecting" in line, 30)
        wait_for(err, lambda line: "watching udp://" in line, 10)
        time.sleep(0.5)
        send(stream_file, port)
        seen = []
        while True:
            _, line = wait_for(out, lambda line: True, 10)
            seen.append(json.loads(line))
            if seen[-1]["type"] == "alert":
                break
        assert [m for m in seen if m["type"] == "alert"] == [seen[-1]] and seen[-1]["query"] == "a rocket launch"
        events += [m for m in seen if m["type"] == "event"]
        assert all(m["caption"] and m["end"] > m["start"] for m in events if m["type"] == "event")
        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(timeout=60) == 0
        # --library given: both connections were recorded, and SIGINT left them indexed
        stats = subprocess.run([footage_cli, "--library", str(tmp_path / "lib"), "stats", "--json"],
                               capture_output=True, text=True, check=True)  # fmt: skip
        recorded = sorted((tmp_path / "lib" / "recordings").glob("*.ts"))
        assert len(recorded) == 2 and json.loads(stats.stdout)["videos"] == 2
    finally:
        watcher.kill()
        watcher.wait()


def test_a_webhook_receives_every_message_and_a_failed_post_is_retried(stream_file, tmp_path):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from footage import Library

    got, calls = [], []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            calls.append(body)
            if len(calls) == 1:  # the first POST fails: it must come again
                self.send_response(500)
            else:
                got.append(json.loads(body))
                self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    printed = []
    try:
        with Library(tmp_path / "lib") as lib:
            url = f"http://127.0.0.1:{server.server_address[1]}/hook"
            lib.watch(str(stream_file), ["a rocket launch"], printed.append, webhook=url)
    finally:
        server.shutdown()
    assert got == printed and len(calls) == len(printed) + 1
    assert [m["type"] for m in got if m["type"] != "event"] == ["alert", "alert_end"]
    assert sum(m["type"] == "event" for m in got) >= 2


def test_a_webhook_that_is_not_a_url_is_refused_before_watching(footage_cli, stream_file):
    done = subprocess.run(
        [footage_cli, "watch", str(stream_file), "--webhook", "ftp://example"], capture_output=True, text=True
    )
    assert done.returncode != 0 and "not an http:// or https:// URL" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "source, code, says",
    [
        ("/no/such/clip.mp4", 2, "no such file or device"),
        ("garbage://stream", 2, "this ffmpeg does not read garbage://"),
        ("JUNK", 1, "ffmpeg could not read it"),
    ],
)
def test_a_source_that_cannot_be_watched_is_one_line_and_no_retrying_forever(footage_cli, tmp_path, source, code, says):
    if source == "JUNK":
        source = str(tmp_path / "junk.mp4")
        (tmp_path / "junk.mp4").write_bytes(bytes(range(256)) * 20)
    done = subprocess.run([footage_cli, "watch", source], capture_output=True, text=True, timeout=60)
    lines = [line for line in done.stderr.splitlines() if not line.startswith("watching")]
    assert done.returncode == code and len(lines) == 1 and says in lines[0], done.stderr


def test_recordings_are_indexed_as_they_finish_and_old_ones_are_dropped(stream_file, tmp_path, monkeypatch):
    import os

    from footage import Library
    from footage.indexer import live as stream

    monkeypatch.setattr(stream, "RECORD_SECONDS", 4)
    monkeypatch.setattr(stream, "RECORD_POLL_SECONDS", 0.2)
    with Library(tmp_path / "lib") as lib:
        lib.watch(str(stream_file), ["a rocket launch"], lambda m: None, record=True)
        recorded = sorted((tmp_path / "lib" / "recordings").glob("*.ts"))
        assert len(recorded) >= 3  # 12 s in files of about 4 s
        assert lib.stats().videos == len(recorded) and lib.stats().seconds == pytest.approx(12, abs=1)
        (hit,) = lib.search("a rocket launch", top_k=1, mode="visual", captions=False)
        assert hit.path == str(recorded[1])  # 4-8 s: most of the rocket's 3-7 s
        week_ago = time.time() - 7 * 86400
        for f in recorded:
            os.utime(f, (week_ago, week_ago))
        lib.watch(str(stream_file), [], lambda m: None, record=True, keep=86400)
        now = sorted((tmp_path / "lib" / "recordings").glob("*.ts"))
        assert not set(recorded) & set(now)  # a week old: gone from the disk...
        assert {v.path for v in lib.videos()[0]} == set(map(str, now))  # ... and the library


def test_a_recording_begun_in_the_same_second_as_the_last_does_not_overwrite_it(tmp_path, monkeypatch):
    """Two watches a second apart named their files alike, and the second one's overwrote the first's."""
    from footage.indexer import live as stream

    now = time.gmtime()
    monkeypatch.setattr(stream.time, "gmtime", lambda: now)
    names = []
    for _ in range(3):
        pattern = Path(stream.command("clip.ts", 1.0, 224, False, tmp_path, connection=1)[-1])
        (tmp_path / pattern.name.replace("%05d", "00000")).touch()
        names.append(pattern.name)
    assert len(set(names)) == 3 and sorted(names) == names  # newer files sort after older ones


def test_memory_stays_flat_over_a_long_stream(tmp_path):
    """Ten minutes of stream (photos taking turns, a few seconds each), read as fast as it decodes: what
    watching holds grows with nothing but the current event."""
    from footage import Library

    photos = dict((n, f) for n, _, f in PHOTOS)
    shots = [("cat", 4, photos["cat"]), ("coffee", 3, photos["coffee"]), ("rocket", 5, photos["rocket"])]
    photo_video(tmp_path / "loop.mp4", photos=shots, size="160x120", fps=5)
    ffmpeg("-stream_loop", "49", "-i", str(tmp_path / "loop.mp4"), "-c", "copy", str(tmp_path / "long.mp4"))  # 600 s

    def resident_mb() -> float:  # now, not the peak
        return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    sizes = []
    with Library(tmp_path / "lib") as lib:
        lib.watch(str(tmp_path / "long.mp4"), ["a rocket launch"], lambda m: sizes.append(resident_mb()))
    assert len(sizes) > 100  # an event for every shot of 3-5 s
    settled = sizes[len(sizes) // 5]  # past the first two minutes: models loaded, caches warm
    assert max(sizes[len(sizes) // 5 :]) - settled < 20, (settled, max(sizes))
