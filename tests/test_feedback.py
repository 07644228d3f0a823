"""A person's marks on search hits, stored in the library, and training from them: through Library, the CLI and
the HTTP API, on a real library of the photo video (indexed once, copied for each test)."""

import json
import shutil
import sqlite3

import pytest
from conftest import run_cli
from fastapi.testclient import TestClient
from test_real_libraries import read_only
from typer.testing import CliRunner

from footage import Library, LibraryBusy, Mark
from footage.cli.main import app
from footage.errors import BadValue, LibraryReadOnly, NotFound
from footage.serve.app import create_app
from footage.serve.jobs import Job
from footage.serve.security import Settings
from footage.store import writes
from footage.store.schema import SCHEMA_VERSION

WORDS = {  # as tests/test_train.py: more ways to say each photo, so that there is something to learn
    "cat": ["a cat", "a tabby cat looking up", "a kitten"],
    "coffee": ["a cup of coffee", "espresso in a white cup", "a hot drink on a saucer"],
    "rocket": ["space launch", "a rocket on the launch pad", "a spacecraft lifting off"],
    "astronaut": ["a person in a space suit", "an astronaut", "a man in a white suit with a flag"],
    "motorcycle": ["a motorcycle", "a parked motorbike", "a red sports bike"],
}


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, photos):
    """The folder of a library holding the photo video, closed: tests copy it (a copy costs no indexing)."""
    folder = tmp_path_factory.mktemp("feedback") / "lib"
    with Library(folder) as lib:
        lib.index([photos[0]], speech="off")
    return folder


@pytest.fixture
def lib_path(indexed, tmp_path):
    shutil.copytree(indexed, tmp_path / "lib")
    return tmp_path / "lib"


@pytest.fixture
def lib(lib_path):
    with Library(lib_path) as lib:
        yield lib


def mark_right_moments(lib, stretches, video_id):
    """Each photo's seconds marked right for the ways of saying it (25 marks), and a few wrong ones."""
    for s in stretches:
        for k, text in enumerate(WORDS[s.name]):
            lib.mark(text, video_id, s.start + k, s.start + k + 1, True)
    for s, other in zip(stretches, stretches[1:]):
        lib.mark(WORDS[s.name][0], video_id, other.start, other.start + 1, False)


def test_marks_are_stored_replaced_listed_and_dropped(lib, photos):
    path, stretches = photos
    video = lib.videos()[0][0].id
    cat = lib.mark("a cat", video, 0, 2.5, True, segment_id=1)
    assert isinstance(cat, Mark) and (cat.query, cat.video_id, cat.path) == ("a cat", video, str(path))
    assert (cat.start, cat.end, cat.right, cat.segment_id) == (0.0, 2.5, True, 1) and cat.created_at > 0
    cup = lib.mark("  a cup  ", str(path), 6, 11, False)  # by the video's path; the query's spaces trimmed
    assert cup.video_id == video and cup.query == "a cup" and not cup.right
    again = lib.mark("a cat", video, 0, 2.5, False)  # a change of mind replaces the mark
    assert again.id == cat.id and not again.right and again.segment_id is None
    assert [m.id for m in lib.marks()] == [cat.id, cup.id]  # newest first: marking again makes it the newest
    lib.unmark(cup.id)
    with pytest.raises(NotFound, match=f"mark {cup.id}: no such mark"):
        lib.unmark(cup.id)
    lib.close()
    with Library(lib.path) as reopened:
        assert reopened.marks() == [again]


def test_a_mark_names_what_is_wrong_with_it(lib, photos, tmp_path):
    video = lib.videos()[0][0].id
    for args, error, says in [
        (("  ", video, 0, 1, True), BadValue, "an empty query"),
        (("a cat", video, 3, 3, True), BadValue, "from start to a later end"),
        (("a cat", video, -1, 1, True), BadValue, "at or after 0 s"),
        (("a cat", video, float("nan"), 1, True), BadValue, "numbers of seconds"),
        (("a cat", video, 0, 1, "yes"), BadValue, "right must be true or false"),
        (("a cat", video + 1, 0, 1, True), NotFound, f"video {video + 1}: not in the library"),
        (("a cat", tmp_path / "other.mp4", 0, 1, True), NotFound, "other.mp4: not a video in the library"),
    ]:
        with pytest.raises(error, match=says):
            lib.mark(*args)
    assert lib.marks() == []


