"""kill -9 at random moments of the operations that write a library (tests/test_crash.py, bench/crash.py):

- index: `footage index A B` over a library holding A, killed while it reads B (and, at its end, trains the
  IVF index and merges shards: the delta is made tiny and the IVF threshold low for it);
- train: `footage train PAIRS` (every vector recomputed, the delta turned into shards and merged);
- repair: `footage repair` rebuilding a database damaged on purpose;
- merge: a process that does nothing but the store's maintenance of the real library, IVF training and shard
  merges, one after the other (the moments a merge takes in a run are too short to hit at random).

After each kill: SQLite whole, the vectors consistent with it (Store.consistent on a reader that may repair
them, which is allowed: SQLite is the truth), every video indexed before the killed run still there with the
same segments and the same search results; then the same operation run again completes.
"""

import contextlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from mutants import SEED_PHOTOS, make_seeds, open_store

from footage.store.repair import check

QUERIES = ("a cat", "a rocket")
MERGE_AT = 4  # delta vectors that make a shard in the killed runs (footage's is 20,000): every save merges
APPROX_FROM = 25  # vectors from which the index is IVF: crossed while B is indexed
RUN_TIMEOUT = 300
COMMIT_WORK = 0.3  # seconds from a training's saved predictor to its end (the new vectors, their merge)
REPAIR_WORK = 0.3  # seconds a repair of these libraries takes once it has begun, to its exit (2 cores)
# The real CLI with a tiny delta: the same code, with maintenance as a large library has it at every save.
CLI = (
    "import sys, footage.store.vectors as v; v.MERGE_AT = int(sys.argv.pop(1)); sys.argv[0] = 'footage'; "
    "from footage.cli.main import main; main()"
)
# The store's maintenance of a real library, over and over: IVF trainings and shard merges.
MAINTAIN = """
import sys
from footage.store import Store
store = Store(sys.argv[1])
dim = int(store.meta("dim"))
store.attach(store.meta("backbone"), dim, int(store.meta("token_dim") or dim))
store.lock.acquire()
print("ready", flush=True)
while True:
    for what in ("train", "merge"):
        store.maintain(force=what)
"""
OPERATIONS = ("index", "train", "repair", "merge")
# Speech and on-screen text off: they add minutes to a hundred runs and nothing to what a kill can break (the
# pictures' pipeline writes their text in the same transaction); the seed clips' subtitles are still read.
INDEX_OPTIONS = ("--speech", "off", "--no-ocr")


def env() -> dict:
    return {**os.environ, "FOOTAGE_APPROX_FROM": str(APPROX_FROM), "FOOTAGE_DEBUG": "1"}


def cli(library: Path, *args: str) -> list[str]:
    return [sys.executable, "-c", CLI, str(MERGE_AT), "--library", str(library), *map(str, args)]


def run(command: list[str], timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env())
    if done.returncode != 0 or "Traceback" in done.stderr:
        raise AssertionError(f"{command[3:]} exited {done.returncode}:\n{done.stdout}\n{done.stderr[-3000:]}")
    return done


@dataclass
class World:
    """Libraries to copy before each kill: `base` holds A; `full` holds A and B; `damaged` is `base` with a
    damaged database. What a complete run of each operation gives, to compare with."""

    folder: Path
    a: Path  # clips indexed before every killed run
    b: Path  # clips the killed index run adds
    pairs: Path
    base: Path
    full: Path
    damaged: Path
    segments: dict[str, list[tuple]] = field(default_factory=dict)  # A's videos: path -> [(start, end)]
    results: dict[str, list] = field(default_factory=dict)  # A's search results in `base`
    trained: dict[str, list] = field(default_factory=dict)  # ... after a complete train
    repaired: set[str] = field(default_factory=set)  # the videos a complete repair of `damaged` keeps
    seconds: dict[str, float] = field(default_factory=dict)  # how long each operation runs, uncut
    epochs: int = 60  # of each training


def segments_of(library: Path) -> dict[str, list[tuple]]:
    with contextlib.closing(sqlite3.connect(library / "library.db")) as db:
        rows = db.execute(
            "SELECT v.path, s.start, s.end FROM segments s JOIN videos v ON v.id = s.video_id "
            "WHERE v.status = 'indexed' ORDER BY v.path, s.start"
        ).fetchall()
    out: dict[str, list[tuple]] = {}
    for path, start, end in rows:
        out.setdefault(path, []).append((round(start, 3), round(end, 3)))
    return out


def results(library: Path, under: Path) -> dict[str, list]:
    """Search results for QUERIES among the videos under `under`: (path, start, end, score) each."""
    out = {}
    for query in QUERIES:
        done = run(
            [
                str(Path(sys.executable).parent / "footage"),
                "--library",
                str(library),
                "search",
                query,
                "--json",
                "--no-caption",
                "--mode",
                "visual",
                "--per-video",
                "0",
                "--top-k",
                "50",
                "--under",
                str(under),
            ]
        )
        out[query] = [
            (h["path"], round(h["start"], 3), round(h["end"], 3), h["score"]) for h in json.loads(done.stdout)
        ]
    return out


