"""kill -9 in the middle of index, train, repair and the vector merges (tests/crashes.py): after each kill the
library is whole and consistent, nothing indexed before is lost or changed, and the operation run again
completes as an uncut run does. bench/crash.py makes 100 such kills."""

import random

import pytest
from crashes import OPERATIONS, kill_once, make_world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_world(tmp_path_factory.mktemp("crash"), clips_a=2, clips_b=1, epochs=20)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_kill_9_leaves_a_consistent_library_that_loses_nothing_and_resumes(world, operation, tmp_path):
    rng = random.Random(f"kill-{operation}")
    kill = kill_once(world, operation, rng, tmp_path / "killed", early=True)
    assert not kill.problems, "\n".join(kill.problems)
    assert not kill.finished, f"the {operation} ended before the kill at {kill.after} s"
