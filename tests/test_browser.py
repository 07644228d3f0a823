"""The page in a real browser: Playwright drives Debian's Chromium against `footage serve` on loopback.

Type a query, the expected moment is the first card; click it and the video plays from the moment's start;
"more like this" finds the same clip's other moment first; a deep link shows its results. The results page
is saved as a screenshot (FOOTAGE_SCREENSHOT names a file to keep it)."""

import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from media import PHOTOS, ffmpeg, photo

CHROMIUM = "/usr/bin/chromium"


def webm(path: Path, shown: list[tuple[str, float]], folder: Path) -> None:
    """A VP8 video (every Chromium plays it) showing photos for the given seconds each."""
    faces = dict((n, f) for n, _, f in PHOTOS)
    inputs, filters = [], []
    for i, (name, seconds) in enumerate(shown):
        inputs += ["-loop", "1", "-framerate", "10", "-t", str(seconds), "-i", str(photo(name, folder))]
        filters.append(f"[{i}:v]scale=320:240,setsar=1,format=yuv420p[v{i}]")
        assert name in faces
    graph = ";".join(filters) + ";" + "".join(f"[v{i}]" for i in range(len(shown))) + f"concat=n={len(shown)}[out]"
    ffmpeg(*inputs, "-filter_complex", graph, "-map", "[out]", "-r", "10", "-c:v", "libvpx", "-b:v", "500k",
           "-deadline", "realtime", "-g", "10", str(path))  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory, footage_cli):
    folder = tmp_path_factory.mktemp("browser")
    videos = folder / "videos"
    videos.mkdir()
    webm(videos / "kitchen.webm", [("coffee", 5), ("cat", 6), ("coffee", 5)], folder)
    webm(videos / "launch.webm", [("rocket", 6), ("astronaut", 6)], folder)
    lib = folder / "lib"
    subprocess.run([footage_cli, "--library", str(lib), "index", str(videos), "--speech", "off"], check=True,
                   capture_output=True, timeout=300)  # fmt: skip
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([footage_cli, "--library", str(lib), "serve", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        assert proc.stdout.readline().startswith("serving ")
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/v1/stats", timeout=5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not answer"
                time.sleep(0.2)
        yield base, videos
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "the browser test needs Debian's chromium: make test installs it"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
                "--autoplay-policy=no-user-gesture-required",
            ],  # fmt: skip
        )
        tab = browser.new_page(viewport={"width": 1280, "height": 860})
        errors = []
        tab.on("pageerror", lambda e: errors.append(str(e)))
        yield tab
        browser.close()
        assert not errors, errors


def until(page, script: str, arg=None, timeout: float = 20) -> None:
    """Polls a script until it is true (Playwright's wait_for_function evaluates strings, which the page's
    Content-Security-Policy forbids; page.evaluate does not)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(script, arg):
        assert time.monotonic() < deadline, f"never true: {script}"
        time.sleep(0.05)


def api(base: str, query: str) -> dict:
    with urllib.request.urlopen(f"{base}/api/v1/search?{query}", timeout=30) as response:
        return json.load(response)


def first_card(page) -> dict:
    card = page.locator(".card").first
    card.wait_for()
    return {
        "video": card.locator("xpath=ancestor::section[1]/h2").inner_text(),
        "range": card.locator(".range").inner_text(),
    }


def test_search_play_more_like_this_and_deep_links(server, page, tmp_path):
    base, videos = server
    page.goto(base)
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    page.fill("#q", "a cup of coffee")
    started = time.monotonic()
    page.keyboard.press("Enter")
    first = first_card(page)
    painted = time.monotonic() - started
    expected = api(base, "q=a+cup+of+coffee&limit=24")["hits"][0]
    assert expected["path"] == str(videos / "kitchen.webm") and first["video"].startswith("kitchen.webm")
    assert page.url.endswith("/?q=a+cup+of+coffee&mode=all")  # the search is in the URL
    shot = Path(os.environ.get("FOOTAGE_SCREENSHOT") or tmp_path / "results.png")
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000

    page.locator(".card").first.click()  # plays the moment
    playing = "(start) => { const v = document.querySelector('#video'); return !v.paused && v.readyState >= 2 && Math.abs(v.currentTime - start) < 0.5 }"  # noqa: E501
    until(page, playing, expected["start"])
    until(page, "() => document.querySelectorAll('#timeline button').length >= 3")
    page.keyboard.press("Escape")
    assert not page.evaluate("document.querySelector('#player').open")

    page.locator(".card .like").first.click()  # more like this: the same clip's other coffee first
    page.wait_for_url("**/?like=*")
    like = first_card(page)
    assert like["video"].startswith("kitchen.webm") and like["range"] != first["range"]
    assert {like["range"], first["range"]} == {"0:00:00 – 0:00:05", "0:00:11 – 0:00:16"}

    page.goto(f"{base}/?q=a+rocket+launch&mode=visual")  # a deep link shows its results
    assert first_card(page)["video"].startswith("launch.webm")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    until(page, "() => document.querySelector('#player').open")
    page.keyboard.press("Escape")

    page.goto(f"{base}/?q=a+cup+of+coffee&mode=visual&per_video=1")  # one moment per video, the rest a click away
    until(page, "() => document.querySelectorAll('.group').length == document.querySelectorAll('.card').length")
    page.locator(".group .all").first.click()
    page.wait_for_url("**per_video=0**")
    until(
        page, "() => document.querySelectorAll('.group').length == 1 && document.querySelectorAll('.card').length > 1"
    )

    page.goto(f"{base}/?view=library")
    until(page, "() => document.querySelectorAll('#videos tbody tr').length == 2")
    assert painted < 5  # the 300 ms target is measured in bench/serve.py, not asserted here