def test_removing_a_video_drops_its_marks(lib, photos):
    lib.mark("a cat", lib.videos()[0][0].id, 0, 1, True)
    lib.remove(photos[0])
    assert lib.marks() == [] and lib.store.consistent()


def test_a_version_6_library_gains_an_empty_table_of_marks(lib_path):
    db = sqlite3.connect(lib_path / "library.db")
    db.execute("DROP TABLE marks")
    db.execute("PRAGMA user_version = 6")
    db.commit()
    db.close()
    with Library(lib_path) as lib:
        assert lib.marks() == [] and len(lib.search("a cat", top_k=1, captions=False)) == 1
        lib.mark("a cat", lib.videos()[0][0].id, 0, 1, True)
        assert len(lib.marks()) == 1
    db = sqlite3.connect(lib_path / "library.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 7
    db.close()


def test_a_mark_waits_briefly_for_another_writer_then_says_busy(lib, monkeypatch):
    monkeypatch.setattr(writes, "MARK_WAIT_MS", 100)
    video = lib.videos()[0][0].id
    writer = sqlite3.connect(lib.path / "library.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # as an index run does while a long file decodes
    try:
        with pytest.raises(LibraryBusy, match="another process is writing to the library"):
            lib.mark("a cat", video, 0, 1, True)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert lib.mark("a cat", video, 0, 1, True).right


def test_a_read_only_library_lists_marks_and_refuses_new_ones(lib_path):
    with Library(lib_path) as lib:
        first = lib.mark("a cat", lib.videos()[0][0].id, 0, 1, True)
    with read_only(lib_path) as archive, Library(archive) as lib:
        assert [m.id for m in lib.marks()] == [first.id]
        with pytest.raises(LibraryReadOnly):
            lib.mark("a kitten", first.video_id, 0, 1, True)
        with pytest.raises(LibraryReadOnly):
            lib.unmark(first.id)


def test_training_from_marks_keeps_a_predictor_and_says_so_in_one_line(lib, photos):
    _, stretches = photos
    video = lib.videos()[0][0].id
    lib.mark("a cat", video, 0, 1, True)
    lib.mark("a tabby cat looking up", video, 1, 2, True)
    lib.mark("a cup of coffee", video, 0, 1, False)
    with pytest.raises(BadValue, match=r"^2 right marks; training needs at least 3$"):
        lib.train_from_feedback()
    mark_right_moments(lib, stretches, video)
    right = sum(m.right for m in lib.marks())
    report = lib.train_from_feedback(epochs=30)
    assert report.train_pairs + report.held_out_pairs == right == 15  # the wrong marks are not trained on
    assert report.kept and report.version == 1 and lib.settings.predictor_version == 1
    assert report.summary == (
        f"kept predictor v1: held-out MRR {report.before.mrr:.3f} -> {report.after.mrr:.3f} "
        f"(trained on {report.train_pairs} marks, checked on {report.held_out_pairs} held out)"
    )
    assert lib.stats().predictor["pairs"] == report.train_pairs and lib.store.consistent()
    assert len(lib.marks()) == right + 5  # training keeps the marks
    # the trained predictor's pictures get a floor of their own: nonsense still finds nothing, a cat its moment
    assert lib.search("zzqxj plorf", captions=False) == []
    cat = lib.search("a cat", captions=False)[0]
    assert cat.relevance is not None and 0 <= cat.relevance <= 1


def test_the_cli_marks_lists_unmarks_and_trains_from_feedback(lib_path, photos, footage_cli):
    path, stretches = photos
    done = run_cli(footage_cli, "mark", "a cat", path, "0:00:00", "0:00:02.5", "--right", library=lib_path)
    assert done.stdout == f"marked right (mark 1): 'a cat' at {path} 0:00:00-0:00:02.5\n"
    short = run_cli(footage_cli, "train", "--from-feedback", library=lib_path, check=False)
    assert (short.returncode, short.stderr) == (2, "error: 1 right mark; training needs at least 3\n")

    def cli(*args):  # the rest in this process, sharing its models: a subprocess loads them each time
        return CliRunner().invoke(app, ["--library", str(lib_path), *map(str, args)])

    bad = cli("mark", "a cat", path, "5", "1", "--wrong")
    assert isinstance(bad.exception, BadValue) and "from start to a later end" in str(bad.exception)
    assert "not a time" in str(cli("mark", "a cat", path, "0:75", "1:20", "--wrong").exception)
    assert "--right or --wrong" in str(cli("mark", "a cat", path, "0", "1").exception)
    with Library(lib_path) as lib:
        mark_right_moments(lib, stretches, lib.videos()[0][0].id)
    marks = json.loads(cli("marks", "--json").stdout)
    assert len(marks) == 20 and (marks[-1]["id"], marks[-1]["start"], marks[-1]["end"]) == (1, 0, 2.5)
    assert "right" in cli("marks").stdout and cli("unmark", 1).stdout == "mark 1 dropped\n"
    assert "mark 1: no such mark" in str(cli("unmark", 1).exception)
    assert "PAIRS file or --from-feedback" in str(cli("train").exception)
    trained = cli("train", "--from-feedback", "--epochs", 20)
    assert trained.stdout.startswith("kept predictor v1: held-out MRR ") and trained.stdout.count("\n") == 1
    assert "(trained on 12 marks, checked on 3 held out)" in trained.stdout


def test_the_api_marks_lists_unmarks_and_trains_from_feedback(lib, photos):
    path, stretches = photos
    video = lib.videos()[0][0].id
    with TestClient(create_app(lib, Settings()), base_url="http://127.0.0.1") as client:
        body = {"query": "a cat", "video_id": video, "start": 0, "end": 2.5, "right": True, "segment_id": None}
        made = client.post("/api/v1/feedback", json=body)
        assert made.status_code == 201, made.text
        mark = made.json()
        assert mark == {**body, "id": mark["id"], "path": str(path), "created_at": mark["created_at"]}
        again = client.post("/api/v1/feedback", json={**body, "right": False}).json()
        assert again["id"] == mark["id"] and not again["right"]
        assert client.get("/api/v1/feedback").json() == {"marks": [again]}

        nowhere = client.post("/api/v1/feedback", json={**body, "video_id": video + 1})
        assert nowhere.status_code == 404 and nowhere.json()["detail"] == f"video {video + 1}: not in the library"
        backwards = client.post("/api/v1/feedback", json={**body, "start": 3, "end": 1})
        assert backwards.status_code == 400 and "from start to a later end" in backwards.json()["detail"]
        assert client.delete(f"/api/v1/feedback/{mark['id']}").status_code == 204
        gone = client.delete(f"/api/v1/feedback/{mark['id']}")
        assert gone.status_code == 404 and gone.headers["content-type"] == "application/problem+json"

        few = client.post("/api/v1/train", json={"from_feedback": True})
        assert few.status_code == 400 and few.json()["detail"] == "0 right marks; training needs at least 3"
        assert client.post("/api/v1/train", json={"from_feedback": False}).status_code == 400
        mark_right_moments(lib, stretches, video)
        jobs = client.app.state.jobs
        jobs.jobs["running"] = Job("running", ["/videos"])  # an index job under way: the library is its
        busy = client.post("/api/v1/train", json={"from_feedback": True})
        assert busy.status_code == 409 and "index job is running" in busy.json()["detail"]
        del jobs.jobs["running"]
        trained = client.post("/api/v1/train", json={"from_feedback": True, "epochs": 20})
        assert trained.status_code == 200, trained.text
        out = trained.json()
        assert out["kept"] and out["version"] == 1 and out["pairs"] == 15
        assert set(out["before"]) == set(out["after"]) == {"r1", "r5", "mrr"}
        assert out["summary"].startswith("kept predictor v1: held-out MRR ")
        assert client.get("/api/v1/stats").json()["predictor"]["version"] == 1
