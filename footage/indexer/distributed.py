"""The Ray engine (`footage index --engine ray`): the local engine's work spread over a Ray cluster.

The driver (this process, holding the library's write lock) scans and plans as the local engine does:
unchanged files are skipped, moved ones renamed, unreadable ones recorded, all without Ray. The files left to
decode become a Ray Dataset, one file a block, and `map_batches` hands them to a pool of actors (`_Worker`),
each of which loads the models once and runs `pipeline.compute` on its files: the same decoding, embedding,
speech and on-screen text as the local engine, with the same threads inside it. Each file's Computed (its
segments, thumbnails, frame tokens and text chunks, or why it failed) comes back pickled as the worker
finishes it, and the driver commits it with `pipeline.Writer`, one transaction per video: the one writer.
What scales with machines is the per-file work; the commits and the FAISS flush stay on the driver.

Workers must see the videos at the same paths as the driver (a shared filesystem), and have footage and its
models installed; they get the library's settings (backbone, trained predictor, views, speech, on-screen
text, fps, device) from the driver, so they build the same models, and every result is checked to carry the
writer's model id.
"""

import json
import logging
import os
import pickle
import queue
import signal
import socket
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np

from footage.errors import FootageError
from footage.files import cache_dir
from footage.indexer import pipeline, speech
from footage.models import Models, load
from footage.models.predictor import Predictor
from footage.settings import Settings
from footage.store import FileFacts, Store

INSTALL = "the Ray engine needs Ray: pip install 'footage[ray]'"
CPUS_PER_WORKER = 2  # ffmpeg decodes on one core and the model runs on the other, as the local engine splits 2
OBJECT_STORE_BYTES = 512 << 20  # a local Ray's shared memory: a video's results are a few MB and stream out
CONNECT_SECONDS = 10  # to reach a cluster's address before giving up
TICK = 0.5  # seconds between progress calls while no result comes: the user's Ctrl-C is acted on in them
_END = "end"  # what the thread reading the dataset puts after its last row


def check() -> None:
    """Raises a one-line FootageError when Ray (with Ray Data) is not installed."""
    # No Ray call may start a Ray of its own: after a run is stopped, a call left in flight in Ray Data's
    # threads would, from a thread that cannot clean it up (Ray's agents were left running after footage)
    os.environ.setdefault("RAY_ENABLE_AUTO_CONNECT", "0")
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError:
        raise FootageError(INSTALL) from None


@dataclass(frozen=True)
class Job:
    """What a worker needs to build the writer's models: the library's settings and its trained predictor (sent
    along, so a worker needs no access to the library for it), the library's folder (its cache folder is where
    an unpacked Whisper base may be kept) and the threads of the models."""

    settings: Settings
    predictor: Predictor | None  # the library's trained predictor; None: zero-shot
    library: str
    threads: int  # the model's (and Whisper's) threads: the worker's CPUs but one, for ffmpeg

    def load(self) -> tuple[Models, speech.Transcriber | None]:
        """The models and the transcriber (None with speech off), as Library.index builds them."""
        cache = cache_dir(Path(self.library))
        models = load(self.settings, cache, self.predictor)
        return models, speech.transcriber(self.settings, cache, self.threads, models.backbone.device)


class _Worker:
    """A Ray actor: loads the models once, then computes the files of each batch it is given."""

    def __init__(self, job: Job):
        self.job = job
        self.models, self.transcriber = job.load()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Each file's Computed, pickled."""
        todo = [(Path(p), FileFacts(**json.loads(f))) for p, f in zip(batch["path"], batch["facts"])]

        with (
            self.models.backbone.threads(self.job.threads),
            closing(pipeline.compute(self.models, todo, self.transcriber, threading.Event())) as computed,
        ):
            results = [pickle.dumps(c, protocol=pickle.HIGHEST_PROTOCOL) for c in pipeline.whole(computed)]
        return {"result": np.array(results, dtype=object)}


def engine(address: str | None, library: Path) -> Callable:
    """The Ray engine for pipeline.index: connects to the cluster at `address`, else starts a local Ray."""
    check()
    if address:  # said before any model loads
        _reachable(address)
    return partial(_embed_and_store, address=address, library=library)


def _embed_and_store(
    store: Store, models: Models, todo, report, on_progress, started, transcriber, *, address, library
) -> None:
    writer = pipeline.Writer(store, models.model_id, report, len(todo), started, on_progress)
    writer.tell(None)
    if not todo:  # nothing to decode: no cluster to start
        return
    trained = models.predictor if models.settings.predictor_version else None
    settings = models.settings if transcriber is not None else replace(models.settings, speech="off")
    job = Job(settings, trained, str(library), 1)  # threads set per pool below
    with _connected(address) as ray, closing(_computed(ray, todo, job, writer)) as results:
        for c in results:  # the generator is closed (its reader stopped) before Ray is shut down
            if c.model_id != models.model_id:  # another footage version on a worker: its vectors would not match
                raise FootageError(f"a Ray worker computed with {c.model_id}, not {models.model_id}")
            writer.commit(c)
            writer.tell(c.path)


