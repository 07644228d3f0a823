import itertools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from media import photo_video  # noqa: E402
from stores import open_store  # noqa: E402

import footage.library  # noqa: E402
from footage import Library  # noqa: E402
from footage.models import BACKBONES  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def models_loaded_once():
    """Every Library of the run shares one load of the bundled models, as a tool opening many libraries would
    (Library(path, backbone=a_loaded_one)): loading them took a second or two a library, and the tests open
    about a hundred. Hub backbones (tiny random ones, one folder each) load as they are asked for."""
    load, shared = footage.library.load, {}

    def load_once(settings, cache_dir, predictor=None, backbone=None):
        if backbone is None and settings.backbone in BACKBONES:
            backbone = shared.get((settings.backbone, settings.device))
        models = load(settings, cache_dir, predictor, backbone)
        if settings.backbone in BACKBONES:
            shared[settings.backbone, settings.device] = models.backbone
        return models

    footage.library.load = load_once
    yield
    footage.library.load = load


@pytest.fixture(scope="session")
def photos(tmp_path_factory):
    """(path, stretches) of a video of real photos, each shown for a known stretch."""
    folder = tmp_path_factory.mktemp("photos")
    path = folder / "photos.mp4"
    return path, photo_video(path)


@pytest.fixture(scope="session")
def photo_library(tmp_path_factory, photos):
    """A library holding the photo video; tests must not change it."""
    lib = Library(tmp_path_factory.mktemp("photo-library"))
    report = lib.index([photos[0]])
    assert report.indexed == [str(photos[0])], report
    yield lib
    lib.close()


@pytest.fixture
def library(tmp_path):
    lib = Library(tmp_path / "library")
    yield lib
    lib.close()


@pytest.fixture(scope="session")
def footage_cli():
    exe = shutil.which("footage", path=str(Path(sys.executable).parent))
    assert exe, "the footage console script is not installed in this environment"
    return exe


def run_cli(exe, *args, library=None, check=True, **kwargs) -> subprocess.CompletedProcess:
    cmd = [exe, *(["--library", str(library)] if library else []), *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kwargs)
    if check and done.returncode != 0:
        raise AssertionError(f"{cmd} exited {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}")
    return done


# --- PostgreSQL: a throwaway cluster for the session, a fresh database for each test ---------------------------