def same(got: dict[str, list], want: dict[str, list]) -> bool:
    """The same hits in the same order, scores equal to float32's noise."""
    return all(
        len(got[q]) == len(want[q])
        and all(g[:3] == w[:3] and abs(g[3] - w[3]) < 1e-4 for g, w in zip(got[q], want[q], strict=True))
        for q in QUERIES
    )


def damage(db: Path, seed: int = 0) -> None:
    """Overwrites pages in the database's second half with noise, as a dying drive does."""
    data = bytearray(db.read_bytes())
    rng = random.Random(seed)
    page = 4096
    pages = len(data) // page
    for p in rng.sample(range(pages // 2, pages), max(1, pages // 8)):
        data[p * page : (p + 1) * page] = rng.randbytes(page)
    db.write_bytes(bytes(data))


def timed(command: list[str]) -> float:
    started = time.monotonic()
    run(command)
    return time.monotonic() - started


def make_world(folder: Path, clips_a: int = 3, clips_b: int = 5, epochs: int = 60) -> World:
    """Seed clips in A and B, the libraries every kill starts from, and what complete runs give."""
    seeds = make_seeds(folder / "seeds")
    names = sorted(n for n in seeds if not n.startswith("subs-"))
    a, b = folder / "A", folder / "B"
    for where, chosen in ((a, names[:clips_a]), (b, names[clips_a : clips_a + clips_b])):
        where.mkdir(parents=True, exist_ok=True)
        for n in chosen:
            (where / n).write_bytes(seeds[n])
    cat, rocket = SEED_PHOTOS[0][1], SEED_PHOTOS[0][1] + SEED_PHOTOS[1][1]
    pairs = folder / "pairs.jsonl"
    pairs.write_text(
        "".join(
            json.dumps({"path": str(p), "start": s, "end": e, "text": t}) + "\n"
            for p in sorted(a.iterdir())
            for s, e, t in ((0, cat, "a cat looking at the camera"), (cat, rocket, "a rocket on its launch pad"))
        )
    )
    w = World(folder, a, b, pairs, folder / "base", folder / "full", folder / "damaged", epochs=epochs)
    run(cli(w.base, "index", a, *INDEX_OPTIONS))
    w.segments, w.results = segments_of(w.base), results(w.base, a)
    shutil.copytree(w.base, w.full)
    w.seconds["index"] = timed(cli(w.full, "index", a, b, *INDEX_OPTIONS))
    trained = copy(w.base, folder / "trained")
    w.seconds["train"] = timed(cli(trained, "train", pairs, "--holdout", "0", "--epochs", str(epochs)))
    w.trained = results(trained, a)
    shutil.copytree(w.base, w.damaged)
    damage(w.damaged / "library.db")
    assert check(w.damaged / "library.db") is not None, "the damage went unseen"
    repaired = copy(w.damaged, folder / "repaired")
    w.seconds["repair"] = timed(cli(repaired, "repair"))
    w.repaired = set(segments_of(repaired))
    return w


def copy(library: Path, to: Path) -> Path:
    shutil.rmtree(to, ignore_errors=True)
    shutil.copytree(library, to)
    return to


@dataclass
class Kill:
    operation: str
    after: float  # seconds after the start (or, for merge, after the store was ready)
    finished: bool = False  # the operation ended before the kill came
    at_commit: bool = False  # a training killed after it saved the new predictor
    repaired: tuple = (0, 0)  # what the reader's repair of the vectors did after the kill
    problems: list[str] = field(default_factory=list)


def kill_once(w: World, operation: str, rng: random.Random, work: Path, early: bool = False) -> Kill:
    """One run of `operation` killed with SIGKILL at a random moment, then the checks, then the rerun. The
    moment is drawn over the whole of an uncut run, or with `early` over its first third (sure to come before
    its end). Half the trainings are killed instead just after the new predictor is saved: in the commit of
    the new vectors and their merge, not in the fitting where most of a training's time goes."""
    library = copy({"index": w.base, "train": w.base, "repair": w.damaged, "merge": w.full}[operation], work)
    if operation == "merge":
        command = [sys.executable, "-c", MAINTAIN, str(library)]
        after = rng.uniform(0.0, 2.0)
    else:
        command = cli(
            library,
            *{
                "index": ("index", w.a, w.b, *INDEX_OPTIONS),
                "train": ("train", w.pairs, "--holdout", "0", "--epochs", str(w.epochs)),
                "repair": ("repair",),
            }[operation],
        )
        span = REPAIR_WORK if operation == "repair" else w.seconds[operation]
        after = rng.uniform(0.05 * span, 0.33 * span) if early else rng.uniform(0.0, span)
    at_commit = operation == "train" and not early and rng.random() < 0.5
    if at_commit:
        after = rng.uniform(0.0, COMMIT_WORK)
    kill = Kill(operation, round(after, 3), at_commit=at_commit)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env(), start_new_session=True)
    try:
        if operation == "merge":
            assert proc.stdout.readline().strip() == b"ready", proc.stderr.read()
        elif operation == "repair" or at_commit:  # from the moment it copies the damaged file aside, or saves
            deadline = time.monotonic() + RUN_TIMEOUT  # the predictor: what follows is short
            marker = "library.db.damaged-*" if operation == "repair" else "predictors/v*.npz"
            while not list(library.glob(marker)) and proc.poll() is None:
                assert time.monotonic() < deadline, f"no {marker} came"
                time.sleep(0.001)
        time.sleep(after)
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the process and its ffmpeg children, as a power cut would
        except ProcessLookupError:
            pass
        code = proc.wait(timeout=60)
        kill.finished = code != -signal.SIGKILL
        if kill.finished and code != 0:
            kill.problems.append(f"it ended with exit {code} before the kill: {proc.stderr.read()[-1000:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()
    check_after(w, operation, library, kill)
    try:  # the same operation again, uncut: it completes from where the kill left the library
        if operation == "repair":
            run(cli(library, "repair"))
            if check(library / "library.db") is not None:
                kill.problems.append("the database is still damaged after a complete repair")
            elif set(segments_of(library)) != w.repaired:
                kill.problems.append("a repair after the kill recovered other videos than an uncut repair")
        elif operation == "train":
            run(cli(library, "train", w.pairs, "--holdout", "0", "--epochs", str(w.epochs)))
            if not same(results(library, w.a), w.trained):
                kill.problems.append("after a train rerun, the search results differ from an uncut train's")
        else:
            done = run(cli(library, "index", w.a, w.b, *INDEX_OPTIONS))
            if set(segments_of(library)) != {str(p) for p in [*w.a.iterdir(), *w.b.iterdir()]}:
                kill.problems.append(f"the rerun did not index every file of A and B: {done.stderr[-500:]}")
            if not same(results(library, w.a), w.results):
                kill.problems.append("after the rerun, the search results of A differ from before")
        kill.problems += leftovers(library)
        store = open_store(library)
        try:
            # a complete repair leaves the vectors to be rebuilt from SQLite on the next open
            if not store.consistent() or (operation != "repair" and store.repaired != (0, 0)):
                kill.problems.append(f"inconsistent after the rerun (repaired {store.repaired})")
        finally:
            store.close()
    except AssertionError as e:
        kill.problems.append(f"the rerun failed: {e}")
    return kill


def check_after(w: World, operation: str, library: Path, kill: Kill) -> None:
    """What must hold right after a kill."""
    db = library / "library.db"
    if not db.is_file():
        kill.problems.append("library.db is gone")
        return
    problem = check(db)
    if operation != "repair" and problem is not None:
        kill.problems.append(f"the database is damaged: {problem}")
    if operation == "repair":
        if problem is not None:
            return  # killed before the rebuilt database replaced the damaged one: the rerun repairs it
        if set(segments_of(library)) != w.repaired:
            kill.problems.append("the kill left a repaired database with other videos than an uncut repair")
    try:
        store = open_store(library)
    except Exception as e:  # noqa: BLE001 - any failure to open is what is checked
        kill.problems.append(f"the library does not open: {type(e).__name__}: {e}")
        return
    try:
        kill.repaired = store.repaired
        if not store.consistent():
            kill.problems.append("the vectors are not consistent with the database")
    finally:
        store.close()
    if operation == "repair":
        return
    segments = segments_of(library)
    lost = [p for p, s in w.segments.items() if segments.get(p) != s]
    if lost:
        kill.problems.append(f"videos indexed before the run lost or changed: {lost}")
    got = results(library, w.a)
    if not (same(got, w.results) or (operation == "train" and same(got, w.trained))):
        kill.problems.append(f"the search results of A changed: {got} instead of {w.results}")


def leftovers(library: Path) -> list[str]:
    """Files a killed run left that the rerun did not clear: thumbnails no segment names, vector files the
    state does not name, temporary files."""
    with contextlib.closing(sqlite3.connect(library / "library.db")) as db:
        named = {r[0] for r in db.execute("SELECT thumbnail FROM segments WHERE thumbnail IS NOT NULL")}
    thumbs = {str(p.relative_to(library)) for p in (library / "thumbs").rglob("*") if p.is_file()}
    out = [f"a thumbnail no segment names: {p}" for p in sorted(thumbs - named)]
    vectors = library / "vectors"
    if vectors.is_dir():
        with np.load(vectors / "state.npz") as saved:
            shards = set(json.loads(saved["meta"].tobytes())["shards"])
        out += [
            f"a vector file the state does not name: {p.name}"
            for p in vectors.iterdir()
            if p.name != "state.npz" and p.name not in shards
        ]
    out += [f"a temporary file: {p.name}" for p in library.iterdir() if p.name.endswith((".tmp", ".rebuilt"))]
    return out
