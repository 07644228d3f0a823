"""HTTP search under load: GET /api/v1/search from concurrent clients over a large library, alone and while an
index job runs in the same server; honest clients beside hostile ones; memory through a burst of picture
uploads; and, with Chromium, the time from Enter to the first results painted.

    python bench/serve.py [--segments 100000] [--clients 8] [--requests 40] [--job-videos 12]
                          [--runs load,job,attacks,pictures,page] [--attackers 200] [--attack-seconds 30]

A temporary library is filled with synthetic segments (as bench/search_latency.py does), served by a real
`footage serve` on loopback, and searched by --clients threads, each with its own new query texts. Then a
folder of --job-videos test clips is indexed by an index job (POST /api/v1/jobs/index) while the same load
runs. Every request must succeed; the script says how many did not.

attacks: the same honest clients for --attack-seconds alone (baseline), then beside --attackers hostile
connections from 127.0.0.1 (the same address as the honest ones, the hardest case for per-client limits):
a slowloris run (a request line, then a header line every 2 s, never finished) and an idle flood (connections
that send nothing); each one the server closes is opened again at once. Loopback only, bounded in count and time.

pictures: the server's RSS before, at its peak through, and 3 s after 6 concurrent uploads of each of three
pictures: a 38 KB PNG of 6300x6300 (refused now), a 4000x4000 PNG and an 8000x6000 JPEG (decoded at 1/8).
"""

import argparse
import io
import json
import multiprocessing
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

import numpy as np
from search_latency import fill

from footage import Library
from footage.models import imagenet

CHROMIUM = "/usr/bin/chromium"
MAX_ATTACKERS = 1000  # connections one attack holds at most, whatever is asked
TRICKLE_SECONDS = 2.0  # a slowloris connection sends one more header line this often


def load(
    base: str, clients: int, requests: int, texts: list[str], until=None, what: str = "search"
) -> tuple[list[float], int]:
    """`clients` threads, each sending `requests` searches (or until `until()` is true); latencies in ms and
    the number of requests that failed. `what`: "search" (new query texts), "videos" (a page of the library's
    videos: the server's own work is small, what is measured is mostly getting through)."""
    latencies, failures, lock = [], [0], threading.Lock()

    def client(k: int) -> None:
        for i in range(requests):
            if until is not None and until():
                return
            query = urllib.parse.urlencode({"q": texts[(k * requests + i) % len(texts)], "limit": 20})
            url = f"{base}/api/v1/search?{query}" if what == "search" else f"{base}/api/v1/videos?limit=20"
            t = time.perf_counter()
            try:
                with urllib.request.urlopen(url, timeout=60) as response:
                    ok = response.status == 200 and json.load(response)["hits" if what == "search" else "videos"]
            except OSError as e:
                ok = False
                print(f"failed: {query}: {e}: {getattr(e, 'read', lambda: b'')()[:300]}", file=sys.stderr)
            with lock:
                latencies.append((time.perf_counter() - t) * 1000)
                failures[0] += not ok

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, failures[0]


def row(name: str, latencies: list[float], failures: int, seconds: float) -> str:
    p50, p99 = np.percentile(latencies, [50, 99])
    rate = len(latencies) / seconds
    return f"| {name} | {len(latencies)} | {p50:.0f} ms | {p99:.0f} ms | {rate:.1f}/s | {failures} |"


