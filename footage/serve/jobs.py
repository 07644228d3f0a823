"""Index runs started over HTTP: one at a time, in a thread, with the progress the CLI's bar shows and a
clean way to stop. Stopping is asked for between batches, where Ctrl-C acts in the CLI: what was indexed is
kept, and the same job started again resumes."""

import threading
import time
import uuid
from dataclasses import asdict, dataclass, field

from footage import Library, Progress
from footage.errors import FootageError, LibraryBusy

KEEP_JOBS = 20  # finished jobs remembered


class Cancelled(BaseException):
    """Raised from the progress callback to stop a run; a BaseException so no per-file handler eats it."""


@dataclass
class Job:
    id: str
    paths: list[str]
    state: str = "running"  # running, done, failed, cancelled
    progress: Progress | None = None
    report: dict | None = None
    error: str | None = None
    started_at: float = field(default_factory=time.time)
    ended_at: float | None = None
    stop: threading.Event = field(default_factory=threading.Event)


class Jobs:
    """The server's index runs."""

    def __init__(self, library: Library, roots: list | None = None):
        self.library, self.roots = library, roots
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()

    def start(self, paths: list[str]) -> Job:
        """Starts an index run; LibraryBusy while another runs (here or in another process)."""
        with self.lock:
            if any(j.state == "running" for j in self.jobs.values()):
                raise LibraryBusy("an index job is running already; wait for it, or cancel it")
            job = Job(uuid.uuid4().hex[:12], list(paths))
            self.jobs[job.id] = job
            for old in [j for j in self.jobs.values() if j.state != "running"][:-KEEP_JOBS]:
                del self.jobs[old.id]
        threading.Thread(target=self._run, args=(job,), daemon=True, name=f"index-{job.id}").start()
        return job

    def _run(self, job: Job) -> None:
        def on_progress(p: Progress) -> None:
            job.progress = p
            if job.stop.is_set():
                raise Cancelled

        try:
            report = self.library.index(job.paths, on_progress=on_progress, within=self.roots)
            job.report, job.state = asdict(report), "done"
        except Cancelled:
            job.state = "cancelled"
        except FootageError as e:
            job.error, job.state = str(e), "failed"
        except Exception as e:  # the server goes on; the job says what happened
            job.error, job.state = f"internal error ({type(e).__name__}: {e})", "failed"
        finally:
            job.ended_at = time.time()

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def cancel(self, job_id: str) -> Job | None:
        job = self.jobs.get(job_id)
        if job is not None:
            job.stop.set()
        return job

    def running(self) -> Job | None:
        return next((j for j in self.jobs.values() if j.state == "running"), None)
