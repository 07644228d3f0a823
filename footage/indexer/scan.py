"""What an index run has to do: the video files under the paths given (scan), each one's fingerprint, and the
plan: unchanged files skipped, moved ones renamed, missing ones dropped or kept offline, the rest to decode.
"""

import errno
import hashlib
import json
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from footage.files import expand, resolved
from footage.indexer import subtitles
from footage.store import FileFacts, Store

VIDEO_EXTENSIONS = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .wmv .asf .flv .mpg .mpeg .m2v .ts .mts .m2ts .vob .ogv .ogg .3gp .3g2 "
    ".mxf .dv .rm .rmvb .divx .y4m".split()
)
FINGERPRINT_BYTES = 1 << 20  # read from each end of a file: where containers keep their index
FINGERPRINT_SAMPLES = 31  # blocks read evenly between the ends (odd: the middle byte is always read)
FINGERPRINT_BLOCK = 64 << 10  # 31 blocks of 64 KiB: about 4 MiB read per file in all
FINGERPRINT_VERSION = "v2:"  # before it: the two ends only (still recognised, and upgraded)


@dataclass
class IndexReport:
    indexed: list[str] = field(default_factory=list)
    unchanged: int = 0
    moved: list[tuple[str, str]] = field(default_factory=list)  # (old path, new path)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason): also in stats
    video_seconds: float = 0.0  # the length of the videos indexed in this run
    wall_seconds: float = 0.0
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (path, what): indexed, but without this
    missing: list[str] = field(default_factory=list)  # paths given that do not exist
    offline: list[str] = field(default_factory=list)  # indexed videos now missing under a missing or emptied folder
    online: list[str] = field(default_factory=list)  # offline videos whose files are back
    frames: int = 0  # frames embedded in this run...
    frames_reused: int = 0  # ... of which this many took the tokens of the one before (nothing had changed)


def fingerprint(path: Path, size: int) -> str:
    """Hash of the size, the first and last MiB and 31 blocks of 64 KiB spread evenly between them: an edit
    that keeps the size still shows unless it falls wholly between two samples, for about 4 MiB read."""
    h = hashlib.blake2b(str(size).encode(), digest_size=16)
    with open(path, "rb") as f:
        h.update(f.read(FINGERPRINT_BYTES))
        middle = size - 2 * FINGERPRINT_BYTES - FINGERPRINT_BLOCK
        if middle > 0:
            for k in range(1, FINGERPRINT_SAMPLES + 1):
                f.seek(FINGERPRINT_BYTES + middle * k // (FINGERPRINT_SAMPLES + 1))
                h.update(f.read(FINGERPRINT_BLOCK))
        if size > 2 * FINGERPRINT_BYTES:
            f.seek(-FINGERPRINT_BYTES, os.SEEK_END)
        h.update(f.read(FINGERPRINT_BYTES))
    return FINGERPRINT_VERSION + h.hexdigest()


def legacy_fingerprint(path: Path, size: int) -> str:
    """The fingerprint of libraries made before v2 (both ends only), to recognise their files unchanged."""
    h = hashlib.blake2b(str(size).encode(), digest_size=16)
    with open(path, "rb") as f:
        h.update(f.read(FINGERPRINT_BYTES))
        if size > 2 * FINGERPRINT_BYTES:
            f.seek(-FINGERPRINT_BYTES, os.SEEK_END)
        h.update(f.read(FINGERPRINT_BYTES))
    return h.hexdigest()


@dataclass
class Scan:
    """What a run's arguments expand to."""

    files: list[Path] = field(default_factory=list)  # regular files to index, symbolic links resolved
    folders: list[Path] = field(default_factory=list)  # folders given, resolved
    missing: list[str] = field(default_factory=list)  # paths given that do not exist
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path as found, why): links to nowhere, FIFOs
    gone_targets: set[str] = field(default_factory=set)  # where links to nowhere point: what was there is gone
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (folder, why): what is under it is unknown


def _entry(
    path: Path, found: Scan, files: dict[Path, None], within: list[Path] | None = None, walked: bool = False
) -> None:
    """One file: taken if it is a regular file (through links), else skipped with the reason. Opening anything
    else could hang (a FIFO) or read forever (a device). A file `walked` to in a folder is taken for its name:
    through a link, the file it leads to must be named as a video too. A skipped file is named by the path it
    was found at, never by where a link leads, so the failure goes when the link does."""
    try:
        st = path.stat()
    except OSError as e:
        if e.errno == errno.ELOOP:
            found.skipped.append((str(path), "symbolic link loop"))
        elif path.is_symlink():
            target = Path(os.path.realpath(path))
            if path.suffix.lower() in VIDEO_EXTENSIONS:
                found.skipped.append((str(path), f"broken symbolic link: its target {target} is gone"))
            found.gone_targets.add(str(target))
        else:
            found.skipped.append((str(path), e.strerror or "cannot read"))
        return
    if not stat.S_ISREG(st.st_mode):
        kinds = {stat.S_ISFIFO: "a FIFO", stat.S_ISSOCK: "a socket", stat.S_ISCHR: "a device", stat.S_ISBLK: "a device"}
        kind = next((name for test, name in kinds.items() if test(st.st_mode)), "a folder")
        found.skipped.append((str(path), f"not a regular file ({kind})"))
        return
    real = resolved(path)
    if real is None:
        found.skipped.append((str(path), "symbolic link loop"))
    elif within is not None and not any(real.is_relative_to(w) for w in within):
        found.skipped.append((str(path), "a link out of the folders this run may read"))  # where to: not said
    elif walked and real.suffix.lower() not in VIDEO_EXTENSIONS:  # clip.mp4 -> /etc/shadow is not probed
        found.skipped.append((str(path), "a link to a file that is not named as a video"))
    else:
        files[real] = None


