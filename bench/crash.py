"""kill -9 at random moments of index, train, repair and vector merges (tests/crashes.py says what each run is
and what is checked after every kill: SQLite whole, vectors consistent, nothing indexed before lost, the same
search results, and the operation run again completes). Moments are drawn from a seeded generator.

    .venv/bin/python bench/crash.py                  # 100 kills: 40 index, 20 train, 20 repair, 20 merge
    .venv/bin/python bench/crash.py --kills 8 --keep /tmp/crash
    .venv/bin/python bench/crash.py --kills 20 --operations merge
"""

import argparse
import collections
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from crashes import OPERATIONS, kill_once, make_world  # noqa: E402

SHARE = {"index": 0.4, "train": 0.2, "repair": 0.2, "merge": 0.2}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--operations", default=",".join(OPERATIONS), help="which to kill, comma-separated")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="footage-crash-"))
    started = time.monotonic()
    world = make_world(work)
    rng = random.Random(args.seed)
    chosen = [op for op in OPERATIONS if op in args.operations.split(",")]
    total = sum(SHARE[op] for op in chosen)
    plan = [op for op in chosen for _ in range(round(SHARE[op] / total * args.kills))][: args.kills]
    rng.shuffle(plan)
    kills, finished, repaired, problems = collections.Counter(), collections.Counter(), collections.Counter(), []
    at_commit = 0
    for n, operation in enumerate(plan):
        kill = kill_once(world, operation, rng, work / "killed")
        kills[operation] += 1
        finished[operation] += kill.finished
        at_commit += kill.at_commit
        repaired[operation] += kill.repaired != (0, 0)
        problems += [f"kill {n} ({operation} at {kill.after} s): {p}" for p in kill.problems]
        print(
            f"kill {n}: {operation} at {kill.after} s{' after its commit began' if kill.at_commit else ''}"
            f"{' (had ended)' if kill.finished else ''}, vectors repaired "
            f"{kill.repaired}, {len(kill.problems)} problems",
            file=sys.stderr,
            flush=True,
        )
        for p in kill.problems:
            print(f"  PROBLEM {p}", file=sys.stderr, flush=True)
    figures = {
        "kills": dict(kills),
        "ended_before_the_kill": dict(finished),
        "trainings_killed_after_saving_the_predictor": at_commit,
        "vectors_repaired_on_open": dict(repaired),
        "uncut_seconds": {k: round(v, 1) for k, v in world.seconds.items()},
        "problems": problems,
        "seconds": round(time.monotonic() - started),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"{sum(kills.values())} kills in {figures['seconds']} s")
        for op in OPERATIONS:
            print(
                f"  {op:7} {kills[op]} kills ({finished[op]} after it had ended), vectors repaired on open after "
                f"{repaired[op]}, uncut run {figures['uncut_seconds'].get(op, '-')} s"
            )
        print(f"  ({at_commit} trainings killed after saving the new predictor, in the commit and merge)")
        print(f"problems: {len(problems)}")
        for p in problems:
            print(f"  {p}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
