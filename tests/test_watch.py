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
from media import PHOTOS, ffmpeg, pattern_video, photo_video

from footage.search.alerts import THRESHOLD, Alerts, Events

ROCKET_AT = 3.0  # seconds into the clip: cat 0-3 s, rocket 3-7 s, cat 7-12 s


def unit(v) -> np.ndarray:
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


def test_a_lasting_match_is_one_alert_and_a_dip_does_not_end_it():
    alerts = Alerts(["a rocket"], unit([1, 0, 0])[None], threshold=0.5)
    scores = [0.1, 0.2, 0.6, 0.7, 0.47, 0.6, 0.3, 0.6, 0.2, 0.1, 0.1, 0.1]  # 0.47: within the hysteresis
    log = []
    for t, score in enumerate(scores):
        started, ended = alerts.add(float(t), unit([score, np.sqrt(1 - score**2), 0]))
        log += [("start", a.start) for a in started] + [("end", a.start, a.end) for a in ended]
    # one dip to 0.3 lasts a second: not the end; from 8 s it stays under, and 2 s later it has ended
    assert log == [("start", 2.0), ("end", 2.0, 8.0)]


def test_an_event_closes_when_the_stream_has_moved_away_from_it():
    events = Events(decoder=lambda vectors: [f"{v.argmax()}" for v in vectors])
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
        assert alert["query"] == "a rocket launch" and alert["score"] >= THRESHOLD
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
        assert watcher.wait(timeout=60) == 130  # interrupted, as the README's exit codes say
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
        ("FOLDER", 2, "a folder, not a stream or a video"),
        ("udp://127.0.0.1:99999", 2, "not a port"),
        ("rtp://127.0.0.1:port", 2, "not a port"),
        ("udp://127.0.0.1", 2, "not a port"),
        ("srt://127.0.0.1:0", 2, "not a port"),
        ("/dev/zero", 2, "not a video file, a pipe or a capture device"),
        ("/dev/null", 2, "not a video file, a pipe or a capture device"),
    ],
)
def test_a_source_that_cannot_be_watched_is_one_line_and_no_retrying_forever(footage_cli, tmp_path, source, code, says):
    """A folder, /dev/zero and a port out of range were retried forever."""
    if source == "JUNK":
        source = str(tmp_path / "junk.mp4")
        (tmp_path / "junk.mp4").write_bytes(bytes(range(256)) * 20)
    if source == "FOLDER":
        source = str(tmp_path)
    done = subprocess.run([footage_cli, "watch", source], capture_output=True, text=True, timeout=30)
    lines = [line for line in done.stderr.splitlines() if not line.startswith("watching")]
    assert done.returncode == code and len(lines) == 1 and says in lines[0], done.stderr


def test_recordings_are_indexed_as_they_finish_and_old_ones_are_dropped(stream_file, tmp_path, monkeypatch):
    import os

    from footage import Library
    from footage.indexer import stream

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
    from footage.indexer import stream

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


def test_a_query_may_dip_for_as_long_as_the_hold_before_its_alert_ends():
    scores = [0.6, 0.6, 0.1, 0.1, 0.1, 0.6, 0.6, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]  # a 3 s dip, then gone
    logs = {}
    for hold in (2.0, 4.0):
        alerts = Alerts(["a bird"], unit([1, 0, 0])[None], threshold=0.5, hold=hold)
        log = []
        for t, score in enumerate(scores):
            started, ended = alerts.add(float(t), unit([score, np.sqrt(1 - score**2), 0]))
            log += [("start", a.start) for a in started] + [("end", a.start, a.end) for a in ended]
        logs[hold] = log
    assert logs[2.0] == [("start", 0.0), ("end", 0.0, 2.0), ("start", 5.0), ("end", 5.0, 7.0)]
    assert logs[4.0] == [("start", 0.0), ("end", 0.0, 7.0)]  # the dip bridged: one alert