def scan(paths: Iterable[str | Path], skip: Path, within: list[Path] | None = None) -> Scan:
    """Expands arguments into files and folders: files named on the command line are taken whatever their
    extension; inside folders, video extensions only, hidden entries and the library itself left out.
    `within`: links leading out of these folders are not followed."""
    found = Scan()
    files: dict[Path, None] = {}
    for arg in paths:
        try:
            _scan_one(expand(arg).absolute(), skip, within, found, files)
        except OSError as e:  # a name too long, a drive gone in the middle of the walk
            if e.errno in (errno.ENOENT, errno.ENAMETOOLONG):
                found.missing.append(str(arg))
            else:
                found.unreadable.append((str(arg), e.strerror or "cannot read"))
    found.files = list(files)
    return found


def _scan_one(p: Path, skip: Path, within: list[Path] | None, found: Scan, files: dict[Path, None]) -> None:
    real = resolved(p)
    if p.is_symlink() and not p.exists() and real is not None:  # a link to a drive not mounted
        found.missing.append(str(p))
        found.gone_targets.add(str(real))
    elif p.is_dir():
        root_real = real or p
        found.folders.append(root_real)
        walked = {root_real}  # symlinked folders are followed, each once: a link loop must not hang us

        def allowed(folder: Path) -> bool:
            return within is None or any(folder.is_relative_to(w) for w in within)

        def cannot_read(e: OSError) -> None:
            found.unreadable.append((str(e.filename), e.strerror or "cannot read"))

        for root, dirs, names in os.walk(p, followlinks=True, onerror=cannot_read):
            keep = []
            for d in sorted(dirs):
                folder = resolved(Path(root, d))
                if d.startswith(".") or folder is None or folder == skip or folder in walked or not allowed(folder):
                    continue
                walked.add(folder)
                keep.append(d)
                if Path(root, d).is_symlink():  # its videos are stored under where it leads
                    found.folders.append(folder)
            dirs[:] = keep
            for name in sorted(names):
                if name.startswith("."):
                    continue
                if Path(name).suffix.lower() in VIDEO_EXTENSIONS:
                    _entry(Path(root, name), found, files, within, walked=True)
                elif Path(root, name).is_symlink() and not Path(root, name).exists():  # a folder gone?
                    found.gone_targets.add(os.path.realpath(Path(root, name)))
    elif os.path.lexists(p):
        _entry(p, found, files, within)
    else:
        found.missing.append(str(p))


def sidecar_state(video: Path, listing: list[Path]) -> str | None:
    """The subtitle files beside a video as a string to compare between runs: each one's name after the video's
    stem, size and mtime (so a renamed pair still matches); None when it has none."""
    state = []
    for p in subtitles.sidecars(video, listing):
        try:
            st = p.stat()
        except OSError:
            continue
        state.append([p.name[len(video.stem) :], st.st_size, st.st_mtime])
    return json.dumps(state) if state else None


def _same_file(old, facts: FileFacts) -> bool:
    """Unchanged without reading it: the same size, mtime, ctime and inode (a replacement made with `cp -p` or
    `rsync -a` keeps size and mtime, not the other two), and the same subtitle files beside it."""
    return (old.size, old.mtime, old.ctime, old.inode, old.sidecars) == (
        facts.size,
        facts.mtime,
        facts.ctime,
        facts.inode,
        facts.sidecars,
    )


def _same_content(old, facts: FileFacts, path: Path) -> bool:
    if old.fingerprint == facts.fingerprint:
        return True
    legacy = not old.fingerprint.startswith(FINGERPRINT_VERSION) and old.fingerprint
    return bool(legacy) and legacy_fingerprint(path, facts.size) == old.fingerprint