def _computed(ray, todo, job: Job, writer: pipeline.Writer) -> Iterator[pipeline.Computed]:
    """Each file's Computed as its worker finishes it. The dataset is read in a thread of its own so the
    progress callback (where a signal stops the run) is called every TICK while a long video is worked on."""
    from ray.data import ActorPoolStrategy

    logger = logging.getLogger("ray.data")
    level = logger.level
    logger.setLevel(logging.CRITICAL)  # its notices, for the run: why a run failed is said in one line
    size, cpus, gpus = _pool(ray, job.settings.device, len(todo))
    job = replace(job, threads=max(1, int(cpus) - 1))
    # the largest files first: the last one to finish is a short one, and no worker waits long on another
    todo = sorted(todo, key=lambda item: -item[1].size)
    items = [{"path": str(path), "facts": json.dumps(asdict(facts))} for path, facts in todo]
    with warnings.catch_warnings():  # Ray Data's deprecation notices of its own settings, as it copies them
        warnings.simplefilter("ignore")
        files = ray.data.from_items(items, override_num_blocks=len(items))  # a block a file
    context = files.context  # this dataset's own: the caller's other datasets keep theirs
    context.enable_progress_bars = False  # footage shows its own
    context.print_on_execution_start = False
    context.enable_auto_log_stats = False
    workers = {
        "fn_constructor_args": (job,),
        "batch_size": 1,  # a file a call: its result goes to the writer as soon as it is done
        "compute": ActorPoolStrategy(min_size=1, max_size=size),
        "num_cpus": cpus,
        "num_gpus": gpus,
    }
    try:
        # A worker that dies (a machine lost, memory run out) ends the run rather than being restarted: what
        # was committed is kept and the next run resumes, and a file that kills its worker is not tried
        # forever. Restarts also make Ray log an error line per worker (its issue 53727). Ray Data has no
        # other way to say it than its deprecated **ray_remote_args; where they are gone, its default it is.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset = files.map_batches(_Worker, **workers, max_restarts=0)
    except TypeError:
        dataset = files.map_batches(_Worker, **workers)
    results: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()
    reader = threading.Thread(target=_read, args=(dataset, results, stop), daemon=True)
    reader.start()
    pending = {path: None for path, _ in todo}  # in the order handed out: the first is being worked on
    try:
        while True:
            try:
                item = results.get(timeout=TICK)
            except queue.Empty:
                writer.tell(next(iter(pending), None))
                continue
            if isinstance(item, BaseException):
                writer.tell(None)  # a Ctrl-C that took Ray's processes down too is an interruption
                raise FootageError(f"the Ray run failed: {_reason(item)}") from None
            if isinstance(item, str):  # _END
                return
            computed = pickle.loads(item)
            pending.pop(computed.path, None)
            yield computed
    finally:
        stop.set()
        reader.join(timeout=2 * TICK)  # it ends at once unless it waits on a worker: Ray's shutdown ends that
        logger.setLevel(level)


def _read(dataset, out: queue.Queue, stop: threading.Event) -> None:
    """Puts each row's pickled Computed on `out` as it comes, then _END (or the exception that ended it)."""

    def put(item) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=TICK)
                return True
            except queue.Full:
                pass
        return False

    try:
        with closing(iter(dataset.iter_rows())) as rows:  # closed early, it stops the dataset's execution
            for row in rows:
                if not put(row["result"]):
                    return
        put(_END)
    except BaseException as e:  # noqa: B036 (handed to the writer's thread, which raises it)
        put(e)


def _pool(ray, device: str, files: int) -> tuple[int, float, float]:
    """How many workers, with how many CPUs and GPUs each: a GPU each when the cluster has them (and the
    library's device allows one), else CPUS_PER_WORKER each; never more workers than files."""
    resources = ray.cluster_resources()
    cpus, gpus = int(resources.get("CPU", 1)), int(resources.get("GPU", 0))
    if gpus and device in ("auto", "cuda"):
        per = max(1, min(CPUS_PER_WORKER, cpus // gpus))
        return max(1, min(gpus, files)), per, 1
    per = max(1, min(CPUS_PER_WORKER, cpus))
    return max(1, min(cpus // per, files)), per, 0


def _reason(e: BaseException) -> str:
    """One line saying why a Ray run failed: the worker's own exception where Ray wraps one."""
    cause = getattr(e, "cause", None) or e.__cause__ or e
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[-1] if text else ''}".rstrip(": ")


def _reachable(address: str) -> None:
    """Raises a one-line FootageError unless something listens at the address: ray.init would otherwise try
    to reach it for ever, logging every few seconds."""
    if address == "auto":  # Ray finds the cluster started on this machine (`ray start`) itself
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise FootageError(f"{address}: not a Ray address (HOST:PORT, or ray://HOST:PORT)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as e:
        why = e.strerror or str(e) or type(e).__name__
        raise FootageError(f"cannot connect to Ray at {address}: {why}") from None


@contextmanager
def _connected(address: str | None):
    """Ray, connected to the cluster at `address`, else started here on all this machine's cores; shut down
    (or disconnected) on the way out, whatever the way, unless Ray was already running in this process."""
    import ray

    if ray.is_initialized():  # the caller's own Ray session: use it, and leave it running
        yield ray
        return
    # ray.init sets its own SIGTERM handler (sys.exit): keep the caller's, which stops the run cleanly
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    # Ray's log lines on stderr would break footage's one-line errors: why a run failed is raised here
    # instead, and the workers' logs stay in Ray's session folder
    quiet = {"logging_level": logging.CRITICAL, "log_to_driver": False}
    try:
        if address:
            ray.init(address=address, **quiet)
        else:  # "local": a new Ray of our own, not one this machine happens to run
            ray.init(
                address="local",
                num_cpus=os.cpu_count(),
                include_dashboard=False,
                object_store_memory=OBJECT_STORE_BYTES,
                **quiet,
            )
    except Exception as e:
        where = f"cannot connect to Ray at {address}" if address else "cannot start Ray"
        raise FootageError(f"{where}: {_reason(e)}") from None
    finally:
        if threading.current_thread() is threading.main_thread():
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
    try:
        yield ray
    finally:
        ray.shutdown()
