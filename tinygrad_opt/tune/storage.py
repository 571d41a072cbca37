"""Where a study lives: SQLite (default), PostgreSQL/MySQL, or an append-only journal file.

Every worker, on this machine or another, opens the same storage from the same URL and
joins the same study; the storage is the only thing they share.

    (none)                  sqlite:///OUT/study.db, nothing to start
    sqlite:///PATH          workers on one machine (WAL mode: not for network file systems)
    postgresql://USER@HOST:PORT/DB   any number of machines (psycopg2 needed)
    journal:PATH            Optuna's JournalStorage on a file: one line per change, locked
                            appends; fine on a local disk or NFS, no database server

Heartbeats: a worker that is killed cannot mark its trial finished. RDB storages record a
heartbeat per running trial (Optuna's heartbeat_interval / grace_period); the journal
has no heartbeat table, so workers write the time into a trial system attribute instead
(see heartbeat.py). Either way a trial whose heartbeat is older than the grace period is
failed by the next worker that looks, and the study goes on.
"""
from __future__ import annotations

import os
import sqlite3
import time
import warnings
from pathlib import Path
from typing import Any

STORAGE_FORMS = "sqlite:///PATH, postgresql://USER[:PASSWORD]@HOST[:PORT]/DB, mysql://..., journal:PATH"
DEFAULT_DB_NAME = "study.db"


def default_storage_url(out_dir: str | os.PathLike) -> str:
    """The local SQLite file used when --storage is not given."""
    return f"sqlite:///{Path(out_dir).resolve() / DEFAULT_DB_NAME}"


def is_journal(url: str) -> bool:
    return url.startswith("journal:")


def _journal_path(url: str) -> Path:
    path = url[len("journal:"):]
    if path.startswith("//"):  # journal:///abs/path and journal://rel both read as a path
        path = path[2:]
    if not path:
        raise ValueError(f"storage {url!r}: give a file after 'journal:', e.g. journal:runs/study.log")
    return Path(path)


def _sqlite_tuning(engine: Any) -> None:
    """WAL journal (readers never wait for the writer) and no fsync per commit (synchronous=NORMAL).

    A study writes a few dozen small commits per trial; with an fsync each, a busy disk
    makes that the slowest part of a short trial. Both settings are for local disks.
    """
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, connection_record):  # noqa: ARG001
        cursor = dbapi_connection.cursor()
        try:
            set_wal_journal(cursor)
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    engine.dispose()  # connections opened while Optuna set up its tables predate the hook


WAL_SECONDS = 60.0  # how long a connection keeps asking for the WAL journal while other processes hold the file


def set_wal_journal(cursor: Any, seconds: float = WAL_SECONDS) -> None:
    """PRAGMA journal_mode=WAL on an SQLite cursor, asked again while the database is locked.

    Switching the journal needs the file to itself, and SQLite may answer "database is locked" at once rather
    than wait out the connection's busy timeout (where waiting could deadlock two connections): two processes
    opening a new study file at the same moment, under load, saw that. Once one of them has switched, the
    mode is the file's and the others' pragma only reads it."""
    deadline = time.monotonic() + seconds
    pause = 0.01
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(2 * pause, 0.5)


def sqlite_path(storage: Any) -> Path | None:
    """The database file of an SQLite RDBStorage, else None."""
    from optuna.storages import RDBStorage

    if not isinstance(storage, RDBStorage) or storage.engine.dialect.name != "sqlite":
        return None
    database = storage.engine.url.database
    return Path(database) if database and database != ":memory:" else None