def test_an_hls_playlist_given_as_a_file_is_refused_not_followed(footage_cli, tmp_path):
    """A text file holding an HLS playlist made watch play another file of the disk, named in it."""
    pattern_video(tmp_path / "elsewhere.ts", seconds=3, codec_args=("-c:v", "libx264", "-preset", "ultrafast"))
    playlist = tmp_path / "clip.mp4"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:3,\n{tmp_path / 'elsewhere.ts'}\n#EXT-X-ENDLIST\n")
    done = subprocess.run([footage_cli, "watch", str(playlist), "--json"], capture_output=True, text=True, timeout=60)
    lines = [line for line in done.stderr.splitlines() if not line.startswith("watching")]
    assert done.returncode == 1 and len(lines) == 1 and "a playlist" in lines[0], done.stderr
    assert done.stdout == ""  # not one picture of the other file


@pytest.mark.parametrize(
    "source, allowed",
    [
        ("udp://127.0.0.1:5000", "udp"),
        ("rtp://127.0.0.1:5000", "rtp,udp"),
        ("rtsp://camera.local/stream", "rtsp,rtp,udp,tcp"),
        ("srt://127.0.0.1:9000", "srt,udp"),
        ("https://example.com/live.m3u8", "http,https,tcp,tls,crypto"),
    ],
)
def test_ffmpeg_may_open_only_the_protocols_of_the_source_named(source, allowed):
    args = stream_command(source)
    assert args[args.index("-protocol_whitelist") + 1] == allowed
    assert args.index("-protocol_whitelist") < args.index("-i")


def test_a_file_is_read_alone_by_ffmpeg():
    args = stream_command("clip.mp4")
    assert args[args.index("-protocol_whitelist") + 1] == "file"
    allowed = args[args.index("-format_whitelist") + 1].split(",")
    assert "mpegts" in allowed and "mov" in allowed and not {"hls", "concat", "dash", "image2"} & set(allowed)


