"""HTTP search under load: GET /api/v1/search from concurrent clients over a large library, alone and while an
index job runs in the same server; and, with Chromium, the time from Enter to the first results painted.

    python bench/serve.py [--segments 100000] [--clients 8] [--requests 40] [--job-videos 12]

A temporary library is filled with synthetic segments (as bench/search_latency.py does), served by a real
`footage serve` on loopback, and searched by --clients threads, each with its own new query texts. Then a
folder of --job-videos test clips is indexed by an index job (POST /api/v1/jobs/index) while the same load
runs. Every request must succeed; the script says how many did not.
"""

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
from search_latency import fill

from footage import Library
from footage.models import imagenet

CHROMIUM = "/usr/bin/chromium"


def load(base: str, clients: int, requests: int, texts: list[str], until=None) -> tuple[list[float], int]:
    """`clients` threads, each sending `requests` searches (or until `until()` is true); latencies in ms and
    the number of requests that failed."""
    latencies, failures, lock = [], [0], threading.Lock()

    def client(k: int) -> None:
        for i in range(requests):
            if until is not None and until():
                return
            query = urllib.parse.urlencode({"q": texts[(k * requests + i) % len(texts)], "limit": 20})
            t = time.perf_counter()
            try:
                with urllib.request.urlopen(f"{base}/api/v1/search?{query}", timeout=60) as response:
                    ok = response.status == 200 and json.load(response)["hits"]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--segments", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=40, help="per client")
    parser.add_argument("--job-videos", type=int, default=12)
    args = parser.parse_args()
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
        print("| load | requests | p50 | p99 | throughput | failed |\n|---|---|---|---|---|---|")
        t = time.perf_counter()
        alone = load(base, args.clients, args.requests, texts[:2000])
        print(row("search alone", *alone, time.perf_counter() - t))

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
        if Path(CHROMIUM).exists():
            times = painted(base, [texts[k] for k in range(10)])
            print(f"first results painted after Enter (Chromium, 10 queries): median {np.median(times):.0f} ms, "
                  f"max {max(times):.0f} ms")  # fmt: skip
    finally:
        if proc:
            proc.terminate()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
