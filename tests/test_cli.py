"""The CLI as a user runs it: a real subprocess, real output."""

import json
import os
import re

import pytest
from conftest import run_cli
from typer.testing import CliRunner

from footage.cli.format import hms
from footage.cli.main import app


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, photos, footage_cli):
    lib = tmp_path_factory.mktemp("cli") / "lib"
    (photos[0].parent / "broken.mp4").write_bytes(b"\x00" * 1000)
    done = run_cli(footage_cli, "index", photos[0].parent, library=lib)
    assert "indexed 1 file (" in done.stdout and "1 failed" in done.stdout
    assert f"skipping {photos[0].parent / 'broken.mp4'}: not a readable video" in done.stderr
    return lib


def test_search_json(indexed, photos, footage_cli):
    hits = json.loads(
        run_cli(
            footage_cli, "search", "a cup of coffee", "--top-k", "3", "--no-cutoff", "--json", library=indexed
        ).stdout
    )
    assert len(hits) == 3
    assert {"path", "start", "end", "score", "caption", "relevance", "words_from"} <= set(hits[0])
    assert hits[0]["relevance"] == 1.0 and hits[2]["relevance"] == 0.0  # the third is below the pictures' floor
    assert hits[0]["path"] == str(photos[0]) and hits[0]["start"] == 6.0 and hits[0]["end"] == 11.0
    assert (
        any(w in hits[0]["caption"].lower() for w in ("coffee", "cup", "espresso", "mug"))
        and hits[0]["score"] > hits[1]["score"]
    )


def test_search_table_shows_human_times(indexed, footage_cli):
    wide = {**os.environ, "COLUMNS": "250"}  # paths fold in narrow terminals
    out = run_cli(footage_cli, "search", "a motorcycle", "-k", "2", library=indexed, env=wide).stdout
    assert "0:00:24" in out and "0:00:30" in out and "photos.mp4" in out


def test_library_from_environment(indexed, footage_cli):
    env = {**os.environ, "FOOTAGE_LIBRARY": str(indexed)}
    hits = json.loads(run_cli(footage_cli, "search", "a cat", "--json", env=env).stdout)
    assert hits[0]["start"] == 0.0


def test_stats(indexed, photos, footage_cli):
    stats = json.loads(run_cli(footage_cli, "stats", "--json", library=indexed).stdout)
    assert stats["videos"] == 1 and stats["segments"] == 5 and stats["seconds"] == pytest.approx(30, abs=0.2)
    assert stats["failures"][0][0] == str(photos[0].parent / "broken.mp4")
    text = run_cli(footage_cli, "stats", library=indexed).stdout
    assert "0:00:30" in text and "broken.mp4: not a readable video" in text


def test_reindex_is_incremental(indexed, photos, footage_cli):
    report = json.loads(run_cli(footage_cli, "index", photos[0].parent, "--json", library=indexed).stdout)
    assert report["indexed"] == [] and report["unchanged"] == 1 and len(report["failed"]) == 1  # tried again


def test_remove(tmp_path, photos, footage_cli):
    lib = tmp_path / "lib"
    run_cli(footage_cli, "index", photos[0], library=lib)
    assert json.loads(run_cli(footage_cli, "remove", photos[0], "--json", library=lib).stdout) == [str(photos[0])]
    done = run_cli(footage_cli, "remove", photos[0], library=lib, check=False)
    assert done.returncode == 1 and "nothing in the library" in done.stderr
    assert json.loads(run_cli(footage_cli, "search", "a cat", "--json", library=lib).stdout) == []


def test_library_error_is_one_line(tmp_path, footage_cli):
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = run_cli(footage_cli, "index", tmp_path, library=blocker / "lib", check=False)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "cannot create the library folder" in done.stderr


def test_every_command_has_help_with_an_example():
    runner = CliRunner()
    for command in app.registered_commands:
        result = runner.invoke(app, [command.name or command.callback.__name__, "--help"])
        assert result.exit_code == 0 and "Example:" in result.output, command.name


def test_hms():
    assert hms(0) == "0:00:00" and hms(65.4) == "0:01:05" and hms(3725) == "1:02:05" and hms(65.4, 1) == "0:01:05.4"


def test_search_table_fits_80_columns(indexed, photos, footage_cli):
    narrow = {**os.environ, "COLUMNS": "80", "TTY_COMPATIBLE": "1", "NO_COLOR": "1"}  # laid out as on a terminal
    every_hit = ("--per-video", "0", "--no-cutoff")  # the cut-off would leave the cat alone
    done = run_cli(footage_cli, "search", "a cat", "-k", "3", *every_hit, library=indexed, env=narrow)
    out = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout)  # bold and dim
    rows = [line for line in out.splitlines() if "photos.mp4" in line]
    assert len(rows) == 3 and all(len(line) <= 80 for line in out.splitlines())  # one line per hit, name whole
    assert str(photos[0].parent) not in out  # the file name in the table; the full path is in --json
    capped = run_cli(
        footage_cli, "search", "a cat", "-k", "3", "--per-video", "1", "--no-cutoff", library=indexed, env=narrow
    )
    text = re.sub(r"\x1b\[[0-9;]*m", "", capped.stdout)
    assert len([line for line in text.splitlines() if "photos.mp4" in line]) == 1 and "photos.mp4 +4" in text  # of 5
    every = run_cli(footage_cli, "search", "a cat", "--under", photos[0], *every_hit, "--json", library=indexed)
    assert len(json.loads(every.stdout)) == 5  # the video's other moments: all of them
    elsewhere = run_cli(footage_cli, "search", "a cat", "--under", photos[0].parent / "nothing", library=indexed)
    assert "no moments match 'a cat' under" in elsewhere.stderr


@pytest.mark.parametrize("query", ["", "   "])
def test_an_empty_query_is_a_one_line_error(indexed, footage_cli, query):
    done = run_cli(footage_cli, "search", query, library=indexed, check=False)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0 and "empty query" in done.stderr
