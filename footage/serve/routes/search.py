"""GET /api/v1/search: by words or "more like this"; POST /api/v1/search: by a picture."""

import base64
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile

from footage import MAX_QUERY_CHARS, PER_VIDEO, SEARCH_MODES, Hit
from footage.serve.pictures import downscaled, embedding, searching
from footage.serve.schemas import MAX_ID, HitOut, SearchOut, shown
from footage.serve.security import check_token, sign

MAX_LIMIT = 200
MAX_DEPTH = 1_000  # hits a client may page through for one query
MAX_UPLOAD_BYTES = 20 << 20
MAX_PATH_CHARS = 4096  # PATH_MAX
router = APIRouter(prefix="/api/v1", dependencies=[Depends(check_token)], tags=["search"])


def hit_out(request: Request, hit: Hit) -> HitOut:
    settings = request.app.state.settings
    video, segment = hit.video_id, hit.segment
    media = sign(settings, f"/media/{video}") if video is not None else None
    fields = hit.to_dict()
    fields["path"], fields["thumbnail"] = shown(hit.path), shown(hit.thumbnail)
    return HitOut(
        **fields,
        segment_id=segment,
        thumbnail_url=sign(settings, f"/thumbs/{segment}") if segment is not None and hit.thumbnail else None,
        play_url=f"{media}#t={hit.start:.2f},{hit.end:.2f}" if media else None,
        clip_url=_clip(settings, video, hit) if video is not None else None,
    )


def _clip(settings, video: int, hit: Hit) -> str:
    return sign(settings, f"/media/{video}/clip?start={hit.start:.2f}&end={hit.end:.2f}")


def _page(request: Request, hits: list[Hit], offset: int, limit: int) -> SearchOut:
    more = len(hits) > offset + limit and offset + limit < MAX_DEPTH
    cursor = base64.urlsafe_b64encode(str(offset + limit).encode()).decode() if more else None
    return SearchOut(hits=[hit_out(request, h) for h in hits[offset : offset + limit]], next_cursor=cursor)


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        offset = int(base64.urlsafe_b64decode(cursor.encode()).decode())
    except ValueError:
        raise HTTPException(400, "not a cursor this API gave") from None
    if not 0 <= offset < MAX_DEPTH:
        raise HTTPException(400, "not a cursor this API gave")
    return offset


@router.get("/search", response_model=SearchOut)
def search(
    request: Request,
    q: Annotated[str | None, Query(max_length=MAX_QUERY_CHARS, description="what to look for")] = None,
    like: Annotated[int | None, Query(ge=0, le=MAX_ID, description="a segment id: moments that look like it")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    mode: Annotated[
        str | None, Query(pattern=f"^({'|'.join(SEARCH_MODES)})$", description="all by default; like= is visual only")
    ] = None,
    min_score: Annotated[float | None, Query(allow_inf_nan=False, description="drop hits scoring below this")] = None,
    min_relevance: Annotated[
        float, Query(ge=0, le=1, description="q only: drop hits less relevant than this (0 to 1)")
    ] = 0.0,
    cutoff: Annotated[
        bool, Query(description="q only: leave out what each channel found below its floor; false shows all")
    ] = True,
    path: Annotated[str | None, Query(max_length=MAX_PATH_CHARS, description="only videos under this folder")] = None,
    offline: bool = False,
    per_video: Annotated[int, Query(ge=0, le=MAX_DEPTH, description="hits of one video at most; 0: all")] = PER_VIDEO,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> SearchOut:
    """Moments matching words (`q`), or like a segment (`like`), best first, a page at a time."""
    lib = request.app.state.library
    offset = _offset(cursor)
    top_k = min(offset + limit + 1, MAX_DEPTH)  # one more says whether there is a next page
    if (q is None) == (like is None):
        raise HTTPException(400, "give q (words to look for) or like (a segment id), one of them")
    under = _folder(path)
    if like is not None:
        if mode not in (None, "visual"):
            raise HTTPException(400, f"like= finds moments that look alike (mode visual), not by mode {mode}")
        hits = lib.search_like(like, top_k=top_k, offline=offline, under=under, min_score=min_score)
    else:
        hits = lib.search(
            q,
            top_k=top_k,
            mode=mode or "all",
            offline=offline,
            under=under,
            min_score=min_score,
            per_video=per_video or None,
            min_relevance=min_relevance,
            cutoff=cutoff,
        )
    return _page(request, hits, offset, limit)


@router.post("/search", response_model=SearchOut)
def search_image(
    request: Request,
    image: Annotated[UploadFile, File(description="a picture (JPEG, PNG, WebP)")],
    limit: Annotated[int, Form(ge=1, le=MAX_LIMIT)] = 20,
    min_score: Annotated[float | None, Form(allow_inf_nan=False)] = None,
    path: Annotated[str | None, Form(max_length=MAX_PATH_CHARS)] = None,
) -> SearchOut:
    """Moments that look like an uploaded picture."""
    data = image.file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise HTTPException(413, f"a picture of at most {MAX_UPLOAD_BYTES >> 20} MB")
    lib = request.app.state.library
    under = _folder(path)
    with searching():
        picture = downscaled(data, lib.models.backbone.image_size, image.filename)
        with embedding:
            hits = lib.search_image(picture, top_k=limit, under=under, min_score=min_score)
        return _page(request, hits, 0, limit)


def _folder(path: str | None) -> str | None:
    """The folder a search keeps to, as the library takes it: a NUL byte is no path (the OS would refuse it)."""
    if path is not None and "\0" in path:
        raise HTTPException(400, "path: a folder's path cannot hold a NUL character")
    return path
