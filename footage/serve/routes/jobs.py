"""Index runs over HTTP: POST /api/v1/jobs/index, GET and DELETE /api/v1/jobs/{id}, GET /api/v1/jobs.

Off unless `footage serve` was given --root folders; then only paths under them are indexed."""

from dataclasses import asdict

from fastapi import APIRouter, Depends, HTTPException, Request

from footage import expand, resolve
from footage.serve.schemas import IndexRequest, JobId, JobOut
from footage.serve.security import check_token

router = APIRouter(prefix="/api/v1", dependencies=[Depends(check_token)], tags=["jobs"])


def job_out(job) -> JobOut:
    progress = asdict(job.progress) if job.progress else None
    return JobOut(**{k: v for k, v in vars(job).items() if k not in ("stop", "progress")}, progress=progress)


@router.post("/jobs/index", response_model=JobOut, status_code=202)
def start(request: Request, body: IndexRequest) -> JobOut:
    """Starts indexing folders under the server's roots; 409 while another index run is going."""
    roots = request.app.state.settings.roots
    if not roots:
        raise HTTPException(403, "indexing over HTTP is off; start footage serve with --root FOLDER to allow it")
    lib = request.app.state.library
    paths = lib.check_paths(body.paths)  # empty, a NUL byte, inside the library: 400
    for path in paths:
        real = resolve(expand(path).absolute())
        if not any(real.is_relative_to(root) for root in roots):
            raise HTTPException(403, f"{path}: not under a folder this server may index (--root)")
    lib.writer()  # read-only (403), another process indexing (409): said now, not by a job that fails
    return job_out(request.app.state.jobs.start(paths))


@router.get("/jobs", response_model=list[JobOut])
def jobs(request: Request) -> list[JobOut]:
    return [job_out(j) for j in request.app.state.jobs.jobs.values()]


@router.get("/jobs/{job_id}", response_model=JobOut)
def job(request: Request, job_id: JobId) -> JobOut:
    found = request.app.state.jobs.get(job_id)
    if found is None:
        raise HTTPException(404, f"job {job_id}: no such job")
    return job_out(found)


@router.delete("/jobs/{job_id}", response_model=JobOut, status_code=202)
def cancel(request: Request, job_id: JobId) -> JobOut:
    """Asks a running job to stop after its current batch; what it indexed is kept."""
    found = request.app.state.jobs.get(job_id)
    if found is None:
        raise HTTPException(404, f"job {job_id}: no such job")
    if found.state != "running":
        raise HTTPException(409, f"job {job_id}: already {found.state}")
    return job_out(request.app.state.jobs.cancel(job_id))