def attack(port: int, kind: str, connections: int, stop, said, source: str) -> None:
    """Holds `connections` hostile connections to 127.0.0.1:`port` until `stop`: "idle" ones send nothing,
    "slowloris" ones a request line and then a header line every TRICKLE_SECONDS. Each one the server closes is
    opened again at once, from the loopback address `source`. Puts on the queue `said` how many were opened,
    closed by the server and refused (a 503 first)."""
    connections, counts = min(connections, MAX_ATTACKERS), Counter()
    selector = selectors.DefaultSelector()
    held: list[socket.socket] = []
    trickled = time.monotonic()
    try:
        while not stop.is_set():
            while len(held) < connections and not stop.is_set():
                try:
                    s = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
                except OSError:
                    counts["failed to connect"] += 1
                    break
                if kind == "slowloris":
                    s.sendall(b"GET /api/v1/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                s.setblocking(False)
                selector.register(s, selectors.EVENT_READ)
                held.append(s)
                counts["opened"] += 1
            for key, _ in selector.select(timeout=0.2):
                s = key.fileobj
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if data.startswith(b"HTTP/1.1 503"):
                    counts["refused (503)"] += 1
                if not data:
                    counts["closed by the server"] += 1
                    selector.unregister(s)
                    s.close()
                    held.remove(s)
            if kind == "slowloris" and time.monotonic() - trickled > TRICKLE_SECONDS:
                trickled = time.monotonic()
                for s in held:
                    try:
                        s.send(b"X-Trickle: 1\r\n")
                    except OSError:
                        pass
    finally:
        for s in held:
            s.close()
        selector.close()
        said.put(counts)


def attacked(base: str, port: int, args, texts: list[str]) -> None:
    """Honest clients' latency alone, during a slowloris run and during an idle flood."""
    print(f"\n{args.clients} honest clients ({args.honest}) for {args.attack_seconds:g} s each; {args.attackers} "
          f"hostile connections from {args.attack_from}\n")  # fmt: skip
    print("| run | requests | p50 | p99 | throughput | failed | hostile connections |\n|---|---|---|---|---|---|---|")
    for k, kind in enumerate(("baseline", "slowloris", "idle")):
        processes = multiprocessing.get_context("fork")  # its own process: its loop does not take the clients' GIL
        stop, said, counts = processes.Event(), processes.Queue(), Counter()
        hostile = None
        if kind != "baseline":
            hostile = processes.Process(target=attack, args=(port, kind, args.attackers, stop, said, args.attack_from))
            hostile.start()
            time.sleep(2)  # the attack is in place before the honest clients start
        end = time.monotonic() + args.attack_seconds
        t = time.perf_counter()
        part = texts[k * 1000 : (k + 1) * 1000]
        honest = load(base, args.clients, 10**6, part, until=lambda end=end: time.monotonic() > end, what=args.honest)
        seconds = time.perf_counter() - t
        stop.set()
        if hostile:
            counts = said.get(timeout=60)
            hostile.join(60)
        hostile_said = ", ".join(f"{n} {what}" for what, n in counts.items()) or "none"
        print(f"{row(kind, *honest, seconds)} {hostile_said} |")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def pictures(base: str, pid: int) -> None:
    """The server's RSS through bursts of 6 concurrent picture uploads."""
    from PIL import Image

    def encoded(mode: str, size: tuple[int, int], kind: str) -> bytes:
        out = io.BytesIO()
        image = Image.new(mode, size) if kind == "PNG" else Image.radial_gradient("L").resize(size).convert("RGB")
        image.save(out, kind, **({"quality": 70} if kind == "JPEG" else {}))
        return out.getvalue()

    uploads = {
        "PNG 6300x6300 (38 KB)": (encoded("L", (6300, 6300), "PNG"), "image/png"),
        "PNG 4000x4000": (encoded("RGB", (4000, 4000), "PNG"), "image/png"),
        "JPEG 8000x6000": (encoded("RGB", (8000, 6000), "JPEG"), "image/jpeg"),
    }
    burst(base, pid, encoded("RGB", (640, 480), "JPEG"), "image/jpeg")  # the model loaded, run on 6 threads
    print("\n| 6 uploads at once of | size | answers | RSS before | peak | 3 s after |\n|---|---|---|---|---|---|")
    for name, (data, kind) in uploads.items():
        before, peak, after, answers = burst(base, pid, data, kind)
        said = ", ".join(f"{n} x {status}" for status, n in sorted(answers.items()))
        print(f"| {name} | {len(data) / 1024:,.0f} KB | {said} | {before:.0f} MB | {peak:.0f} MB | {after:.0f} MB |")


def burst(base: str, pid: int, data: bytes, kind: str, uploads: int = 6) -> tuple[float, float, float, Counter]:
    """RSS before, at the peak and 3 s after `uploads` concurrent uploads of one picture; the answers' statuses."""
    before, peak, answers, stop = rss_mb(pid), [0.0], Counter(), threading.Event()
    boundary = "footagebench"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="p"\r\nContent-Type: {kind}\r\n\r\n'
    body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_mb(pid))
            time.sleep(0.01)

    def upload():
        request = urllib.request.Request(f"{base}/api/v1/search", data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                answers[response.status] += 1
        except urllib.error.HTTPError as e:
            answers[e.code] += 1

    sampler = threading.Thread(target=sample)
    sampler.start()
    threads = [threading.Thread(target=upload) for _ in range(uploads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    sampler.join()
    time.sleep(3)
    return before, peak[0], rss_mb(pid), answers


def painted(base: str, queries: list[str]) -> list[float]:
    """Milliseconds from Enter to the first result card on the page, in Chromium."""
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.goto(base)
        for query in queries:
            page.fill("#q", query)
            t = time.perf_counter()
            page.keyboard.press("Enter")
            page.locator(".card").first.wait_for()
            out.append((time.perf_counter() - t) * 1000)
            page.goto(base)
        browser.close()
    return out


def job_run(base: str, args, clips: Path, texts: list[str]) -> None:
    """Search while an index job runs in the same server."""
    request = urllib.request.Request(f"{base}/api/v1/jobs/index", data=json.dumps({"paths": [str(clips)]}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")  # fmt: skip
    with urllib.request.urlopen(request) as response:
        job = json.load(response)["id"]

    def job_state() -> dict:
        with urllib.request.urlopen(f"{base}/api/v1/jobs/{job}") as response:
            return json.load(response)

    t = time.perf_counter()
    busy = load(base, args.clients, args.requests, texts[2000:], until=lambda: job_state()["state"] != "running")
    print(row("search while an index job runs", *busy, time.perf_counter() - t))
    while (state := job_state())["state"] == "running":
        time.sleep(0.5)
    report = state["report"] or {}
    print(f"\nindex job: {state['state']}, {len(report.get('indexed', []))} videos indexed meanwhile")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--segments", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=40, help="per client")
    parser.add_argument("--job-videos", type=int, default=12)
    parser.add_argument("--runs", default="load,job,attacks,pictures,page", help="which parts, comma-separated")
    parser.add_argument("--attackers", type=int, default=200, help=f"hostile connections (at most {MAX_ATTACKERS})")
    parser.add_argument("--attack-seconds", type=float, default=30, help="each attack run's length (at most 300)")
    parser.add_argument("--attack-from", default="127.0.0.1", help="the attackers' loopback address (127.0.0.0/8)")
    parser.add_argument("--honest", choices=["search", "videos"], default="search", help="the honest requests")
    args = parser.parse_args()
    runs = set(args.runs.split(","))
    args.attack_seconds = min(args.attack_seconds, 300)
    if not args.attack_from.startswith("127."):
        parser.error("--attack-from: a loopback address (127.x.y.z); this bench attacks nothing else")
    rng = np.random.default_rng(0)
    tmp = Path(tempfile.mkdtemp())
    proc = None
    try:
        lib = Library(tmp / "lib")
        lib.index([])
        fill(lib, args.segments, rng)
        lib.close()
        clips = tmp / "clips"
        clips.mkdir()
        for k in range(args.job_videos):
            source = "testsrc2=d=30:s=320x240:r=25"
            subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", source, "-c:v", "libx264",
                            "-preset", "ultrafast", str(clips / f"clip{k}.mp4")], check=True)  # fmt: skip
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        footage = Path(sys.executable).with_name("footage")
        proc = subprocess.Popen([footage, "--library", str(tmp / "lib"), "serve", "--port", str(port),
                                 "--root", str(clips)], stdout=subprocess.PIPE, text=True)  # fmt: skip
        proc.stdout.readline()
        base = f"http://127.0.0.1:{port}"
        names = [c.name for c in imagenet.classes()]
        texts = [f"a {names[i]} next to a {names[j]}" for i, j in rng.integers(0, 1000, (4000, 2))]
        load(base, 1, 3, ["warm up"])
        print(f"{args.segments} segments, {args.clients} clients\n")
        if "load" in runs:
            print("| load | requests | p50 | p99 | throughput | failed |\n|---|---|---|---|---|---|")
            t = time.perf_counter()
            alone = load(base, args.clients, args.requests, texts[:2000])
            print(row("search alone", *alone, time.perf_counter() - t))
        if "job" in runs:
            job_run(base, args, clips, texts)
        if "attacks" in runs:
            attacked(base, port, args, texts)
        if "pictures" in runs:
            pictures(base, proc.pid)
        if "page" in runs and Path(CHROMIUM).exists():
            times = painted(base, [texts[k] for k in range(10)])
            print(f"first results painted after Enter (Chromium, 10 queries): median {np.median(times):.0f} ms, "
                  f"max {max(times):.0f} ms")  # fmt: skip
    finally:
        if proc:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
