"""footage serve: the HTTP API, media with range requests, jobs, auth and the traversal list, through FastAPI's
test client over a real library; the CLI's serve command as a real server on loopback."""

import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import run_cli
from fastapi.testclient import TestClient
from media import pattern_video, photo, photo_video
from PIL import Image

from footage import Library
from footage.serve.app import create_app
from footage.serve.security import Settings

LOCAL = "http://127.0.0.1"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A library of the photo video and a test pattern, and its folder of videos."""
    folder = tmp_path_factory.mktemp("served")
    videos = folder / "videos"
    videos.mkdir()
    photo_video(videos / "photos.mp4")
    pattern_video(videos / "pattern.mp4", seconds=6)
    lib = Library(folder / "lib")
    lib.index([videos], speech="off")
    yield lib, videos
    lib.close()


@pytest.fixture(scope="module")
def client(served):
    lib, _ = served
    with TestClient(create_app(lib, Settings()), base_url=LOCAL) as c:
        yield c


def video_id(client, name: str) -> int:
    videos = client.get("/api/v1/videos").json()["videos"]
    return next(v["id"] for v in videos if v["path"].endswith(name))


def is_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["error"] and "detail" in body
    return body


def test_search_answers_hits_with_urls_to_play_them(client, served):
    _, videos = served
    body = client.get("/api/v1/search", params={"q": "a cup of coffee", "limit": 3}).json()
    first = body["hits"][0]
    assert first["path"] == str(videos / "photos.mp4") and (first["start"], first["end"]) == (6.0, 11.0)
    assert first["play_url"] == f"/media/{first['video_id']}#t=6.00,11.00"  # a W3C media fragment
    assert first["thumbnail_url"] == f"/thumbs/{first['segment_id']}" and first["clip_url"].startswith("/media/")
    assert {"caption", "channels", "transcript", "score", "segments"} <= set(first)
    assert client.get(first["thumbnail_url"]).headers["content-type"] == "image/jpeg"


def test_search_pages_with_a_cursor_filters_and_limits(client, served):
    _, videos = served
    vague = {"q": "a photo", "mode": "visual", "cutoff": False}  # below the cut-off: every moment, to page through
    whole = client.get("/api/v1/search", params={**vague, "limit": 6}).json()["hits"]
    first = client.get("/api/v1/search", params={**vague, "limit": 3}).json()
    second = client.get("/api/v1/search", params={**vague, "limit": 3, "cursor": first["next_cursor"]}).json()
    assert [h["segment_id"] for h in first["hits"] + second["hits"]] == [h["segment_id"] for h in whole]
    under = client.get("/api/v1/search", params={**vague, "path": str(videos / "pattern.mp4")}).json()
    assert under["hits"] and all(h["path"].endswith("pattern.mp4") for h in under["hits"])
    strict = client.get("/api/v1/search", params={"q": "a cup of coffee", "mode": "visual", "min_score": 0.3})
    assert all(h["score"] >= 0.3 for h in strict.json()["hits"])
    is_problem(client.get("/api/v1/search", params={"q": "x", "limit": 201}), 422)
    is_problem(client.get("/api/v1/search", params={"q": "x" * 1001}), 422)
    is_problem(client.get("/api/v1/search", params={"q": "x", "mode": "nope"}), 422)
    is_problem(client.get("/api/v1/search", params={"q": "x", "cursor": "garbage!"}), 400)
    is_problem(client.get("/api/v1/search", params={"q": " "}), 400)
    is_problem(client.get("/api/v1/search"), 400)


def test_more_like_this_and_search_by_picture(client, served, tmp_path):
    coffee = client.get("/api/v1/search", params={"q": "a cup of coffee", "mode": "visual"}).json()["hits"][0]
    like = client.get("/api/v1/search", params={"like": coffee["segment_id"], "limit": 5}).json()["hits"]
    assert like and coffee["segment_id"] not in [h["segment_id"] for h in like]  # the moment itself left out
    is_problem(client.get("/api/v1/search", params={"like": 10**9}), 404)
    jpeg = io.BytesIO()
    Image.open(photo("coffee", tmp_path)).convert("RGB").save(jpeg, "JPEG")
    found = client.post("/api/v1/search", files={"image": ("cup.jpg", jpeg.getvalue(), "image/jpeg")})
    assert (found.json()["hits"][0]["start"], found.json()["hits"][0]["end"]) == (6.0, 11.0)
    not_picture = client.post("/api/v1/search", files={"image": ("x.jpg", b"not a picture", "image/jpeg")})
    assert "not a picture" in is_problem(not_picture, 400)["detail"]
    bomb = io.BytesIO()
    Image.new("L", (13_300, 13_300)).save(bomb, "PNG")  # 170 KB that would decode to 177 million pixels
    is_problem(client.post("/api/v1/search", files={"image": ("bomb.png", bomb.getvalue(), "image/png")}), 400)
    huge = client.post("/api/v1/search", files={"image": ("big.jpg", b"\0" * (22 << 20), "image/jpeg")})
    is_problem(huge, 413)  # refused before the upload is parsed

    def stream():  # no Content-Length: counted as it comes
        for _ in range(30):
            yield b"\0" * (1 << 20)

    chunked = client.post(
        "/api/v1/search", content=stream(), headers={"Content-Type": "multipart/form-data; boundary=x"}
    )
    is_problem(chunked, 413)


def test_videos_a_video_with_its_timeline_and_stats(client):
    page = client.get("/api/v1/videos", params={"limit": 1}).json()
    assert page["total"] == 2 and len(page["videos"]) == 1 and page["next_offset"] == 1
    photos = video_id(client, "photos.mp4")
    detail = client.get(f"/api/v1/videos/{photos}").json()
    assert detail["segments"] == 5 and detail["duration"] == pytest.approx(30, abs=0.2)
    assert detail["timeline"][0]["start"] == 0 and detail["timeline"][-1]["end"] == pytest.approx(30, abs=0.2)
    stats = client.get("/api/v1/stats").json()
    assert stats["videos"] == 2 and stats["job"] is None
    is_problem(client.get("/api/v1/videos/999999"), 404)


def test_media_is_streamed_with_ranges(client, served):
    _, videos = served
    data = (videos / "photos.mp4").read_bytes()
    url = f"/media/{video_id(client, 'photos.mp4')}"
    whole = client.get(url)
    assert whole.status_code == 200 and whole.content == data and whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "video/mp4" and whole.headers["etag"]
    head = client.head(url)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data)) and not head.content
    for header, (first, last) in {
        "bytes=0-99": (0, 99),
        "bytes=100-": (100, len(data) - 1),
        "bytes=-500": (len(data) - 500, len(data) - 1),
        f"bytes=10-{len(data) * 2}": (10, len(data) - 1),
    }.items():
        part = client.get(url, headers={"Range": header})
        assert part.status_code == 206 and part.content == data[first : last + 1], header
        assert part.headers["content-range"] == f"bytes {first}-{last}/{len(data)}"
    for bad in (f"bytes={len(data)}-", "bytes=-0", f"bytes={'1' * 4400}-"):  # past the end: unsatisfiable
        refused = client.get(url, headers={"Range": bad})
        assert refused.status_code == 416 and refused.headers["content-range"] == f"bytes */{len(data)}", bad
    for ignored in ("items=0-5", "bytes=0-1,5-9", "bytes=5-2", "bytes=abc", "bytes=-", "bytes 0-5"):
        whole = client.get(url, headers={"Range": ignored})  # RFC 9110 14.2: ignored, the whole file
        assert whole.status_code == 200 and whole.content == data, ignored
    for huge in (f"bytes=0-{'9' * 4400}", f"bytes=-{'9' * 4400}"):  # to the end, from the start
        assert client.get(url, headers={"Range": huge}).status_code == 206
    stale = client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"old"'})
    assert stale.status_code == 200 and stale.content == data  # changed since: the whole file
    fresh = client.get(url, headers={"Range": "bytes=0-9", "If-Range": whole.headers["etag"]})
    assert fresh.status_code == 206 and fresh.content == data[:10]
    assert is_problem(client.get(url, headers={"Range": "bytes=9999999-"}), 416)
    held = client.get(url, headers={"If-None-Match": f'"other", {whole.headers["etag"]}'})
    assert held.status_code == 304 and not held.content and held.headers["etag"] == whole.headers["etag"]
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    before = len(os.listdir("/proc/self/fd"))
    for header in ({"Range": f"bytes={'1' * 4400}-"}, {"Range": "items=0-5"}, {"If-None-Match": "*"}):
        client.get(url, headers=header)
    assert len(os.listdir("/proc/self/fd")) <= before  # no descriptor left open


def test_a_clip_is_cut_as_an_mp4(client, tmp_path):
    photos = video_id(client, "photos.mp4")
    clip = client.get(f"/media/{photos}/clip", params={"start": 6, "end": 11})
    assert clip.status_code == 200 and clip.headers["content-type"] == "video/mp4"
    assert "attachment" in clip.headers["content-disposition"]
    (tmp_path / "clip.mp4").write_bytes(clip.content)
    seconds = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                              str(tmp_path / "clip.mp4")], capture_output=True, text=True).stdout  # fmt: skip
    assert float(seconds) == pytest.approx(5, abs=0.5)
    is_problem(client.get(f"/media/{photos}/clip", params={"start": 0, "end": 700}), 400)  # too long
    is_problem(client.get(f"/media/{photos}/clip", params={"start": 9, "end": 3}), 400)
    is_problem(client.get(f"/media/{photos}/clip", params={"start": -1, "end": 3}), 422)
    is_problem(client.get(f"/media/{photos}/clip", params={"start": 100, "end": 101}), 400)  # after the end
    huge = is_problem(client.get(f"/media/{photos}/clip", params={"start": 0, "end": 1e308}), 422)
    assert len(json.dumps(huge)) < 400  # bounded, said compactly: no 309-digit number
    from footage.serve.routes import media

    for _ in range(2):  # two clips being cut already: a third waits its turn
        media.CUTTING.acquire()
    try:
        busy = client.get(f"/media/{photos}/clip", params={"start": 7, "end": 10})
        assert is_problem(busy, 503) and busy.headers["retry-after"] == "5"
    finally:
        media.CUTTING.release()
        media.CUTTING.release()


def test_a_clip_is_cut_once_for_its_range_requests(client):
    """A player asks for a clip in parts: the same clip answers them, with one ETag, so If-Range holds; HEAD too."""
    photos = video_id(client, "photos.mp4")
    url = f"/media/{photos}/clip?start=11&end=18"
    whole = client.get(url)
    etag = whole.headers["etag"]
    part = client.get(url, headers={"Range": "bytes=100-199", "If-Range": etag})
    assert part.status_code == 206 and part.content == whole.content[100:200] and part.headers["etag"] == etag
    head = client.head(url)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(whole.content)) and not head.content
    assert head.headers["etag"] == etag and head.headers["content-type"] == "video/mp4"
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    from footage.serve.routes import media

    for _ in range(2):  # kept: answered while no clip could be cut
        media.CUTTING.acquire()
    try:
        assert client.get(url, headers={"Range": "bytes=0-9"}).content == whole.content[:10]
    finally:
        media.CUTTING.release()
        media.CUTTING.release()


def test_no_path_from_a_request_is_ever_opened(client, served):
    lib, _ = served
    secret = (lib.path / "library.db").read_bytes()[:16]
    for path in (
        "/media/../../etc/passwd",
        "/media/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/media/%252e%252e%252fetc%252fpasswd",
        "/media//etc/passwd",
        "/media/-1",
        f"/media/{10**30}",
        "/thumbs/../library.db",
        "/thumbs/%2e%2e%2flibrary.db",
        "/static/../library.db",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/static/..%2f..%2fetc%2fpasswd",
        "/static/",
        "/api/v1/videos/..%2f..%2fetc",
    ):
        response = client.get(path)
        assert response.status_code in (400, 404, 405, 422), (path, response.status_code)
        assert b"root:" not in response.content and secret not in response.content, path


def test_only_the_very_file_indexed_is_served(tmp_path):
    videos = tmp_path / "videos"
    (videos / "folder").mkdir(parents=True)
    names = ("moved", "gone", "swapped", "edited", "linked", "replaced", "folder/inside")
    for name in names:
        pattern_video(videos / f"{name}.mp4", seconds=2)
    size = (videos / "edited.mp4").stat().st_size
    secret = tmp_path / "secret.txt"
    secret.write_bytes((b"private " * size)[:size])  # the size of the videos it stands in for
    with Library(tmp_path / "lib") as lib, TestClient(create_app(lib), base_url=LOCAL) as client:
        lib.index([videos], speech="off")
        ids = {v["path"][len(str(videos)) + 1 : -4]: v["id"] for v in client.get("/api/v1/videos").json()["videos"]}
        (videos / "moved.mp4").rename(tmp_path / "elsewhere.mp4")
        (videos / "gone.mp4").unlink()
        (videos / "swapped.mp4").unlink()
        (videos / "swapped.mp4").symlink_to(secret)  # a link in its place
        with open(videos / "edited.mp4", "r+b") as f:  # the same file, edited in place, same size
            f.write(b"OVERWRITTEN")
        (videos / "linked.mp4").unlink()
        os.link(secret, videos / "linked.mp4")  # a hard link to another file
        shutil.copy(secret, tmp_path / "incoming")
        (tmp_path / "incoming").rename(videos / "replaced.mp4")  # renamed over it
        (videos / "folder").rename(videos / "folder.real")
        (tmp_path / "fake").mkdir()
        shutil.copy(secret, tmp_path / "fake" / "inside.mp4")
        (videos / "folder").symlink_to(tmp_path / "fake")  # a link on the way to it
        why = {"moved": "gone", "gone": "gone", "swapped": "link", "folder/inside": "link"}
        for name in names:
            body = is_problem(client.get(f"/media/{ids[name]}", headers={"Range": "bytes=0-10"}), 404)
            assert why.get(name, "changed") in body["detail"], (name, body)
            clip = client.get(f"/media/{ids[name]}/clip", params={"start": 0, "end": 1})
            assert clip.status_code == 404 and b"private" not in clip.content


def test_a_token_guards_the_api_and_media_urls_are_signed(served):
    lib, _ = served
    with TestClient(create_app(lib, Settings(token="s3cret", hosts=["*"])), base_url=LOCAL) as client:
        is_problem(client.get("/api/v1/search", params={"q": "a cat"}), 401)
        is_problem(client.get("/api/v1/stats", headers={"Authorization": "Bearer wrong"}), 401)
        auth = {"Authorization": "Bearer s3cret"}
        hit = client.get("/api/v1/search", params={"q": "a cat"}, headers=auth).json()["hits"][0]
        assert "sig=" in hit["thumbnail_url"] and "sig=" in hit["play_url"] and "sig=" in hit["clip_url"]
        assert client.get(hit["thumbnail_url"]).status_code == 200  # as an <img> fetches it: no header
        media = hit["play_url"].split("#")[0]
        assert client.get(media, headers={"Range": "bytes=0-9"}).status_code == 206
        is_problem(client.get(f"/media/{hit['video_id']}"), 401)  # unsigned
        is_problem(client.get(media.replace("sig=", "sig=0")), 401)  # tampered
        other = media.replace(f"/media/{hit['video_id']}", f"/media/{hit['video_id'] + 1}")
        is_problem(client.get(other), 401)  # a signature is for its own path
        expired = media.split("exp=")[0] + "exp=1&" + media.split("&")[1]
        is_problem(client.get(expired), 401)
        assert client.get(f"/media/{hit['video_id']}", headers=auth).status_code == 200
        assert client.get("/api/v1/stats", headers={"Authorization": "bearer s3cret"}).status_code == 200
        assert client.get(hit["clip_url"]).status_code == 200
        widened = hit["clip_url"].replace("start=", "pad=60&start=")  # a signature covers its parameters
        is_problem(client.get(widened), 401)


def test_headers_hosts_cors_and_the_openapi_document(served):
    lib, _ = served
    with TestClient(create_app(lib, Settings()), base_url=LOCAL) as client:
        page = client.get("/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-content-type-options"] == "nosniff"
        assert client.get("/static/app.js").status_code == 200
        rebound = client.get("/api/v1/stats", headers={"Host": "evil.example"})  # DNS rebinding
        assert is_problem(rebound, 400) and rebound.headers["x-content-type-options"] == "nosniff"
        assert client.get("/api/v1/stats", headers={"Host": "localhost:8765"}).status_code == 200
        too_big = client.post("/api/v1/search", headers={"Content-Length": "99999999999"})
        assert is_problem(too_big, 413) and "default-src" in too_big.headers["content-security-policy"]
        photos = client.get("/api/v1/videos").json()["videos"][0]["id"]
        other_site = client.get(f"/media/{photos}", headers={"Sec-Fetch-Site": "cross-site"})
        assert is_problem(other_site, 403)  # another page's <video> cannot show or measure your files
        assert client.get(f"/media/{photos}", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
        assert page.headers["cross-origin-resource-policy"] == "same-origin"
        is_problem(client.get("/api/v1/search", params={"q": "cat", "path": "/tmp/\0x"}), 400)
        is_problem(client.get("/api/v1/videos", params={"offset": 2**63}), 422)
        assert "access-control-allow-origin" not in client.get("/api/v1/stats", headers={"Origin": "http://x"}).headers
        paths = client.get("/openapi.json").json()["paths"]
        assert {"/api/v1/search", "/api/v1/videos", "/api/v1/videos/{video_id}", "/api/v1/stats",
                "/api/v1/jobs/index", "/api/v1/jobs/{job_id}", "/media/{video_id}"} <= set(paths)  # fmt: skip
    with TestClient(create_app(lib, Settings(cors=["http://dam.example"])), base_url=LOCAL) as client:
        allowed = client.get("/api/v1/stats", headers={"Origin": "http://dam.example"})
        assert allowed.headers["access-control-allow-origin"] == "http://dam.example"


def test_index_jobs_run_report_and_cancel(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    for k in range(2):
        pattern_video(videos / f"{k}.mp4", seconds=3)
    (tmp_path / "outside").mkdir()
    with Library(tmp_path / "lib") as lib:
        with TestClient(create_app(lib), base_url=LOCAL) as off:
            is_problem(off.post("/api/v1/jobs/index", json={"paths": [str(videos)]}), 403)
        settings = Settings(roots=[tmp_path / "videos"])
        (tmp_path / "outside" / "stolen.mp4").write_bytes((videos / "0.mp4").read_bytes())
        (videos / "out").symlink_to(tmp_path / "outside")  # links inside the root that lead out of it
        (videos / "out.mp4").symlink_to(tmp_path / "outside" / "stolen.mp4")
        with TestClient(create_app(lib, settings), base_url=LOCAL) as client:
            is_problem(client.post("/api/v1/jobs/index", json={"paths": [str(tmp_path / "outside")]}), 403)
            is_problem(client.post("/api/v1/jobs/index", json={"paths": [str(videos / "out")]}), 403)
            is_problem(client.post("/api/v1/jobs/index", json={"paths": [str(videos / "a\0b")]}), 400)
            is_problem(client.post("/api/v1/jobs/index", json={"paths": [str(videos / ".." / "outside")]}), 403)
            is_problem(client.post("/api/v1/jobs/index", json={"paths": []}), 422)
            job = client.post("/api/v1/jobs/index", json={"paths": [str(videos)]})
            assert job.status_code == 202 and job.json()["state"] == "running"
            done = wait(client, job.json()["id"])
            assert (
                done["state"] == "done" and len(done["report"]["indexed"]) == 2 and done["progress"]["files_done"] == 2
            )
            assert client.get("/api/v1/search", params={"q": "a test pattern", "cutoff": False}).json()["hits"]
            assert not any("outside" in v["path"] for v in client.get("/api/v1/videos").json()["videos"])
            is_problem(client.get("/api/v1/jobs/nope"), 404)
            is_problem(client.delete(f"/api/v1/jobs/{done['id']}"), 409)  # already done
            other = Library(lib.path)  # another process holds the library: refused now, not later
            assert other.store.lock.acquire()
            try:
                is_problem(client.post("/api/v1/jobs/index", json={"paths": [str(videos)]}), 409)
            finally:
                other.close()

            for k in range(2, 12):  # enough to cancel in the middle
                pattern_video(videos / f"{k}.mp4", seconds=20, size="128x96", rate=5)
            job = client.post("/api/v1/jobs/index", json={"paths": [str(videos)]}).json()
            refused = client.post("/api/v1/jobs/index", json={"paths": [str(videos)]})  # one at a time
            first = client.get(f"/api/v1/jobs/{job['id']}").json()
            assert refused.status_code == 409, (first["state"], first.get("error"))  # the first job, then
            is_problem(refused, 409)
            while (client.get(f"/api/v1/jobs/{job['id']}").json()["progress"] or {}).get("files_done", 0) < 1:
                time.sleep(0.05)
            assert client.delete(f"/api/v1/jobs/{job['id']}").status_code == 202
            stopped = wait(client, job["id"])
            assert stopped["state"] == "cancelled" and lib.store.consistent()
            assert 2 < lib.stats().videos < 12  # what it did is kept


def wait(client, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["state"] != "running":
            return job
        time.sleep(0.1)
    raise AssertionError("the job did not end")


def test_host_names_with_ports():
    from footage.serve.app import host_name

    headers = ("127.0.0.1:8765", "[::1]:8765", "[::1]", "LocalHost", "::1")
    assert [host_name(h) for h in headers] == ["127.0.0.1", "::1", "::1", "localhost", "::1"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_footage_serve_on_loopback_and_refusing_other_hosts_without_a_token(served, footage_cli):
    lib, _ = served
    refused = run_cli(footage_cli, "serve", "--host", "0.0.0.0", library=lib.path, check=False)
    assert refused.returncode == 2 and "--token" in refused.stderr and refused.stderr.count("\n") == 1
    port = free_port()
    proc = subprocess.Popen([footage_cli, "--library", str(lib.path), "serve", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout.readline().strip() == f"serving http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/stats", timeout=5) as response:
                    assert json.load(response)["videos"] == 2
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert "Traceback" not in err


def test_export_cuts_the_hits_into_a_folder(served, tmp_path, footage_cli):
    lib, _ = served
    written = json.loads(
        run_cli(
            footage_cli,
            "export",
            "a cup of coffee",
            "--top-k",
            "2",
            "--to",
            tmp_path / "clips",
            "--json",
            library=lib.path,
        ).stdout  # fmt: skip
    )
    assert len(written) == 2 and all(Path(p).stat().st_size > 0 for p in written)
    assert Path(written[0]).name.startswith("01-photos-6.0-11.0")


def test_search_like_and_by_image_from_the_cli(served, tmp_path, footage_cli):
    lib, _ = served
    coffee = json.loads(run_cli(footage_cli, "search", "a cup of coffee", "--json", library=lib.path).stdout)[0]
    like = json.loads(run_cli(footage_cli, "search", "--like", coffee["segment"], "--json", library=lib.path).stdout)
    assert like and coffee["segment"] not in [h["segment"] for h in like]
    picture = photo("rocket", tmp_path)
    found = json.loads(run_cli(footage_cli, "search", "--image", picture, "--json", library=lib.path).stdout)
    assert (found[0]["start"], found[0]["end"]) == (11.0, 18.0)
    both = run_cli(footage_cli, "search", "x", "--like", "1", library=lib.path, check=False)
    assert both.returncode == 2 and "one of them" in both.stderr


def test_paths_that_are_not_utf8_are_served(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    latin1 = Path(os.fsdecode(bytes(videos) + b"/caf\xe9.mp4"))
    pattern_video(videos / "tmp.mp4", seconds=2)
    shutil.move(videos / "tmp.mp4", latin1)
    with Library(tmp_path / "lib") as lib, TestClient(create_app(lib), base_url=LOCAL) as client:
        lib.index([videos], speech="off")
        hit = client.get("/api/v1/search", params={"q": "a test pattern", "cutoff": False}).json()["hits"][0]
        assert hit["path"].endswith("caf\\xe9.mp4")
        assert client.get(hit["play_url"].split("#")[0]).content == latin1.read_bytes()


def test_api_details_errors_and_numbers(client, served, tmp_path):
    _, videos = served
    named = client.post("/api/v1/search", files={"image": ("holiday.jpg", b"not a picture", "image/jpeg")})
    detail = is_problem(named, 400)["detail"]
    assert detail.startswith("holiday.jpg: not a picture") and "BytesIO" not in detail and " at 0x" not in detail
    nul = is_problem(client.get("/api/v1/search", params={"q": "cat", "path": "/tmp/a\0b"}), 400)["detail"]
    assert "NUL" in nul and "empty" not in nul
    assert is_problem(client.get("/api/v1/search", params={"q": "x", "min_score": "nan"}), 422)
    assert is_problem(client.get("/api/v1/search", params={"q": "x", "min_score": "inf"}), 422)
    coffee = client.get("/api/v1/search", params={"q": "a cup of coffee", "mode": "visual"}).json()["hits"][0]
    like = {"like": coffee["segment_id"]}
    assert "visual" in is_problem(client.get("/api/v1/search", params={**like, "mode": "speech"}), 400)["detail"]
    assert client.get("/api/v1/search", params={**like, "mode": "visual"}).status_code == 200
    nobody = client.get("/api/v1/search", params={"q": "cat", "path": "~nosuchuser/x"})
    is_problem(nobody, 400)  # Path.expanduser's RuntimeError, said as a bad value
    for url in (f"/api/v1/videos/{10**25}", f"/thumbs/-{10**25}", f"/media/{10**25}/clip?start=0&end=1"):
        assert str(10**25) not in json.dumps(is_problem(client.get(url), 422)), url  # no id, and not echoed
    photos = video_id(client, "photos.mp4")
    raw = client.get(f"/api/v1/videos/{photos}").text
    assert not re.search(r"\d\.\d{4,}", raw.replace(str(videos), ""))  # no float32 noise: 2.04, not 2.0399999618
    hits = client.get("/api/v1/search", params={"q": "a photo", "limit": 10}).json()["hits"]
    assert all(round(h["start"], 3) == h["start"] and round(h["end"], 3) == h["end"] for h in hits)


def test_a_token_is_asked_for_with_www_authenticate(served):
    lib, _ = served
    with TestClient(create_app(lib, Settings(token="s3cret", hosts=["*"])), base_url=LOCAL) as client:
        refused = client.get("/api/v1/stats")
        assert is_problem(refused, 401) and refused.headers["www-authenticate"].startswith("Bearer")
        unsigned = client.get("/thumbs/1")
        assert is_problem(unsigned, 401) and unsigned.headers["www-authenticate"].startswith("Bearer")


def test_a_cors_origin_may_load_media_in_cors_mode(served):
    lib, _ = served
    origin = "http://dam.example"
    with TestClient(create_app(lib, Settings(cors=[origin])), base_url=LOCAL) as client:
        found = client.get("/api/v1/search", params={"q": "a cup of coffee"}, headers={"Origin": origin})
        hit = found.json()["hits"][0]
        cross = {"Origin": origin, "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}
        for url in (hit["thumbnail_url"], hit["play_url"].split("#")[0]):
            loaded = client.get(url, headers={**cross, "Range": "bytes=0-9"})
            assert loaded.status_code in (200, 206) and loaded.headers["access-control-allow-origin"] == origin, url
            assert "content-range" in loaded.headers.get("access-control-expose-headers", "").lower() or (
                loaded.status_code == 200
            )
        other = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}
        is_problem(client.get(hit["thumbnail_url"], headers=other), 403)
        is_problem(client.get(hit["thumbnail_url"], headers={"Sec-Fetch-Site": "cross-site"}), 403)  # no-cors <img>


def test_pictures_decode_small_and_bombs_are_refused(client, tmp_path):
    from footage.serve.pictures import MAX_DECODED_PIXELS, downscaled

    png = io.BytesIO()
    Image.new("L", (6300, 6300)).save(png, "PNG")  # 38 KB holding 40 million pixels: decoded whole, 160 MB as RGBA
    refused = client.post("/api/v1/search", files={"image": ("big.png", png.getvalue(), "image/png")})
    assert "6300x6300" in is_problem(refused, 400)["detail"] and 6300 * 6300 > MAX_DECODED_PIXELS
    jpeg = io.BytesIO()
    Image.open(photo("coffee", tmp_path)).convert("RGB").resize((8000, 6000)).save(jpeg, "JPEG", quality=60)  # 48 MP
    small = Image.open(io.BytesIO(downscaled(jpeg.getvalue(), 224, "cup.jpg")))
    assert max(small.size) <= 448 and small.size[0] > small.size[1]  # decoded at 1/8 (a JPEG's draft), aspect kept
    found = client.post("/api/v1/search", files={"image": ("cup.jpg", jpeg.getvalue(), "image/jpeg")})
    assert (found.json()["hits"][0]["start"], found.json()["hits"][0]["end"]) == (6.0, 11.0)


@pytest.mark.parametrize(
    "args, says",
    [
        (["--cors", "*"], "--token"),  # any web site could read the library
        (["--host", "0.0.0.0"], "--token"),  # any machine could
        (["--token", " "], "blank"),
        (["--token", " abc "], "spaces"),
        (["--root", "/nonexistent/videos"], "no such folder"),
        (["--root", "~nosuchuser/x"], "nosuchuser"),
    ],
)
def test_serve_refuses_at_start_what_would_expose_or_serve_nothing(served, footage_cli, args, says):
    lib, _ = served
    refused = run_cli(footage_cli, "serve", "--port", free_port(), *args, library=lib.path, check=False)
    assert refused.returncode == 2 and says in refused.stderr and refused.stderr.count("\n") == 1, refused.stderr


def test_serve_refuses_a_library_that_is_not_there(tmp_path, footage_cli):
    refused = run_cli(footage_cli, "serve", "--port", free_port(), library=tmp_path / "nope", check=False)
    assert refused.returncode == 1 and "no footage library" in refused.stderr and refused.stderr.count("\n") == 1
    assert not (tmp_path / "nope").exists() and "serving" not in refused.stdout
