import itertools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from media import photo_video  # noqa: E402
from stores import open_store  # noqa: E402

import footage.library  # noqa: E402
from footage import Library  # noqa: E402
from footage.models import BACKBONES  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def models_loaded_once():
    """Every Library of the run shares one load of the bundled models, as a tool opening many libraries would
    (Library(path, backbone=a_loaded_one)): loading them took a second or two a library, and the tests open
    about a hundred. Hub backbones (tiny random ones, one folder each) load as they are asked for."""
    load, shared = footage.library.load, {}

    def load_once(settings, cache_dir, predictor=None, backbone=None):
        if backbone is None and settings.backbone in BACKBONES:
            backbone = shared.get((settings.backbone, settings.device))
        models = load(settings, cache_dir, predictor, backbone)
        if settings.backbone in BACKBONES:
            shared[settings.backbone, settings.device] = models.backbone
        return models

    footage.library.load = load_once
    yield
    footage.library.load = load


@pytest.fixture(scope="session")
def photos(tmp_path_factory):
    """(path, stretches) of a video of real photos, each shown for a known stretch."""
    folder = tmp_path_factory.mktemp("photos")
    path = folder / "photos.mp4"
    return path, photo_video(path)


@pytest.fixture(scope="session")
def photo_library(tmp_path_factory, photos):
    """A library holding the photo video; tests must not change it."""
    lib = Library(tmp_path_factory.mktemp("photo-library"))
    report = lib.index([photos[0]])
    assert report.indexed == [str(photos[0])], report
    yield lib
    lib.close()


@pytest.fixture
def library(tmp_path):
    lib = Library(tmp_path / "library")
    yield lib
    lib.close()


@pytest.fixture(scope="session")
def footage_cli():
    exe = shutil.which("footage", path=str(Path(sys.executable).parent))
    assert exe, "the footage console script is not installed in this environment"
    return exe


def run_cli(exe, *args, library=None, check=True, **kwargs) -> subprocess.CompletedProcess:
    cmd = [exe, *(["--library", str(library)] if library else []), *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kwargs)
    if check and done.returncode != 0:
        raise AssertionError(f"{cmd} exited {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}")
    return done


# --- PostgreSQL: a throwaway cluster for the session, a fresh database for each test ---------------------------


def postgres_bin() -> Path:
    """The folder of initdb and pg_ctl: on the PATH, else Debian's /usr/lib/postgresql/VERSION/bin (the newest)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not debian:
        pytest.fail(
            "PostgreSQL is not installed (no initdb on the PATH or under /usr/lib/postgresql/*/bin): `make test` "
            "installs it (Debian/Ubuntu: apt-get install postgresql)"
        )
    return debian[-1].parent


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL cluster in a temporary folder, run as an unprivileged user (initdb refuses root), trusting
    local connections and reached by its Unix socket in that folder; stopped and removed at the end. Yields
    the socket's folder. Fails, never skips, where PostgreSQL is missing: the store tests need it."""
    import pwd

    bin_dir = postgres_bin()
    folder = Path(tempfile.mkdtemp(prefix="footage-pg-"))  # under /tmp: pytest's own tmp is root's alone
    as_user = []
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(folder, nobody.pw_uid, nobody.pw_gid)
        as_user = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]
    data = folder / "data"

    def run(*cmd):
        done = subprocess.run([*as_user, *cmd], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            pytest.fail(f"{' '.join(map(str, cmd))} exited {done.returncode}: {done.stderr or done.stdout}")

    try:
        run(bin_dir / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
        options = f"-k {folder} -c listen_addresses='' -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        run(bin_dir / "pg_ctl", "-D", data, "-l", folder / "server.log", "-w", "-t", "60", "-o", options, "start")
        yield folder
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*as_user, bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


pg_databases = itertools.count(1)


def new_database(server: Path) -> str:
    """Makes an empty database in the session's cluster; returns its URL."""
    import psycopg

    name = f"footage_test_{next(pg_databases)}"
    with psycopg.connect(f"postgresql://postgres@/postgres?host={server}", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql://postgres@/{name}?host={server}"


@pytest.fixture
def pg_url(postgres_server):
    """The URL of a new, empty database of the session's cluster (dropped after the test)."""
    import psycopg

    url = new_database(postgres_server)
    yield url
    name = url.split("@/")[1].split("?")[0]
    with psycopg.connect(f"postgresql://postgres@/postgres?host={postgres_server}", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request):
    """None (SQLite, library.db) or a fresh PostgreSQL database's URL: a store test runs on both."""
    return None if request.param == "sqlite" else request.getfixturevalue("pg_url")


@pytest.fixture
def store(tmp_path, database):
    """A new store of DIM-dimensional vectors (tests/stores.py) on each database, its write lock held."""
    s = open_store(tmp_path / "lib", database)
    s.lock.acquire()
    yield s
    s.close()
