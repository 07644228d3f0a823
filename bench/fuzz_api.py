"""Fuzz footage serve's HTTP API from its own OpenAPI document, with schemathesis (Hypothesis underneath): every
operation gets --examples generated requests (valid and invalid parameters, bodies, uploads), and the media
routes get generated Range, If-Range and If-None-Match headers. A real `footage serve` on loopback answers, over
a library of two indexed test videos, with --root set so index jobs are on.

    python bench/fuzz_api.py [--examples 300] [--seed 0]

Every answer must be: not a 5xx (but a 503 with Retry-After), an error in the problem shape (RFC 9457:
application/problem+json with type, title, status, detail), and carry the security headers; the server's log must
hold no traceback. It prints the cases tried and each failure (operation, request, what was wrong).
"""

import argparse
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

PROBLEM_KEYS = {"type", "title", "status", "detail"}
INTERNALS = re.compile(r"\d{25,}|object at 0x|Traceback|File \\?\"/")  # what an error must not echo or leak


def header(response, name: str) -> str | None:
    """A header of a schemathesis Response (values are lists) or of an httpx/requests one."""
    value = response.headers.get(name)
    return value[0] if isinstance(value, list) else value


def complaint(response) -> str | None:
    """What is wrong with an answer, or None: a 5xx, an error not in the problem shape or not compact (a number
    of 25 digits or more echoed back, an object's repr, a traceback), a missing security header."""
    status = response.status_code
    if status >= 500 and not (status == 503 and header(response, "retry-after")):
        return f"{status}: {response.text[:200]}"
    if header(response, "x-content-type-options") != "nosniff":
        return f"{status} without the security headers"
    if status >= 400:
        if not (header(response, "content-type") or "").startswith("application/problem+json"):
            return f"{status} as {header(response, 'content-type')}, not application/problem+json"
        try:
            body = json.loads(response.content)
        except ValueError:
            return f"{status} with a body that is not JSON"
        if not (isinstance(body, dict) and PROBLEM_KEYS <= set(body) and body["status"] == status):
            return f"{status} not in the problem shape: {response.text[:200]}"
        if INTERNALS.search(response.text):
            return f"{status} saying too much: {INTERNALS.search(response.text).group()[:80]}"
    return None


def fuzz(schema, examples: int, call, seed: int | None = None, media: list[str] = ()) -> tuple[int, list[str]]:
    """Runs `examples` generated cases on every operation of `schema` (and on each media URL's conditional
    headers); `call(case)` sends one. Returns the cases tried and the failures, each a line."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as seeded
    from hypothesis import strategies as st

    tried, failures = [0], []
    options = settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))

    def record(what: str, response) -> None:
        tried[0] += 1
        wrong = complaint(response)
        if wrong:
            failures.append(f"{what}: {wrong}")

    from schemathesis import GenerationMode
    from schemathesis.checks import negative_data_rejection, not_a_server_error, response_schema_conformance

    checks = [not_a_server_error, response_schema_conformance, negative_data_rejection]
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in GenerationMode:  # valid requests, and requests the schema says are invalid

            @options
            @given(case=operation.as_strategy(mode))
            def one(case):
                response = call(case)
                what = f"{case.method} {case.formatted_path} {case.query or ''}"
                record(what, response)
                try:
                    case.validate_response(response, checks=checks)
                except Exception as e:  # schemathesis's failures: said in a line each
                    failures.append(f"{what}: {' '.join(str(e).split())[:300]}")

            try:
                (seeded(seed)(one) if seed is not None else one)()
            except Exception as e:  # an operation with nothing to make invalid (no parameters)
                if "negative" not in str(e).lower() and "unsatisfiable" not in type(e).__name__.lower():
                    raise

    digits = st.integers(0, 10**25).map(str) | st.just("")
    spec = st.tuples(digits, digits).map("-".join)
    ranges = (
        st.lists(spec, min_size=1, max_size=3).map(lambda specs: "bytes=" + ",".join(specs))
        | st.text(max_size=40)
        | st.sampled_from(["items=0-5", "bytes=0-1,5-9", "bytes=-0", "BYTES=0-9", "bytes=  0-9"])
    )
    tags = st.text(max_size=30) | st.just("*") | st.just('W/"x"')

    def conditional_on(url, send):
        @options
        @given(rng=ranges, tag=tags, if_range=st.none() | tags)
        def conditional(rng, tag, if_range):
            headers = {"Range": rng, "If-None-Match": tag, **({"If-Range": if_range} if if_range else {})}
            headers = {k: v for k, v in headers.items() if v.isprintable() and v.isascii()}
            record(f"GET {url} {headers}", send(url, headers))

        return seeded(seed)(conditional) if seed is not None else conditional

    for url, send in media:
        conditional_on(url, send)()
    return tried[0], failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=300, help="generated cases per operation")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
    import requests
    import schemathesis
    from media import pattern_video, photo_video

    from footage import Library

    tmp = Path(tempfile.mkdtemp())
    proc = None
    try:
        videos = tmp / "videos"
        videos.mkdir()
        photo_video(videos / "photos.mp4")
        pattern_video(videos / "pattern.mp4", seconds=6)
        with Library(tmp / "lib") as lib:
            lib.index([videos], speech="off")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        log = open(tmp / "server.log", "w+")
        footage = Path(sys.executable).with_name("footage")
        proc = subprocess.Popen([footage, "--library", str(tmp / "lib"), "serve", "--port", str(port), "--root",
                                 str(videos)], stdout=subprocess.PIPE, stderr=log, text=True)  # fmt: skip
        proc.stdout.readline()
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base}/api/v1/videos") as response:
            ids = [v["id"] for v in json.load(response)["videos"]]
        schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
        session = requests.Session()

        def call(case):
            return case.call(base_url=base, session=session, timeout=120)

        def get(url, headers):
            return session.get(url, headers=headers, timeout=120)

        media = [(f"{base}/media/{ids[0]}", get), (f"{base}/media/{ids[0]}/clip?start=1&end=3", get)]
        t = time.perf_counter()
        tried, failures = fuzz(schema, args.examples, call, args.seed, media)
        seconds = time.perf_counter() - t
        time.sleep(0.5)
        log.seek(0)
        tracebacks = log.read().count("Traceback")
        print(f"{tried} cases ({args.examples} per operation and per media URL) in {seconds:.0f} s: "
              f"{len(failures)} failures, {tracebacks} tracebacks in the server's log")  # fmt: skip
        for line, n in Counter(failures).most_common():
            print(f"  {n} x {line}")
        if tracebacks:
            log.seek(0)
            print(log.read()[-4000:])
        sys.exit(1 if failures or tracebacks else 0)
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
