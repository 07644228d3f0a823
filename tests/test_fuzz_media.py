"""Mutated media through the real CLI (tests/mutants.py): one `footage index` run over a folder of truncated,
bit-flipped, header- and container-swapped, spliced files, files with huge or broken declared durations and
with hostile subtitle streams and sidecars. No traceback, no hang, every bad file named on one line, the good
ones found by search, the library consistent. bench/fuzz_media.py runs the same check on 1,000 mutants."""

from mutants import KINDS, check_library, describe_checks, index_batch, make_seeds, mutant

# two of each kind, and an AVI whose header says its 13 s last 0.2 s (the library stored 0.2 s)
NUMBERS = [(n, None) for n in range(2 * len(KINDS))] + [(49, "huge-duration")]
TIMEOUT_SECONDS = 240  # the run takes about 20 s: past this it hangs


def test_mutated_media_are_indexed_or_named_and_never_crash_or_hang(tmp_path, footage_cli):
    seeds = make_seeds(tmp_path / "seeds")
    folder = tmp_path / "mutants"
    folder.mkdir()
    files = {m.write(folder): m for m in (mutant(seeds, n, kind) for n, kind in NUMBERS)}
    assert {m.kind for m in files.values()} == set(KINDS)
    library = tmp_path / "library"

    batch = index_batch(footage_cli, library, folder, list(files), TIMEOUT_SECONDS)
    found = check_library(footage_cli, library, folder, files, batch)
    bad = [p for p, m in files.items() if m.kind in ("zero-size", "garbage", "not-a-video")]
    batch.problems += describe_checks(
        footage_cli, library, [bad[0], *(p for p in files if "subtitle" in p.name)][:2], files
    )

    assert not batch.problems, "\n".join(batch.problems) + "\n" + batch.output[-3000:]
    assert all(found[p] == "skipped" for p in bad), found
    assert all(found[p] == "indexed" for p, m in files.items() if m.kind in ("pristine", "hostile-sidecar"))
