"""PostgreSQL as a library's database: `footage --db postgresql://USER@HOST/DATABASE` (or FOOTAGE_DB).

The database holds what library.db holds in a SQLite library: videos, segments with their vectors, text chunks,
captions, settings. The library folder keeps what each machine makes from it or beside it: the FAISS vectors (a
cache, rebuilt from the database), thumbnails, trained predictors, recordings. The folder remembers its database
in LIBRARY/database.json (the URL without its password, and the library's id), so later commands need no --db;
a password comes from the URL given, PGPASSWORD or ~/.pgpass (libpq reads them). A folder serves one library:
the id, not the URL, is compared, as two machines may name one server differently.
"""

import json
import os
import uuid
from pathlib import Path
from urllib.parse import unquote

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from footage.errors import BadValue, DiskFull, LibraryError, LibraryReadOnly
from footage.store.lock import first_line
from footage.store.schema import Meta

BINDING = "database.json"  # in the library folder: the database its vectors and thumbnails belong to
CONNECT_TIMEOUT_S = 10  # a server that does not answer: a clear error soon, not minutes of TCP retries
TABLES = {"meta", "models", "videos", "segments", "captions", "text_chunks", "marks"}
DRIVERS = ("postgresql", "postgres", "postgresql+psycopg")


def parse(url: str) -> URL:
    """A --db value as SQLAlchemy's URL for psycopg 3; BadValue when it names no PostgreSQL database."""
    try:
        parsed = make_url(url.strip())
    except ArgumentError:
        raise BadValue(f"--db {url!r}: not a database URL; give postgresql://USER@HOST/DATABASE") from None
    if parsed.drivername not in DRIVERS:
        raise BadValue(
            f"--db {shown(parsed)}: footage keeps a library's database in SQLite (no --db) or PostgreSQL "
            f"(postgresql://USER@HOST/DATABASE), not {parsed.get_backend_name()}"
        )
    if not parsed.database:
        raise BadValue(f"--db {shown(parsed)}: names no database; give postgresql://USER@HOST/DATABASE")
    return parsed.set(drivername="postgresql+psycopg")


def shown(url: URL) -> str:
    """The URL as footage says it: postgresql://, without its password, readable (a socket's folder unescaped)."""
    return unquote(remembered(url))


def remembered(url: URL) -> str:
    """The URL as database.json keeps it: postgresql://, without its password, escaped as a URL must be."""
    bare = url._replace(password=None).difference_update_query(["password"])
    return bare.set(drivername="postgresql").render_as_string(hide_password=False)


def conninfo(url: URL) -> str:
    """libpq's URI for the URL (what psycopg connects with outside SQLAlchemy: the write lock)."""
    if "connect_timeout" not in url.query:
        url = url.update_query_dict({"connect_timeout": str(CONNECT_TIMEOUT_S)})
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def chosen(folder: Path, db: str | None) -> URL | None:
    """The database of the library in `folder`: `db` when given, else the one the folder remembers; None: SQLite."""
    if db is not None:
        return parse(db)
    bound = binding(folder)
    return parse(bound["url"]) if bound else None


def binding(folder: Path) -> dict | None:
    """What LIBRARY/database.json says ({"url", "library"}), or None when the folder has none."""
    path = folder / BINDING
    if not os.path.isfile(path):  # a FIFO would block the read
        if os.path.lexists(path):
            raise LibraryError(f"{path}: is not a file, yet has the name of the file that names the library's database")
        return None  # none, or a folder that cannot be looked into: opening it says why
    try:
        found = json.loads(path.read_text())
        if not (isinstance(found, dict) and isinstance(found.get("url"), str) and found.get("library")):
            raise ValueError("no url and library")
        return found
    except OSError as e:
        raise LibraryError(f"{path}: unreadable ({e.strerror}); it names the library's database") from None
    except ValueError as e:
        raise LibraryError(f"{path}: unreadable ({e}); it names the library's database") from None


def bind(folder: Path, url: URL, library: str) -> None:
    """Writes LIBRARY/database.json (atomically: a reader never sees half of it)."""
    path = folder / BINDING
    part = path.with_name(f".{BINDING}.{os.getpid()}")
    part.write_text(json.dumps({"url": remembered(url), "library": library}, indent=2) + "\n")
    os.replace(part, path)


def open_engine(url: URL) -> Engine:
    """An engine on the library's database, whose errors are footage's: one line naming the URL, no password."""
    args = {"application_name": f"footage pid {os.getpid()}"}
    if "connect_timeout" not in url.query:
        args["connect_timeout"] = CONNECT_TIMEOUT_S
    # pre-ping: a pooled connection the server dropped (a restart, an idle timeout) is replaced, not an error
    engine = create_engine(url, connect_args=args, pool_pre_ping=True)
    name = shown(url)
    import psycopg  # after create_engine, which needs it too: its error says the driver is missing

    @event.listens_for(engine, "handle_error")
    def _translate(context):
        if getattr(context, "is_pre_ping", False):  # SQLAlchemy reconnects
            return
        error = context.original_exception
        state = getattr(error, "sqlstate", None) or ""
        if state == "53100":
            raise DiskFull(f"{name}: the database's disk is full; what was indexed before is kept") from None
        if state == "25006":
            raise LibraryReadOnly(f"{name}: the database is read-only ({first_line(error)})") from None
        if state == "42501":
            raise LibraryError(f"{name}: not allowed ({first_line(error)})") from None
        if (
            context.is_disconnect
            or state.startswith("08")
            or (isinstance(error, psycopg.OperationalError) and not state)
        ):
            raise LibraryError(f"{name}: cannot reach the library's database ({first_line(error)})") from None

    return engine


def kind(engine: Engine) -> str:
    """What the database holds: "footage" (a library), "empty" (none of footage's tables) or "foreign" (a
    table of footage's name that is not footage's: never to be written)."""
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        if "meta" in tables:
            try:
                if conn.execute(text("SELECT 1 FROM meta WHERE key = 'schema_version'")).first():
                    return "footage"
            except DBAPIError:  # another program's meta table, without key or value
                return "foreign"
    return "foreign" if tables & TABLES else "empty"


def library_id(engine: Engine, write: bool) -> str | None:
    """The library's id, made the first time a writer asks: what a folder's database.json is checked against."""
    with engine.begin() as conn:
        found = conn.execute(text("SELECT value FROM meta WHERE key = 'library'")).scalar()
        if found is None and write:
            conn.execute(pg_insert(Meta).values(key="library", value=uuid.uuid4().hex).on_conflict_do_nothing())
            found = conn.execute(text("SELECT value FROM meta WHERE key = 'library'")).scalar()
    return found
