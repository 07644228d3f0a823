"""Fuzzes `footage index` with mutated media: N mutants (tests/mutants.py: truncated, bit-flipped, header- and
container-swapped, spliced, huge declared durations, hostile subtitle streams and sidecars...) of real seed clips,
indexed by the real CLI in batches of one folder each, into one library. Checks, batch by batch: no traceback,
no hang (each batch has a deadline), every file indexed or named on one `skipping` line, no caught crash in a
reason, the pristine clips found by search, the library consistent; at the end, a rerun over every batch changes
nothing, and `describe` on some mutants gives a timeline or one error line.

    .venv/bin/python bench/fuzz_media.py                 # 1,000 mutants, batches of 100
    .venv/bin/python bench/fuzz_media.py --count 140 --batch 70 --keep /tmp/fuzz
"""

import argparse
import collections
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from mutants import KINDS, check_library, describe_checks, index_batch, make_seeds, mutant  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000, help="mutants to try")
    parser.add_argument("--first", type=int, default=0, help="number of the first mutant")
    parser.add_argument("--batch", type=int, default=100, help="mutants per `footage index` run")
    parser.add_argument("--timeout", type=float, default=900, help="seconds a batch may take before it is a hang")
    parser.add_argument("--describe", type=int, default=20, help="mutants also given to `footage describe`")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    exe = str(Path(sys.executable).parent / "footage")
    work = args.keep or Path(tempfile.mkdtemp(prefix="footage-fuzz-"))
    work.mkdir(parents=True, exist_ok=True)
    library = work / "library"
    started = time.monotonic()
    seeds = make_seeds(work / "seeds")
    tried, problems = collections.Counter(), []
    outcome = collections.defaultdict(collections.Counter)  # kind -> indexed / skipped / warned
    all_files = {}
    numbers = list(range(args.first, args.first + args.count))
    for b in range(0, len(numbers), args.batch):
        folder = work / f"batch-{numbers[b]:04d}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        made = [mutant(seeds, n) for n in numbers[b : b + args.batch]]
        files = {m.write(folder): m for m in made}
        all_files.update(files)
        batch = index_batch(exe, library, folder, list(files), args.timeout)
        found = check_library(exe, library, folder, files, batch)
        for path, m in files.items():
            tried[m.kind] += 1
            outcome[m.kind][found[path]] += 1
            outcome[m.kind]["warned"] += m.number in batch.warned
        problems += batch.problems
        print(
            f"batch {folder.name}: {len(files)} files in {batch.seconds:.0f} s, exit {batch.returncode}, "
            f"{sum(v == 'indexed' for v in found.values())} indexed, {len(batch.skipped)} skipped, "
            f"{len(batch.problems)} problems",
            file=sys.stderr,
            flush=True,
        )
        for p in batch.problems:
            print(f"  PROBLEM {p}", file=sys.stderr, flush=True)
    # a second run over every batch: nothing changed, so nothing is read again but what failed
    folders = sorted({p.parent for p in all_files})
    again = index_batch(exe, library, folders, list(all_files), args.timeout * 2)
    indexed_before = sum(v["indexed"] for v in outcome.values())
    if f"{indexed_before} unchanged" not in again.output:
        again.problems.append(
            f"the rerun did not find the {indexed_before} indexed files unchanged: {again.output[-300:]}"
        )
    problems += again.problems
    step = max(1, len(all_files) // max(1, args.describe))
    problems += describe_checks(exe, library, sorted(all_files)[::step][: args.describe], all_files)
    figures = {
        "mutants": sum(tried.values()),
        "by_kind": {k: dict(tried=tried[k], **outcome[k]) for k in KINDS if tried[k]},
        "batches": -(-len(numbers) // args.batch),
        "described": args.describe,
        "problems": problems,
        "seconds": round(time.monotonic() - started),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"{figures['mutants']} mutants in {figures['batches']} batches, {figures['seconds']} s")
        for k, v in figures["by_kind"].items():
            print(f"  {k:26} " + "  ".join(f"{a} {b}" for a, b in v.items()))
        print(f"problems: {len(problems)}")
        for p in problems:
            print(f"  {p}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