def stream_command(source: str) -> list[str]:
    from footage.indexer import stream

    return stream.command(source, 1.0, 224, False)


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_watch_stopped_by_a_signal_exits_as_the_readme_says(footage_cli, sig, code):
    watcher = subprocess.Popen(
        [footage_cli, "watch", f"udp://127.0.0.1:{free_udp_port()}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    err = queue.Queue()
    threading.Thread(target=lines, args=(watcher.stderr, err), daemon=True).start()
    try:
        wait_for(err, lambda line: "watching udp://" in line, 60)
        watcher.send_signal(sig)
        assert watcher.wait(timeout=30) == code
    finally:
        watcher.kill()
        watcher.wait()


class SlowReceiver:
    """An HTTP server on 127.0.0.1 that takes `seconds` to answer each POST; `got` holds the bodies read."""

    def __init__(self, seconds: float):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        got = self.got = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                time.sleep(seconds)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_webhook_messages_queued_at_exit_are_sent_for_a_bounded_time_and_the_rest_are_counted():
    """They were dropped without a word."""
    from footage.webhook import FLUSH_SECONDS, Webhook

    receiver = SlowReceiver(seconds=0.5)
    said = []
    try:
        hook = Webhook(receiver.url, said.append)
        for k in range(20):
            hook({"type": "event", "k": k})
        began = time.monotonic()
        lost = hook.close()
        took = time.monotonic() - began
    finally:
        receiver.close()
    assert took <= FLUSH_SECONDS + 0.5  # bounded: a slow receiver does not hold the exit
    assert [m["k"] for m in receiver.got] == list(range(len(receiver.got)))  # in order, the first ones
    assert 3 <= len(receiver.got) < 20 and 20 - len(receiver.got) <= lost <= 21 - len(receiver.got)
    assert said == [f"{lost} webhook messages not delivered to {receiver.url}"]


def test_webhook_messages_all_sent_at_exit_say_nothing():
    from footage.webhook import Webhook

    receiver = SlowReceiver(seconds=0.0)
    said = []
    try:
        hook = Webhook(receiver.url, said.append)
        for k in range(5):
            hook({"type": "event", "k": k})
        assert hook.close() == 0
    finally:
        receiver.close()
    assert len(receiver.got) == 5 and said == []


def test_a_dropped_stream_ends_the_event_and_alert_at_its_last_picture_and_a_gap_is_said(tmp_path, monkeypatch):
    """Across an outage one event spanned it, mixing pictures from both sides; the alert under way ended only
    when pictures came back; nothing said that the stream had dropped."""
    from footage import Library
    from footage.indexer import stream

    monkeypatch.setattr(stream, "QUIET_SECONDS", 1.0)  # what was under way ends 1 s after the last picture...
    monkeypatch.setattr(stream, "STALL_SECONDS", 3.0)  # ... before ffmpeg is given up on and started again
    photos = dict((n, f) for n, _, f in PHOTOS)
    for name, shots in [("before", [("cat", 1, photos["cat"]), ("rocket", 2, photos["rocket"])]),
                        ("after", [("coffee", 2, photos["coffee"])])]:  # fmt: skip
        photo_video(tmp_path / f"{name}.mp4", photos=shots, extra=("-g", "10"))
        ffmpeg("-i", str(tmp_path / f"{name}.mp4"), "-c", "copy", "-f", "mpegts", str(tmp_path / f"{name}.ts"))
    port, stop, said = free_udp_port(), threading.Event(), queue.Queue()
    got, sent_again, failed = [], {}, []
    receiver = SlowReceiver(seconds=0.0)

    def sender():
        try:
            wait_for(said, lambda line: line.startswith("watching"), 60)
            time.sleep(0.3)
            send(tmp_path / "before.ts", port)  # ends on the rocket: the alert is under way when the stream drops
            sent_again["reconnecting"], _ = wait_for(said, lambda line: "reconnecting" in line, 10)
            wait_for(said, lambda line: line.startswith("watching"), 10)
            time.sleep(0.3)
            sent_again["at"] = time.time()
            send(tmp_path / "after.ts", port)
            time.sleep(1.0)
        except Exception as e:
            failed.append(e)
        finally:
            stop.set()

    thread = threading.Thread(target=sender, daemon=True)
    try:
        with Library(tmp_path / "lib") as lib:
            thread.start()
            lib.watch(f"udp://127.0.0.1:{port}", ["a rocket launch"], lambda m: got.append((time.time(), m)),
                      stop=stop, said=lambda m: said.put((time.time(), m)), webhook=receiver.url)  # fmt: skip
    finally:
        stop.set()
        receiver.close()
    thread.join(5)
    assert not failed, failed
    messages = [m for _, m in got]
    (gap,) = [m for m in messages if m["type"] == "gap"]
    (alert_end,) = [m for m in messages if m["type"] == "alert_end"]
    assert alert_end["end"] == gap["start"] and gap["end"] - gap["start"] >= 1.5
    told_at = next(at for at, m in got if m["type"] == "alert_end")
    assert told_at < sent_again["reconnecting"]  # said when the pictures stopped, not when they came back
    events = [m for m in messages if m["type"] == "event"]
    assert all(e["end"] <= gap["start"] or e["start"] >= gap["end"] for e in events)  # none spans the gap
    assert any(e["end"] == gap["start"] for e in events) and any(e["start"] >= gap["end"] for e in events)
    assert messages.index(alert_end) < messages.index(gap)
    assert gap in receiver.got  # the webhook hears of it too


def test_a_slow_frame_rate_is_not_taken_for_a_stalled_stream(tmp_path, monkeypatch):
    """At --fps 0.1 a frame comes every 10 s, and 10 s without one was a stall: ffmpeg was killed again and
    again. A stall is now STALL_TICKS ticks without a frame at least."""
    from footage.indexer import stream

    monkeypatch.setattr(stream, "STALL_SECONDS", 1.0)
    clip = pattern_video(tmp_path / "clip.mp4", seconds=5)
    got = list(stream.frames(str(clip), fps=0.5, size=32, realtime=True))
    assert len(got) == 3  # at 0, 2 and 4 s of the clip, none killed by the watchdog
