"""The files: /media/{video_id} (with range requests), /media/{video_id}/clip, /thumbs/{segment_id}, /pictures/{name}.

A file is looked up by id in the library and nothing else: no part of a request becomes a path."""

import hashlib
import os
import pathlib
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request

from footage.serve.ranges import send_fd, send_file
from footage.serve.schemas import SegmentId, VideoId
from footage.serve.security import check_signature

router = APIRouter(dependencies=[Depends(check_signature)], tags=["media"])
CUTTING = threading.BoundedSemaphore(2)  # clips cut at once: each is an ffmpeg process on a small machine
MAX_SECONDS = 10_000_000  # a time in a video (115 days): larger is no moment of one
CLIPS_KEPT = 16  # cut clips kept, the newest...
CLIP_KEPT_SECONDS = 600  # ...for this long after they were last asked for


class Clips:
    """Cut clips kept a while: the Range requests a player sends for one clip read the same file, with the same
    ETag (so If-Range holds), instead of cutting it again. A clip is known by its video, times and the very
    file it is cut from (inode, size, mtime): a file changed since is cut anew."""

    def __init__(self):
        self.folder = tempfile.TemporaryDirectory(prefix="footage-clips-")
        self.kept: OrderedDict[str, tuple[pathlib.Path, float]] = OrderedDict()
        self.lock = threading.Lock()

    def open(self, lib, video_id: int, start: float, end: float, pad: float) -> tuple[int, pathlib.Path]:
        """An open descriptor of the clip and its path; cuts it if it is not kept (503 while two others are)."""
        with lib.media(video_id) as source:  # NotFound for a file gone or changed
            st = os.fstat(source.fd)
        key = hashlib.sha256(repr((video_id, start, end, pad, st.st_ino, st.st_size, st.st_mtime_ns)).encode())
        name = key.hexdigest()[:32]
        found = self._open(name)
        if found is not None:
            return found
        if not CUTTING.acquire(blocking=False):
            raise HTTPException(503, "busy cutting other clips; try again in a moment", headers={"Retry-After": "5"})
        try:
            part = pathlib.Path(self.folder.name) / f"{name}.{uuid.uuid4().hex[:8]}.mp4"
            try:
                lib.clip(video_id, start, end, part, pad)
            except BaseException:
                part.unlink(missing_ok=True)
                raise
            path = part.with_name(f"{name}.mp4")
            os.replace(part, path)
        finally:
            CUTTING.release()
        with self.lock:
            self.kept[name] = (path, time.monotonic())
        return self._open(name)

    def _open(self, name: str) -> tuple[int, pathlib.Path] | None:
        with self.lock:
            now = time.monotonic()
            for old, (path, used) in list(self.kept.items()):
                if now - used > CLIP_KEPT_SECONDS or len(self.kept) > CLIPS_KEPT:
                    path.unlink(missing_ok=True)  # a response sending it still reads its descriptor
                    del self.kept[old]
            if name not in self.kept:
                return None
            path, _ = self.kept.pop(name)
            self.kept[name] = (path, now)
            return os.open(path, os.O_RDONLY | os.O_NOFOLLOW), path


@router.get("/media/{video_id}")
@router.head("/media/{video_id}", include_in_schema=False)
def media(request: Request, video_id: VideoId):
    """The video file, whole or the byte range asked for (a browser seeks with ranges): the file as indexed,
    read through the descriptor the library checked it on."""
    found = request.app.state.library.media(video_id)
    return send_fd(request, found.fd, found.path)


@router.get("/media/{video_id}/clip")
@router.head("/media/{video_id}/clip", include_in_schema=False)
def clip(
    request: Request,
    video_id: VideoId,
    start: Annotated[float, Query(ge=0, le=MAX_SECONDS)],
    end: Annotated[float, Query(gt=0, le=MAX_SECONDS)],
    pad: Annotated[float, Query(ge=0, le=60)] = 0.0,
):
    """The moment start..end (seconds from the first frame, `pad` more on each side) as an MP4 of its own,
    at most 10 minutes long; the same clip asked for again (a player's range requests) is not cut again."""
    lib = request.app.state.library
    fd, path = request.app.state.clips.open(lib, video_id, start, end, pad)
    name = f"{pathlib.Path(lib.video(video_id, timeline=False)[0].path).stem}-{start:.1f}-{end:.1f}.mp4"
    return send_fd(request, fd, path, "video/mp4", name=name)


@router.get("/thumbs/{segment_id}")
def thumbnail(request: Request, segment_id: SegmentId):
    """A segment's thumbnail (JPEG)."""
    return send_file(request, request.app.state.library.thumbnail(segment_id), "image/jpeg")


@router.get("/pictures/{name}")
def picture(request: Request, name: Annotated[str, Path(pattern="^[0-9a-f]{16}$")]):
    """A picture searched with (JPEG), as POST /api/v1/pictures kept it."""
    return send_file(request, request.app.state.library.picture(name), "image/jpeg")
