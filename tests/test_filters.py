"""Narrowing a search (files' dates, videos' lengths, one video, what found a moment) and the facets that count
each filter's hits, from the Library, the API and the CLI alike; and what the page browses besides search: the
moment "more like this" starts from, kept pictures, videos by recency with a cover, events with thumbnails."""

import datetime as dt
import json
import os

import pytest
from conftest import run_cli
from fastapi.testclient import TestClient
from media import PHOTOS, photo, photo_video

from footage import CHANNELS, Filters, Library
from footage.errors import BadValue, NotFound
from footage.serve.app import create_app

LOCAL = "http://127.0.0.1"
OLD = dt.datetime(2019, 6, 1, 12).timestamp()  # the long video's file date
NEW = dt.datetime(2024, 3, 10, 12).timestamp()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A library of a long video of every photo (2019) and a short one of a cat and a rocket, in a folder of its
    own (2024); and where each shows the rocket."""
    folder = tmp_path_factory.mktemp("filters")
    long, short = folder / "videos" / "all.mp4", folder / "videos" / "new" / "short.mp4"
    short.parent.mkdir(parents=True)
    shown = dict(zip([n for n, _, _ in PHOTOS], photo_video(long)))
    rocket = dict(zip(["cat", "rocket"], photo_video(short, [p for p in PHOTOS if p[0] in ("cat", "rocket")])))
    rockets = {str(long): shown["rocket"], str(short): rocket["rocket"]}  # where each shows the rocket
    os.utime(long, (OLD, OLD))
    os.utime(short, (NEW, NEW))
    lib = Library(folder / "lib")
    lib.index([folder / "videos"], speech="off")
    yield lib, long, short, rockets
    lib.close()


def paths(hits) -> set[str]:
    return {h.path for h in hits}


def test_filters_narrow_a_search_by_date_length_video_and_channel(world):
    lib, long, short, _ = world
    every = lib.search("a rocket", top_k=20, cutoff=False)
    assert paths(every) == {str(long), str(short)}
    assert paths(lib.search("a rocket", top_k=20, cutoff=False, filters=Filters(since="2024-01-01"))) == {str(short)}
    assert paths(lib.search("a rocket", top_k=20, cutoff=False, filters=Filters(until="2019-06-01"))) == {str(long)}
    assert lib.search("a rocket", cutoff=False, filters=Filters(since="2020-01-01", until="2023-12-31")) == []
    duration = {h.path: h.duration for h in every}
    assert duration[str(short)] < duration[str(long)]
    cut = (duration[str(short)] + duration[str(long)]) / 2
    assert paths(lib.search("a rocket", top_k=20, cutoff=False, filters=Filters(max_length=cut))) == {str(short)}
    assert paths(lib.search("a rocket", top_k=20, cutoff=False, filters=Filters(min_length=cut))) == {str(long)}
    one = lib.search("a rocket", top_k=20, cutoff=False, per_video=None, filters=Filters(video=every[0].video_id))
    assert paths(one) == {every[0].path} and len(one) >= 1
    visual = lib.search("a rocket", top_k=20, cutoff=False, filters=Filters(found_by=("visual",)))
    assert visual and all("visual" in h.channels for h in visual)
    assert lib.search("a rocket", cutoff=False, filters=Filters(found_by=("subtitles",))) == []  # none has any
    under = lib.search("a rocket", top_k=20, cutoff=False, filters=Filters(under=short.parent))
    assert paths(under) == {str(short)}
    like = lib.search_like(every[0].segment, top_k=20, filters=Filters(video=every[0].video_id))
    assert paths(like) <= {every[0].path}


def test_bad_filters_are_one_line_errors(world):
    lib = world[0]
    for filters, says in [
        (Filters(since="last week"), "since: 'last week' is not a date"),
        (Filters(since="2024-02-01", until="2024-01-01"), "until (2024-01-01) must come after since (2024-02-01)"),
        (Filters(min_length=-1), "min_length must be a number of seconds"),
        (Filters(min_length=60, max_length=10), "max_length (10) is below min_length (60)"),
        (Filters(found_by=("smell",)), f"found_by: smell is not a channel; channels: {', '.join(CHANNELS)}"),
    ]:
        with pytest.raises(BadValue, match="^" + says.replace("(", r"\(").replace(")", r"\)")):
            lib.search("a rocket", filters=filters)
    with pytest.raises(NotFound):
        lib.search("a rocket", filters=Filters(video=-5))


def test_the_api_filters_and_counts_facets(world):
    lib, long, short, _ = world
    with TestClient(create_app(lib), base_url=LOCAL) as c:
        page = c.get("/api/v1/search", params={"q": "a rocket", "limit": 1, "cutoff": "false"}).json()
        assert len(page["hits"]) == 1 and page["next_cursor"]
        facets = page["facets"]  # counted over more than the one hit shown
        assert facets["found_by"]["visual"] >= 2
        assert sum(facets["length"].values()) >= 2 and facets["folder"][str(short.parent)] >= 1
        second = c.get("/api/v1/search", params={"q": "a rocket", "cursor": page["next_cursor"], "cutoff": "false"})
        assert second.json()["facets"] is None  # a later page has none
        assert page["hits"][0]["caption"]  # the page shown is captioned
        newer = c.get("/api/v1/search", params={"q": "a rocket", "since": "2024-01-01", "cutoff": "false"}).json()
        assert {h["path"] for h in newer["hits"]} == {str(short)}
        assert newer["facets"]["folder"] == {str(short.parent): len(newer["hits"])}
        found = c.get("/api/v1/search", params=[("q", "a rocket"), ("found_by", "visual"), ("cutoff", "false")])
        assert all("visual" in h["channels"] for h in found.json()["hits"])
        bad = c.get("/api/v1/search", params={"q": "a rocket", "until": "soon"})
        assert bad.status_code == 400 and "until: 'soon' is not a date" in bad.json()["detail"]
        assert c.get("/api/v1/search", params={"q": "a rocket", "found_by": "smell"}).status_code == 400
        stale = c.get("/api/v1/search", params={"q": "a rocket", "video": 987654321})  # a link to a video gone
        assert stale.status_code == 404 and "video 987654321" in stale.json()["detail"]


def test_the_cli_filters(world, footage_cli):
    lib, long, short, _ = world
    out = run_cli(footage_cli, "search", "a rocket", "--since", "2024-01-01", "--json", "--no-cutoff", library=lib.path)
    assert {h["path"] for h in json.loads(out.stdout)} == {str(short)}
    out = run_cli(footage_cli, "search", "a rocket", "--until", "2019-12-31", "--found-by", "visual", "--json",
                  "--no-cutoff", library=lib.path)  # fmt: skip
    assert {h["path"] for h in json.loads(out.stdout)} == {str(long)}
    out = run_cli(footage_cli, "search", "a rocket", "--facets", "--json", "--no-cutoff", library=lib.path)
    counts = json.loads(out.stdout)
    assert counts["found_by"]["visual"] >= 2 and counts["folder"][str(short.parent)] >= 1
    bad = run_cli(footage_cli, "search", "a rocket", "--since", "someday", library=lib.path, check=False)
    assert bad.returncode != 0 and "since: 'someday' is not a date" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_a_kept_picture_a_moment_and_videos_with_covers(world, tmp_path):
    lib, long, short, rockets = world
    with TestClient(create_app(lib), base_url=LOCAL) as c:
        with open(photo("rocket", tmp_path), "rb") as f:
            kept = c.post("/api/v1/pictures", files={"image": ("rocket.png", f, "image/png")})
        assert kept.status_code == 201
        name = kept.json()["id"]
        assert c.get(f"/api/v1/pictures/{name}").json()["url"] == kept.json()["url"]
        picture = c.get(kept.json()["url"])
        assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
        hits = c.get("/api/v1/search", params={"picture": name}).json()["hits"]
        best = hits[0]
        rocket = rockets[best["path"]]
        assert best["start"] < rocket.end and rocket.start < best["end"]  # the rocket, in either video
        assert c.get("/api/v1/pictures/0123456789abcdef").status_code == 404
        assert c.get("/api/v1/search", params={"picture": "../../etc"}).status_code == 422

        moment = c.get(f"/api/v1/segments/{best['segment_id']}").json()
        assert moment["path"] == best["path"] and moment["caption"] and moment["duration"] > 0
        assert c.get("/api/v1/segments/987654321").status_code == 404

        recent = c.get("/api/v1/videos", params={"order": "recent"}).json()["videos"]
        assert [v["path"] for v in recent] == sorted((str(long), str(short)), reverse=True) or len(recent) == 2
        for v in recent:
            assert v["cover"] is not None and c.get(v["thumbnail_url"]).status_code == 200
        detail = c.get(f"/api/v1/videos/{recent[0]['id']}").json()
        assert detail["timeline"] and all(e["thumbnail_url"] for e in detail["timeline"])
    assert lib.picture(name).read_bytes()[:2] == b"\xff\xd8"  # kept as a JPEG, in the library
    with pytest.raises(NotFound):
        lib.picture("../library.db")