def postgres_bin() -> Path:
    """The folder of initdb and pg_ctl: on the PATH, else Debian's /usr/lib/postgresql/VERSION/bin (the newest)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not debian:
        pytest.fail(
            "PostgreSQL is not installed (no initdb on the PATH or under /usr/lib/postgresql/*/bin): `make test` "
            "installs it (Debian/Ubuntu: apt-get install postgresql)"
        )
    return debian[-1].parent


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL cluster in a temporary folder, run as an unprivileged user (initdb refuses root), trusting
    local connections and reached by its Unix socket in that folder; stopped and removed at the end. Yields
    the socket's folder. Fails, never skips, where PostgreSQL is missing: the store tests need it."""
    import pwd

    bin_dir = postgres_bin()
    folder = Path(tempfile.mkdtemp(prefix="footage-pg-"))  # under /tmp: pytest's own tmp is root's alone
    as_user = []
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(folder, nobody.pw_uid, nobody.pw_gid)
        as_user = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]
    data = folder / "data"

    def run(*cmd):
        done = subprocess.run([*as_user, *cmd], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            pytest.fail(f"{' '.join(map(str, cmd))} exited {done.returncode}: {done.stderr or done.stdout}")

    try:
        run(bin_dir / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
        options = f"-k {folder} -c listen_addresses='' -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        run(bin_dir / "pg_ctl", "-D", data, "-l", folder / "server.log", "-w", "-t", "60", "-o", options, "start")
        yield folder
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*as_user, bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


pg_databases = itertools.count(1)


def new_database(server: Path) -> str:
    """Makes an empty database in the session's cluster; returns its URL."""
    import psycopg

    name = f"footage_test_{next(pg_databases)}"
    with psycopg.connect(f"postgresql://postgres@/postgres?host={server}", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql://postgres@/{name}?host={server}"


@pytest.fixture
def pg_url(postgres_server):
    """The URL of a new, empty database of the session's cluster (dropped after the test)."""
    import psycopg

    url = new_database(postgres_server)
    yield url
    name = url.split("@/")[1].split("?")[0]
    with psycopg.connect(f"postgresql://postgres@/postgres?host={postgres_server}", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request):
    """None (SQLite, library.db) or a fresh PostgreSQL database's URL: a store test runs on both."""
    return None if request.param == "sqlite" else request.getfixturevalue("pg_url")


@pytest.fixture
def store(tmp_path, database):
    """A new store of DIM-dimensional vectors (tests/stores.py) on each database, its write lock held."""
    s = open_store(tmp_path / "lib", database)
    s.lock.acquire()
    yield s
    s.close()


# --- Markers: what a test needs beyond ffmpeg and the models, and which tests are slow ---------------------------
# pyproject.toml registers the markers; tests/README.md says what each set holds and costs. `make test-fast` leaves
# out every test marked here. They are marked from here, by module and name, so that the choice is in one place: a
# test added to a module named below takes its module's marker, and a name below that no longer names a test of
# its module stops the run.

MODULE_MARKERS = {
    "test_browser": "browser",  # Chromium driven by Playwright against `footage serve`
    "test_ray": "ray",  # a local Ray cluster of 2 CPUs
    "test_postgres": "postgres",  # the session's PostgreSQL cluster (and every other test that uses it, below)
    "test_fuzz_media": "fuzz",  # 33 mutated files through the real CLI
    "test_serve_fuzz": "fuzz",  # schemathesis over the OpenAPI document
    "test_examples": "samples",  # the README's searches on the sample footage, fetched from the registries
    "test_crash": "slow",  # kill -9 at random points of real runs and resume: several CLI runs a test
    "test_real_libraries": "slow",  # a person's library: each test runs the CLI several times, each loading models
    "test_train": "slow",  # trains predictors on an indexed library
    "test_hub": "slow",  # tiny Hugging Face backbones: imports transformers, builds and saves four models
    "test_describe": "slow",  # captions: loads the decoder, imports scikit-learn; the CLI search test shows one
    "test_mcp": "slow",  # the MCP server in a subprocess through the SDK's client
    "test_serve_connections": "slow",  # a real uvicorn server held open by idle, slow and endless connections
    "test_views": "slow",  # a library indexed with several views of each frame, then repaired, trained, re-viewed
}

# test_watch.py: these check the watch loop's parts in memory; every other test there plays a stream over the
# loopback or runs `footage watch`, and is marked stream.
NOT_STREAM = {
    "test_a_lasting_match_is_one_alert_and_a_dip_does_not_end_it",
    "test_an_event_closes_when_the_stream_has_moved_away_from_it",
    "test_a_recording_begun_in_the_same_second_as_the_last_does_not_overwrite_it",
    "test_a_query_may_dip_for_as_long_as_the_hold_before_its_alert_ends",
    "test_ffmpeg_may_open_only_the_protocols_of_the_source_named",
    "test_a_file_is_read_alone_by_ffmpeg",
    "test_webhook_messages_queued_at_exit_are_sent_for_a_bounded_time_and_the_rest_are_counted",
    "test_webhook_messages_all_sent_at_exit_say_nothing",
}

# Fixtures that cost seconds for each test (or module) that uses them: every test using one is slow.
SLOW_FIXTURES = {
    "said": "test_speech: espeak-ng speaks, and Whisper hears, a library of four videos",
    "dialogue_scene": "test_speech: a film's dialogue scene, heard by Whisper",
    "cea608": "test_speech: a video with CEA-608 closed captions",
    "big": "test_vectors: a store of 6,000 segments whose main index is trained as IVF-SQ8, for each test",
}

# Slow by name: over about a second each on 2 cores (most of it a CLI subprocess loading the models, or a second
# library indexed), each near a faster test of the same code that stays in the fast set. Names are the test
# functions' (all their parameters).
SLOW = {
    "test_filters": {"test_the_cli_filters"},  # two CLI runs; the API and Library tests stay
    "test_feedback": {"test_the_cli_marks_lists_unmarks_and_trains_from_feedback"},
    "test_cli": {  # test_search_json stays: the CLI indexes a video and searches it
        "test_stats",
        "test_remove",
        "test_reindex_is_incremental",
        "test_search_table_fits_80_columns",
        "test_search_table_shows_human_times",
        "test_library_from_environment",
        "test_an_empty_query_is_a_one_line_error",
    },
    "test_device": {
        "test_the_pytorch_x_encoder_gives_the_onnx_vectors",
        "test_the_cli_says_a_missing_gpu_in_one_line",
        "test_a_search_on_auto_does_not_import_torch",
        "test_a_cpu_library_indexes_on_onnx_runtime_and_its_model_id_names_no_device",
        "test_training_runs_on_the_device_it_is_given",
    },
    "test_media_input": {
        "test_the_cli_and_describe_refuse_a_playlist_and_index_the_rest",
        "test_a_home_of_no_user_is_a_bad_value",
        "test_an_index_job_under_a_root_refuses_a_playlist",
    },
    "test_models": {
        "test_frames_land_near_their_words_in_y_space",
        "test_class_embeddings_are_cached_on_disk",
        "test_bf16_x_encoder_where_the_cpu_has_it",
        "test_onnx_x_encoder_matches_pytorch_and_is_exported_once",
        "test_an_openvino_that_cannot_compile_falls_back_to_float32",
        "test_a_frame_of_a_real_photo_is_nearer_its_dominant_colour",  # embeds the 1,000 class names afresh
        "test_y_encoder_matches_transformers_reference",  # imports transformers
    },
    "test_ocr": {
        "test_a_film_is_read_every_2_s_from_the_indexers_decode_with_each_frames_own_time",
        "test_natural_footage_gives_no_words",
        "test_a_picture_that_does_not_change_is_read_once",
        "test_a_slide_with_something_moving_on_it_is_recognised_once",
        "test_a_title_is_read_on_each_runtime",
        "test_a_title_card_is_read_with_its_time",
    },
    "test_pipeline": {  # test_second_run_decodes_nothing and test_bad_inputs_are_recorded_and_the_run_goes_on stay
        "test_interrupted_run_leaves_a_consistent_library_and_resumes",
        "test_a_long_file_stopped_halfway_leaves_the_library_as_it_was",
        "test_a_long_file_is_written_as_it_is_decoded_with_the_segments_of_a_whole_one",
        "test_files_indexed_by_other_models_are_indexed_again",
        "test_remove_file_and_folder",
        "test_deleted_files_are_dropped_when_their_folder_is_indexed",
        "test_renamed_file_keeps_its_segments_without_decoding",
        "test_touched_but_unchanged_file_is_not_decoded",
        "test_changed_file_is_reindexed_without_duplicates",
        "test_second_writer_is_refused_while_search_goes_on",
        "test_frames_that_did_not_change_reuse_the_tokens_of_the_last_one_embedded",
    },
    "test_probe_decode": {"test_odd_codecs_decode_at_one_fps"},
    "test_rerank_eval": {
        "test_eval_cli",
        "test_rerank_finds_a_second_inside_a_long_segment",
        "test_rerank_keeps_single_shot_results",
    },
    "test_serve": {  # the API through its test client stays
        "test_search_like_and_by_image_from_the_cli",
        "test_index_jobs_run_report_and_cancel",
        "test_footage_serve_on_loopback_and_refusing_other_hosts_without_a_token",
        "test_only_the_very_file_indexed_is_served",
        "test_paths_that_are_not_utf8_are_served",
        "test_serve_refuses_at_start_what_would_expose_or_serve_nothing",
        "test_serve_refuses_a_library_that_is_not_there",
        "test_export_cuts_the_hits_into_a_folder",
        "test_pictures_decode_small_and_bombs_are_refused",
    },
    "test_speech": {
        "test_a_long_track_is_heard_in_windows_without_losing_or_doubling_words",
        "test_the_base_model_is_assembled_from_its_two_packages",
        "test_speech_in_french_is_heard_by_the_base_model_and_searched_in_french",
        "test_on_screen_text_is_read_unless_turned_off",
        "test_bad_subtitle_files_warn_and_the_video_is_indexed",
    },
    "test_vectors": {
        "test_an_index_run_makes_the_main_index_approximate",
        "test_pictures_and_words_are_in_shards_of_their_own",
        "test_due_merges_and_trains_by_size",
    },
    "test_watch": {"test_webhook_messages_queued_at_exit_are_sent_for_a_bounded_time_and_the_rest_are_counted"},
}


def pytest_ignore_collect(collection_path, config):
    """A module whose marker the -m expression leaves out is not imported at all: Ray, transformers, scikit-learn
    and the MCP SDK take seconds to import, a third of `make test-fast`'s time otherwise."""
    marker = MODULE_MARKERS.get(collection_path.stem) if collection_path.suffix == ".py" else None
    expression = config.getoption("markexpr", "")
    if not marker or not expression:
        return None
    from _pytest.mark.expression import Expression  # what -m itself uses

    try:
        leaves_out = not Expression.compile(expression).evaluate(lambda name, **kwargs: name == marker)
    except Exception:  # pytest reports a bad expression itself, on collection
        return None
    return True if leaves_out else None


# `make test` runs the suite in 2 processes (pytest-xdist, `-n 2`). Each module's tests go to one process, so its
# module fixtures (an indexed library, a stream, a Ray cluster) are built once. FIRST's modules wait on real time
# (streams played in real time, a Ray cluster starting, kill -9 at random points, a download) and start first, so
# that their waits overlap the other process's work; SPREAD's tests, each a few CLI runs with no costly fixture,
# are dealt out one at a time at the end, which evens the two processes out.
FIRST = ("test_watch", "test_ray", "test_crash", "test_examples")
SPREAD = {"test_real_libraries"}


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist's, called where it runs the tests
def pytest_xdist_make_scheduler(config, log):
    """Deals out whole modules (SPREAD's tests one by one), in the order pytest_collection_modifyitems gives.
    Not `--dist loadgroup`: it groups by renaming tests, which pytest 9.2's node ids no longer allow."""
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::")[0]
            return nodeid if Path(module).stem in SPREAD else module

    config.option.loadscopereorder = False  # xdist would put the modules with the most tests first
    return ByModule(config, log)


def pytest_collection_modifyitems(config, items):
    order = {module: i for i, module in enumerate(FIRST)}
    items.sort(key=lambda item: (item.path.stem in SPREAD, order.get(item.path.stem, len(FIRST))))  # stable
    checked = set()
    for item in items:
        module = item.path.stem
        name = getattr(item, "originalname", item.name)
        if module not in checked:
            checked.add(module)
            listed = SLOW.get(module, set()) | (NOT_STREAM if module == "test_watch" else set())
            gone = sorted(n for n in listed if not callable(getattr(item.module, n, None)))
            if gone:
                raise pytest.UsageError(f"tests/conftest.py marks tests that {module}.py does not have: {gone}")
        marks = set()
        if module in MODULE_MARKERS:
            marks.add(MODULE_MARKERS[module])
        if module == "test_watch" and name not in NOT_STREAM:
            marks.add("stream")
        if name in SLOW.get(module, ()) or SLOW_FIXTURES.keys() & set(item.fixturenames):
            marks.add("slow")
        if "postgres_server" in item.fixturenames:
            marks.add("postgres")
        for mark in sorted(marks - {m.name for m in item.iter_markers()}):
            item.add_marker(getattr(pytest.mark, mark))