def plan(store: Store, found: Scan, model_id: str, report: IndexReport, prune: bool) -> list[tuple[Path, FileFacts]]:
    """Sorts files into unchanged, moved (same content, new name) and to decode (new, changed, failed before,
    or indexed by other models). Files missing from the folders being indexed are dropped, or kept offline
    when their whole folder is missing or emptied (a drive not mounted). Returns [(path, facts)] to decode."""
    known = store.videos()
    by_fingerprint = {v.fingerprint: v for v in known.values() if v.status == "indexed" and v.model == model_id}
    seen = {str(f) for f in found.files}
    listings: dict[Path, list[Path]] = {}
    todo: list[tuple[Path, FileFacts]] = []
    back: list = []
    touched: list[tuple[int, FileFacts]] = []

    def fail(path: str, reason: str, facts: FileFacts | None = None) -> None:
        store.save_failure(facts or FileFacts(path, 0, 0.0, ""), reason)
        report.failed.append((path, reason))

    for path, reason in found.skipped:
        fail(path, reason)
    stats = []
    for path in found.files:
        try:
            st = path.stat()
            if not stat.S_ISREG(st.st_mode):
                raise OSError(errno.EINVAL, "not a regular file")
            if path.parent not in listings:
                listings[path.parent] = sorted(path.parent.iterdir())
            stats.append((path, st))
        except OSError as e:
            fail(str(path), e.strerror or "cannot read")
    inodes = {st.st_ino for _, st in stats}  # a renamed file keeps its inode: it, not a copy, takes the index
    for path, st in stats:
        facts = FileFacts(
            str(path), st.st_size, st.st_mtime, "", st.st_ctime, st.st_ino, sidecar_state(path, listings[path.parent])
        )
        old = known.get(str(path))
        if old and old.status == "indexed" and old.model != model_id:  # indexed by other models: decode it again
            old = None
        if old and old.status == "indexed" and _same_file(old, facts):
            report.unchanged += 1
            back += [old] if old.offline else []
            continue
        try:
            facts.fingerprint = fingerprint(path, st.st_size)
            same = old is not None and old.status == "indexed" and _same_content(old, facts, path)
        except OSError as e:
            if old and old.status == "indexed" and e.errno in (errno.EACCES, errno.EPERM):
                report.warnings.append((str(path), f"cannot read it now ({e.strerror}); its index is kept"))
                continue
            fail(str(path), e.strerror or "cannot read", facts)
            continue
        twin = by_fingerprint.get(facts.fingerprint)
        if twin and twin.inode in inodes and twin.inode != st.st_ino:
            twin = None  # another file of this run has its inode: that one is the renamed original
        before_v5 = old is not None and old.ctime is None  # its subtitle files were never recorded
        if same and (old.sidecars == facts.sidecars or before_v5):
            touched.append((old.id, facts))
            report.unchanged += 1
            back += [old] if old.offline else []
        elif not old and twin and twin.path not in seen and not os.path.lexists(twin.path):
            if twin.sidecars == facts.sidecars:
                del by_fingerprint[facts.fingerprint]  # moved once: a second copy of it is a new video
                store.move(twin.id, facts)
                report.moved.append((twin.path, str(path)))
                back += [twin] if twin.offline else []
            else:  # renamed, with other subtitles: read again
                todo.append((path, facts))
        else:
            todo.append((path, facts))
    store.touch(touched)
    if back:
        store.set_offline([v.id for v in back], False)
        report.online += [v.path for v in back]
    _drop_missing(store, known, found, seen, {old for old, _ in report.moved}, report, prune)
    return todo


def _drop_missing(store: Store, known: dict, found: Scan, seen: set[str], moved: set[str], report, prune) -> None:
    """Videos gone from the folders (and files) being indexed: dropped when they were deleted from a folder
    that still holds indexed files, kept offline when their folder is missing or has none left (an unmounted
    drive looks like an empty folder), unless `prune`. Failed files that are gone are always dropped."""

    under = [Path(f) for f in (*found.folders, *found.missing, *found.gone_targets)]
    unknown = [Path(f) for f, _ in found.unreadable]
    failed_now = {path for path, _ in report.failed}

    def looked_at(path: str) -> bool:
        p = Path(path)
        if any(p.is_relative_to(u) for u in unknown):  # a folder that cannot be read says nothing of its files
            return False
        return any(p.is_relative_to(f) for f in under)

    missing = [
        v
        for v in known.values()
        if v.path not in seen and v.path not in moved and looked_at(v.path) and not os.path.lexists(v.path)
    ]
    # a failure this run did not see again is stale: a link whose target came back, a file now hidden
    stale = [
        v
        for v in known.values()
        if v.status == "failed" and v.path not in seen and v.path not in failed_now and looked_at(v.path)
    ]
    lost = {v.id for v in missing}
    missing += [v for v in stale if v.id not in lost]
    lost |= {v.id for v in stale}
    present = {str(Path(p).parent) for p in seen}  # folders that still hold a video
    present |= {str(Path(v.path).parent) for v in known.values() if v.id not in lost and looked_at(v.path)}
    gone, away = [], []
    for v in missing:
        deleted = v.status != "indexed" or prune or str(Path(v.path).parent) in present
        if deleted:
            gone.append(v)
        elif not v.offline:
            away.append(v)
    if gone:
        store.remove([v.id for v in gone])
        report.removed += [v.path for v in gone if v.status == "indexed"]
    if away:
        store.set_offline([v.id for v in away], True)
        report.offline += [v.path for v in away]
