"""kill -9 in the middle of index, train, repair and the vector merges (tests/crashes.py): after each kill the
library is whole and consistent, nothing indexed before is lost or changed, and the operation run again
completes as an uncut run does. bench/crash.py makes 100 such kills."""

import random
import shutil

import pytest
from crashes import INDEX_OPTIONS, OPERATIONS, cli, copy, kill_once, leftovers, make_world, run
from mutants import open_store


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_world(tmp_path_factory.mktemp("crash"), clips_a=2, clips_b=1, epochs=20)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_kill_9_leaves_a_consistent_library_that_loses_nothing_and_resumes(world, operation, tmp_path):
    rng = random.Random(f"kill-{operation}")
    kill = kill_once(world, operation, rng, tmp_path / "killed", early=True)
    assert not kill.problems, "\n".join(kill.problems)
    assert not kill.finished, f"the {operation} ended before the kill at {kill.after} s"


def test_files_a_killed_merge_left_go_at_the_next_index(world, tmp_path):
    """A merge killed after writing its shards and before the state naming them left them on disk until the
    next merge (gigabytes in a large library); the next run's end clears them, and a half-written state."""
    library = copy(world.full, tmp_path / "library")
    vectors = library / "vectors"
    shutil.copy(next(vectors.glob("main-*.faiss")), vectors / "main-999.faiss")
    (vectors / "state.npz.tmp").write_bytes(b"half a state")
    run(cli(library, "index", world.a, world.b, *INDEX_OPTIONS))
    assert not leftovers(library)
    store = open_store(library)
    try:
        assert store.consistent() and store.repaired == (0, 0)
    finally:
        store.close()
