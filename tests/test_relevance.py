"""The cut-off and Hit.relevance (issue 26): a query that means nothing finds nothing, in the library, the CLI and
the API alike, while a real one still finds its moment; the override shows everything again."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from typer.testing import CliRunner

from footage import Hit
from footage.cli.format import hits_list, hits_table
from footage.cli.main import app
from footage.errors import BadValue
from footage.search.engine import rank
from footage.serve.app import create_app
from footage.serve.security import Settings

NONSENSE = [
    line.strip()
    for line in (Path(__file__).parent.parent / "bench" / "data" / "nonsense.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]


def test_nonsense_finds_nothing_and_a_real_query_its_moment(photo_library, photos):
    for query in NONSENSE:
        assert photo_library.search(query, captions=False) == [], query
    path, stretches = photos
    cat = next(s for s in stretches if s.name == "cat")
    hits = photo_library.search("a cat", captions=False)
    assert (hits[0].path, hits[0].start, hits[0].end) == (str(path), cat.start, cat.end)
    assert hits[0].relevance == 1.0  # as close as the tuning half's right first answers, or closer


def test_relevance_is_between_0_and_1_and_falls_with_the_score(photo_library):
    hits = photo_library.search("a motorcycle", captions=False, mode="visual", cutoff=False, per_video=None)
    assert len(hits) == 5 and all(0.0 <= h.relevance <= 1.0 for h in hits)
    assert [h.relevance for h in hits] == sorted((h.relevance for h in hits), reverse=True)
    assert hits[0].relevance == 1.0 and hits[-1].relevance == 0.0  # the last is below the pictures' floor
    shown = photo_library.search("a motorcycle", captions=False, mode="visual", per_video=None)
    assert [h.start for h in shown] == [h.start for h in hits if h.relevance > 0]  # the cut-off hides, in order
    assert photo_library.search_like(hits[0].segment, captions=False)[0].relevance is None  # no floor for pictures


def test_the_overrides(photo_library):
    everything = photo_library.search("zzqxj plorf", captions=False, cutoff=False)
    assert everything and all(h.relevance == 0.0 for h in everything)  # as before the cut-off
    some = photo_library.search("a motorcycle", captions=False)
    close = photo_library.search("a motorcycle", captions=False, min_relevance=0.9)
    assert 0 < len(close) < len(some) and all(h.relevance >= 0.9 for h in close)
    assert photo_library.search("a motorcycle", captions=False, min_score=0.3)[-1].score >= 0.3  # as it was
    with pytest.raises(BadValue, match="min_relevance"):
        photo_library.search("a motorcycle", min_relevance=1.5)


def hit(channel: str, start: float, relevance: float | None, score: float = 0.5) -> Hit:
    return Hit("/v.mp4", start, start + 2, score, channels=[channel], relevance=relevance)


def test_a_moment_is_shown_when_one_of_its_channels_passes_its_floor_and_has_the_best_relevance():
    def channels():  # relevance as the channels set it: negative below the floor; None where there is no floor
        return [
            [hit("visual", 0, -0.2), hit("visual", 10, -0.5), hit("visual", 20, None)],
            [hit("speech", 1, 0.6), hit("speech", 21, -0.1)],
        ]

    shown = rank(channels(), 10, None, cutoff=True)
    assert [(h.start, h.relevance) for h in shown] == [(0, 0.6), (21, None)]  # 10: no channel passes its floor
    every = rank(channels(), 10, None)
    assert sorted((h.start, h.relevance) for h in every) == [(0, 0.6), (10, 0.0), (21, None)]  # clamped to 0


def test_the_cli_says_when_nothing_matches_and_shows_words_for_scores(photo_library):
    runner = CliRunner()
    where = ["--library", str(photo_library.path)]
    nothing = runner.invoke(app, [*where, "search", "zzqxj plorf"])
    assert nothing.exit_code == 0 and nothing.stdout == ""
    assert nothing.stderr.strip() == "no moments match 'zzqxj plorf'"
    empty = runner.invoke(app, [*where, "search", "zzqxj plorf", "--json"])
    assert empty.exit_code == 0 and empty.stdout.strip() == "[]"
    shown = runner.invoke(app, [*where, "search", "zzqxj plorf", "--no-cutoff", "--no-caption", "-k", "2"])
    assert shown.exit_code == 0 and shown.stdout.count("weak") == 2
    strict = runner.invoke(app, [*where, "search", "a cat", "--min-relevance", "2"])
    assert strict.exit_code == 2


def test_a_hit_shows_a_word_for_its_relevance_and_its_words_once_after_what_found_them():
    found = Hit("/films/title.mp4", 4.0, 10.0, 0.41, caption="A web site", channels=["visual"], relevance=0.8)
    found.transcript, found.words_from = "GRAND OPENING SALE", "on-screen"
    said = Hit("/films/talk.mp4", 0.0, 3.0, 0.02, channels=["speech"], relevance=0.4, transcript="where is it")
    said.words_from = "speech"
    picture = Hit("/films/like.mp4", 0.0, 3.0, 0.912, caption="A cat", channels=["visual"])  # a search by picture
    for layout in (hits_table, hits_list):
        console = Console(width=200, record=True, color_system=None)
        console.print(layout("query", [found, said, picture]))
        text = console.export_text()
        assert "A web site" in text
        assert text.count("GRAND OPENING SALE") == 1 and 'on screen: "GRAND OPENING SALE"' in text
        assert 'said: "where is it"' in text and "strong" in text and "good" in text and "0.912" in text
        assert "0.410" not in text and '- "' not in text  # no raw cosine where there is a relevance, no quote


def test_the_api_cuts_off_by_default_and_shows_everything_when_asked(photo_library):
    with TestClient(create_app(photo_library, Settings()), base_url="http://127.0.0.1") as client:
        nothing = client.get("/api/v1/search", params={"q": "zzqxj plorf"})
        assert nothing.status_code == 200 and nothing.json()["hits"] == []
        every = client.get("/api/v1/search", params={"q": "zzqxj plorf", "cutoff": False}).json()["hits"]
        assert every and all(h["relevance"] == 0.0 and "words_from" in h for h in every)
        close = client.get("/api/v1/search", params={"q": "a motorcycle", "min_relevance": 0.9}).json()["hits"]
        assert close and all(h["relevance"] >= 0.9 for h in close)
        assert client.get("/api/v1/search", params={"q": "a cat", "min_relevance": 1.5}).status_code == 422
