"""GET /api/v1/videos, /api/v1/videos/{id} (with its timeline) and /api/v1/stats."""

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from footage.serve.schemas import EventOut, VideoDetail, VideoId, VideoOut, VideoPage, shown
from footage.serve.security import check_token, sign

router = APIRouter(prefix="/api/v1", dependencies=[Depends(check_token)], tags=["videos"])


def video_out(request: Request, row) -> dict:
    settings = request.app.state.settings
    media = sign(settings, f"/media/{row.id}") if row.status == "indexed" else None
    fields = {k: v for k, v in asdict(row).items() if k != "start_time"}
    thumbnail = sign(settings, f"/thumbs/{row.cover}") if row.cover is not None else None
    return {**fields, "path": shown(row.path), "media_url": media, "thumbnail_url": thumbnail}


@router.get("/videos", response_model=VideoPage)
def videos(
    request: Request,
    offset: Annotated[int, Query(ge=0, le=1 << 62)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    order: Annotated[str, Query(pattern="^(path|recent)$", description="by path, or the last indexed first")] = "path",
) -> VideoPage:
    """The library's videos, a page at a time: indexed, offline, partial and failed ones."""
    rows, total = request.app.state.library.videos(offset, limit, recent=order == "recent")
    after = offset + len(rows)
    return VideoPage(
        videos=[VideoOut(**video_out(request, r)) for r in rows],
        total=total,
        next_offset=after if after < total else None,
    )


@router.get("/videos/{video_id}", response_model=VideoDetail)
def video(request: Request, video_id: VideoId) -> VideoDetail:
    """One video and its timeline: the events `footage describe` finds, from the library's cached frames."""
    row, events = request.app.state.library.video(video_id)
    settings = request.app.state.settings
    timeline = [
        EventOut(**e.to_dict(), thumbnail_url=sign(settings, f"/thumbs/{e.segment}") if e.segment is not None else None)
        for e in events
    ]
    return VideoDetail(**video_out(request, row), timeline=timeline)


@router.get("/stats")
def stats(request: Request) -> dict:
    """What the library holds, as `footage stats --json`, and the running index job if there is one."""
    out = asdict(request.app.state.library.stats())
    out["library"] = shown(out["library"])
    out["offline"] = [shown(p) for p in out["offline"]]
    out["failures"] = [(shown(p), why) for p, why in out["failures"]]
    out["partial"] = [(shown(p), why) for p, why in out["partial"]]
    job = request.app.state.jobs.running()
    out["job"] = job.id if job else None
    return out