def open_storage(url: str, heartbeat_interval: float = 10.0, grace_period: float | None = None) -> Any:
    """An Optuna storage for `url` (see the module docstring for the forms).

    heartbeat_interval: seconds between heartbeats of a running trial (RDB storages record
    them in Optuna's heartbeat table; journal workers write them as trial attributes).
    grace_period: how long a heartbeat may be missing before the trial counts as dead
    (default: 3 intervals + 5 s, so a worker busy in a long step is not failed by mistake).
    """
    import optuna

    grace = grace_period if grace_period is not None else default_grace(heartbeat_interval)
    given = url  # as the user wrote it, for messages
    if is_journal(url):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        path = _journal_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    scheme = url.split(":", 1)[0].split("+", 1)[0] if ":" in url else ""
    if scheme not in ("sqlite", "postgresql", "postgres", "mysql"):
        raise ValueError(f"storage {url!r}: unsupported form; use one of {STORAGE_FORMS}")
    if scheme == "postgres":  # SQLAlchemy only knows the long name
        url = "postgresql" + url[len("postgres"):]
    if url.startswith("postgresql://"):
        url = "postgresql+" + _postgres_driver() + url[len("postgresql"):]
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if scheme == "sqlite":
        db_path = url.split(":///", 1)[-1]
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs = {"connect_args": {"timeout": 120}}  # wait for the write lock rather than fail
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            storage = _rdb_storage(url, engine_kwargs, heartbeat_interval, grace)
        except ImportError as err:
            raise RuntimeError(
                f"storage {url!r} needs a database driver that is not installed ({err}); "
                f"for PostgreSQL: pip install psycopg2-binary"
            ) from err
        except Exception as err:  # SQLAlchemy's OperationalError and kin: the server is down, refuses or is unknown
            reason = " ".join(str(getattr(err, "orig", None) or err).split())[:300]
            raise RuntimeError(f"storage {describe(given)}: cannot open the database ({reason}); check that the "
                               "server runs and the URL, user and password are right") from None
    if scheme == "sqlite":
        _sqlite_tuning(storage.engine)
    return storage


SCHEMA_RACE_TRIES = 5  # opens of a database whose schema another process is creating at the same moment


def _rdb_storage(url: str, engine_kwargs: dict, heartbeat_interval: float, grace: float) -> Any:
    """optuna's RDBStorage for `url`. Two processes that open a new database at once (a tune command and its
    workers, or a watcher) both create Optuna's tables; the slower one then fails on a table the other made
    first or on the schema version row it wrote. Opened again, it finds the schema made, so those cases are
    retried a few times."""
    import optuna

    for attempt in range(SCHEMA_RACE_TRIES):
        try:
            return optuna.storages.RDBStorage(
                url, engine_kwargs=engine_kwargs, heartbeat_interval=max(1, int(round(heartbeat_interval))),
                grace_period=max(1, int(round(grace))),
            )
        except Exception as err:  # noqa: BLE001 - only the schema race is retried; the rest goes to the caller
            if attempt == SCHEMA_RACE_TRIES - 1 or not _schema_race(err):
                raise
            time.sleep(0.1 * (attempt + 1))


def _schema_race(err: BaseException) -> bool:
    """Whether `err` is the loss of the race to create the new schema: a table or index that the other process
    created first ("table studies already exists" in SQLite, 'relation "studies" already exists' in
    PostgreSQL), or the version row it wrote (alembic_version)."""
    text = str(getattr(err, "orig", None) or err)
    if "alembic_version" in text and ("UNIQUE" in text or "unique" in text or "Duplicate" in text):
        return True
    return "already exists" in text and any(kind in text.lower() for kind in ("table", "index", "relation"))


def _postgres_driver() -> str:
    """psycopg2 (the dev extra's) when installed, else psycopg 3: SQLAlchemy 2.1 assumes psycopg 3 for a bare URL."""
    import importlib.util

    for module, driver in (("psycopg2", "psycopg2"), ("psycopg", "psycopg")):
        if importlib.util.find_spec(module) is not None:
            return driver
    raise RuntimeError("a postgresql:// storage needs a PostgreSQL driver: pip install psycopg2-binary")


def default_grace(heartbeat_interval: float) -> float:
    return 3 * heartbeat_interval + 5


def describe(url: str) -> str:
    """The URL with any password hidden, for progress lines and reports."""
    if "://" in url and "@" in url.split("://", 1)[1]:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        if ":" in creds:
            creds = creds.split(":", 1)[0] + ":***"
        return f"{scheme}://{creds}@{host}"
    return url
