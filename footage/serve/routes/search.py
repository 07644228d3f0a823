"""GET /api/v1/search: by words, "more like this" or a kept picture, narrowed by filters, with facets on its
first page; POST /api/v1/search: by a picture, once; POST /api/v1/pictures: keep a picture to search by name;
GET /api/v1/segments/{id}: one moment (where "more like this" started)."""

import base64
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Path, Query, Request, UploadFile

from footage import MAX_QUERY_CHARS, PER_VIDEO, SEARCH_MODES, Filters, Hit, facets
from footage.serve.pictures import as_jpeg, downscaled, embedding, searching
from footage.serve.schemas import MAX_ID, HitOut, PictureOut, SearchOut, SegmentId, shown
from footage.serve.security import check_token, sign

MAX_LIMIT = 200
MAX_DEPTH = 1_000  # hits a client may page through for one query
MAX_UPLOAD_BYTES = 20 << 20
MAX_PATH_CHARS = 4096  # PATH_MAX
FACET_DEPTH = 100  # the first page's facets count the best this many hits
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
    """The page of hits from `offset` (captioned now: the search decoded none), with the first page's facets."""
    more = len(hits) > offset + limit and offset + limit < MAX_DEPTH
    cursor = base64.urlsafe_b64encode(str(offset + limit).encode()).decode() if more else None
    shown_hits = hits[offset : offset + limit]
    request.app.state.library.caption(shown_hits)
    counts = facets(hits) if offset == 0 else None
    return SearchOut(hits=[hit_out(request, h) for h in shown_hits], next_cursor=cursor, facets=counts)


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
    picture: Annotated[
        str | None, Query(pattern="^[0-9a-f]{16}$", description="a picture POST /pictures kept: moments like it")
    ] = None,
    path: Annotated[str | None, Query(max_length=MAX_PATH_CHARS, description="only videos under this folder")] = None,
    since: Annotated[str | None, Query(max_length=40, description="files modified from this date (YYYY-MM-DD)")] = None,
    until: Annotated[str | None, Query(max_length=40, description="... to this date, inclusive")] = None,
    min_length: Annotated[float | None, Query(ge=0, le=1e9, description="videos this long or longer (s)")] = None,
    max_length: Annotated[float | None, Query(ge=0, le=1e9, description="videos this long or shorter (s)")] = None,
    video: Annotated[int | None, Query(ge=0, le=MAX_ID, description="only this video (its id)")] = None,
    found_by: Annotated[
        list[str] | None, Query(max_length=6, description="only moments these channels found (repeat it)")
    ] = None,
    offline: bool = False,
    per_video: Annotated[int, Query(ge=0, le=MAX_DEPTH, description="hits of one video at most; 0: all")] = PER_VIDEO,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> SearchOut:
    """Moments matching words (`q`), like a segment (`like`) or like a kept picture (`picture`), best first, a
    page at a time; the first page has facets: how many of the best FACET_DEPTH hits each filter keeps."""
    lib = request.app.state.library
    offset = _offset(cursor)
    # one more says whether there is a next page; the first page counts facets over more
    top_k = min(max(offset + limit + 1, FACET_DEPTH if offset == 0 else 0), MAX_DEPTH)
    if sum(x is not None for x in (q, like, picture)) != 1:
        raise HTTPException(400, "give q (words to look for), like (a segment id) or picture (a kept picture's id)")
    filters = Filters(_folder(path), since, until, min_length, max_length, video, tuple(found_by or ()))
    if video is not None:
        lib.video(video, timeline=False)  # NotFound for a video the library does not have: a link gone stale
    common = dict(top_k=top_k, captions=False, offline=offline, min_score=min_score, filters=filters)
    if like is not None or picture is not None:
        if mode not in (None, "visual"):
            raise HTTPException(400, f"like= and picture= find moments that look alike (mode visual), not {mode}")
    if like is not None:
        hits = lib.search_like(like, **common)
    elif picture is not None:
        kept = lib.picture(picture)
        with searching(), embedding:
            hits = lib.search_image(kept, **common)
    else:
        per = (per_video or None) if video is None else None
        hits = lib.search(q, mode=mode or "all", per_video=per, min_relevance=min_relevance, cutoff=cutoff, **common)
    return _page(request, hits, offset, limit)


@router.post("/search", response_model=SearchOut)
def search_image(
    request: Request,
    image: Annotated[UploadFile, File(description="a picture (JPEG, PNG, WebP)")],
    limit: Annotated[int, Form(ge=1, le=MAX_LIMIT)] = 20,
    min_score: Annotated[float | None, Form(allow_inf_nan=False)] = None,
    path: Annotated[str | None, Form(max_length=MAX_PATH_CHARS)] = None,
) -> SearchOut:
    """Moments that look like an uploaded picture, once (POST /pictures keeps one to search by name)."""
    data = image.file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise HTTPException(413, f"a picture of at most {MAX_UPLOAD_BYTES >> 20} MB")
    lib = request.app.state.library
    under = _folder(path)
    with searching():
        picture = downscaled(data, lib.models.backbone.image_size, image.filename)
        with embedding:
            hits = lib.search_image(picture, top_k=limit, under=under, min_score=min_score, captions=False)
        return _page(request, hits, 0, limit)


@router.post("/pictures", response_model=PictureOut, status_code=201)
def keep_picture(
    request: Request, image: Annotated[UploadFile, File(description="a picture (JPEG, PNG, WebP)")]
) -> PictureOut:
    """Keeps a picture in the library (as a JPEG of twice the model's input size) under an id made from its
    content: GET /search?picture=ID searches with it, and a page's URL can name that search."""
    data = image.file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise HTTPException(413, f"a picture of at most {MAX_UPLOAD_BYTES >> 20} MB")
    lib = request.app.state.library
    with searching():
        name = lib.keep_picture(as_jpeg(downscaled(data, lib.models.backbone.image_size, image.filename)))
    return PictureOut(id=name, url=sign(request.app.state.settings, f"/pictures/{name}"))


@router.get("/pictures/{name}", response_model=PictureOut)
def kept_picture(request: Request, name: Annotated[str, Path(pattern="^[0-9a-f]{16}$")]) -> PictureOut:
    """A kept picture: where to fetch it (404 when the library does not keep it)."""
    request.app.state.library.picture(name)
    return PictureOut(id=name, url=sign(request.app.state.settings, f"/pictures/{name}"))


@router.get("/segments/{segment_id}", response_model=HitOut)
def segment(request: Request, segment_id: SegmentId) -> HitOut:
    """One segment as a moment: its video, time range, thumbnail and caption."""
    return hit_out(request, request.app.state.library.moment(segment_id))


def _folder(path: str | None) -> str | None:
    """The folder a search keeps to, as the library takes it: a NUL byte is no path (the OS would refuse it)."""
    if path is not None and "\0" in path:
        raise HTTPException(400, "path: a folder's path cannot hold a NUL character")
    return path
