"""A person's marks on search hits, and training on them: POST and GET /api/v1/feedback, DELETE
/api/v1/feedback/{id}, POST /api/v1/train."""

from dataclasses import asdict

from fastapi import APIRouter, Depends, Request, Response

from footage.errors import BadValue, LibraryBusy
from footage.serve.schemas import MarkId, MarkIn, MarkOut, MarksOut, ScoresOut, TrainIn, TrainOut, shown
from footage.serve.security import check_token

router = APIRouter(prefix="/api/v1", dependencies=[Depends(check_token)], tags=["feedback"])


def mark_out(mark) -> MarkOut:
    return MarkOut(**{**asdict(mark), "path": shown(mark.path)})


@router.post("/feedback", response_model=MarkOut, status_code=201)
def add(request: Request, body: MarkIn) -> MarkOut:
    """Marks a hit right or wrong for its query; the same query and moment marked again replaces the mark."""
    lib = request.app.state.library
    return mark_out(lib.mark(body.query, body.video_id, body.start, body.end, body.right, body.segment_id))


@router.get("/feedback", response_model=MarksOut)
def marks(request: Request) -> MarksOut:
    """The marks, newest first."""
    return MarksOut(marks=[mark_out(m) for m in request.app.state.library.marks()])


@router.delete("/feedback/{mark_id}", status_code=204)
def drop(request: Request, mark_id: MarkId) -> Response:
    request.app.state.library.unmark(mark_id)
    return Response(status_code=204)


@router.post("/train", response_model=TrainOut)
def train(request: Request, body: TrainIn) -> TrainOut:
    """Trains the predictor on the moments marked right, kept only if held-out MRR does not drop; answers when
    done (seconds: the marks' frames are cached). 400 when the marks are too few, 409 while an index job runs."""
    if not body.from_feedback:
        raise BadValue(
            'training over HTTP is from the marks: {"from_feedback": true}; `footage train PAIRS` takes a file'
        )
    if request.app.state.jobs.running():  # it would hold the library's write lock, or want it mid-training
        raise LibraryBusy("an index job is running; train when it is done")
    report = request.app.state.library.train_from_feedback(epochs=body.epochs)
    scores = [ScoresOut(r1=s.r1, r5=s.r5, mrr=s.mrr) if s else None for s in (report.before, report.after)]
    return TrainOut(
        kept=report.kept,
        summary=report.summary,
        before=scores[0],
        after=scores[1],
        version=report.version,
        pairs=report.train_pairs + report.held_out_pairs,
    )
