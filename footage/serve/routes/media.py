"""The files: /media/{video_id} (with range requests), /media/{video_id}/clip, /thumbs/{segment_id}.

A file is looked up by id in the library and nothing else: no part of a request becomes a path."""

import tempfile
import threading
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from starlette.background import BackgroundTask

from footage.serve.ranges import send_fd, send_file
from footage.serve.security import check_signature

router = APIRouter(dependencies=[Depends(check_signature)], tags=["media"])
CUTTING = threading.BoundedSemaphore(2)  # clips cut at once: each is an ffmpeg process on a small machine


@router.get("/media/{video_id}")
@router.head("/media/{video_id}", include_in_schema=False)
def media(request: Request, video_id: int):
    """The video file, whole or the byte range asked for (a browser seeks with ranges): the file as indexed,
    read through the descriptor the library checked it on."""
    found = request.app.state.library.media(video_id)
    return send_fd(request, found.fd, found.path)


@router.get("/media/{video_id}/clip")
def clip(
    request: Request,
    video_id: int,
    start: Annotated[float, Query(ge=0)],
    end: Annotated[float, Query(gt=0)],
    pad: Annotated[float, Query(ge=0, le=60)] = 0.0,
):
    """The moment start..end (seconds from the first frame, `pad` more on each side) as an MP4 of its own,
    at most 10 minutes long."""
    lib = request.app.state.library
    if not CUTTING.acquire(blocking=False):
        raise HTTPException(503, "busy cutting other clips; try again in a moment", headers={"Retry-After": "5"})
    folder = tempfile.TemporaryDirectory(prefix="footage-clip-")
    try:
        out = lib.clip(video_id, start, end, Path(folder.name) / "clip.mp4", pad)
    except BaseException:
        folder.cleanup()
        raise
    finally:
        CUTTING.release()
    name = f"{Path(lib.video(video_id, timeline=False)[0].path).stem}-{start:.1f}-{end:.1f}.mp4"
    response = send_file(request, out, "video/mp4", name=name)
    response.background = BackgroundTask(folder.cleanup)
    return response


@router.get("/thumbs/{segment_id}")
def thumbnail(request: Request, segment_id: int):
    """A segment's thumbnail (JPEG)."""
    return send_file(request, request.app.state.library.thumbnail(segment_id), "image/jpeg")
