"""The results store ``OUT/results.sqlite``: one row per finished run, written by one process."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from ..errors import FlexPoisonError
from .run import Outcome
from .spec import SCHEMA_VERSION, canonical

STORE_NAME = "results.sqlite"
LOCK_NAME = ".flexpoison-sweep.lock"


class StoreError(FlexPoisonError, RuntimeError):
    """The results store cannot be used (missing, locked by another sweep, foreign)."""


# ---------------------------------------------------------------------- the store


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id       TEXT PRIMARY KEY,
    status       TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    settings     TEXT NOT NULL,
    result       TEXT,
    error        TEXT,
    traceback    TEXT,
    wall_seconds REAL NOT NULL,
    versions     TEXT NOT NULL,
    worker       TEXT,
    attempts     INTEGER NOT NULL DEFAULT 1,
    finished_at  TEXT NOT NULL
);
"""


class ResultsStore:
    """``OUT/results.sqlite``: one row per finished run, written by one process.

    Each :meth:`record` is its own transaction (WAL journal, ``synchronous=FULL``), so
    a crash or SIGKILL loses at most the runs still in flight, never a written one.
    """

    def __init__(self, path: str | os.PathLike, *, create: bool = True):
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise StoreError(
                f"{self.path.parent}: no results store ({STORE_NAME}); run "
                "'flexpoison sweep FILE --out DIR' first"
            )
        self.conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            if create:
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.execute("PRAGMA synchronous=FULL")
                with self._transaction():
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            self.conn.execute(statement)
                    self.conn.execute(
                        "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                        (str(SCHEMA_VERSION),),
                    )
            version = self.conn.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'"
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise StoreError(f"{self.path}: not a flexpoison results store ({exc})") from None
        if version is None or version[0] != str(SCHEMA_VERSION):
            self.conn.close()
            raise StoreError(
                f"{self.path}: results store of schema version "
                f"{version and version[0]}, this flexpoison writes "
                f"{SCHEMA_VERSION}"
            )

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def statuses(self) -> dict[str, str]:
        """run_id → 'done' / 'failed' for every run in the store."""
        return dict(self.conn.execute("SELECT run_id, status FROM runs"))

    def record(self, outcome: Outcome) -> None:
        """Write one finished run atomically; a 'done' row is never replaced."""
        now = _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds")
        with self._transaction():
            self.conn.execute(
                "INSERT INTO runs (run_id, status, settings, result, error, traceback, "
                "wall_seconds, versions, worker, attempts, finished_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?) "
                "ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, "
                "settings = excluded.settings, result = excluded.result, "
                "error = excluded.error, traceback = excluded.traceback, "
                "wall_seconds = excluded.wall_seconds, versions = excluded.versions, "
                "worker = excluded.worker, attempts = runs.attempts + 1, "
                "finished_at = excluded.finished_at WHERE runs.status != 'done'",
                (
                    outcome.run_id,
                    outcome.status,
                    canonical(dict(outcome.settings)),
                    outcome.result,
                    outcome.error,
                    outcome.traceback,
                    float(outcome.wall_seconds),
                    canonical(dict(outcome.versions)),
                    outcome.worker,
                    now,
                ),
            )

    def rows(self, status: str | None = None) -> list[dict]:
        """Every row (settings, result and versions decoded), in rowid order."""
        query = (
            "SELECT rowid, run_id, status, settings, result, error, traceback, "
            "wall_seconds, versions, worker, attempts, finished_at FROM runs"
        )
        args: tuple = ()
        if status is not None:
            query += " WHERE status = ?"
            args = (status,)
        out = []
        for row in self.conn.execute(query + " ORDER BY rowid", args):
            keys = (
                "rowid",
                "run_id",
                "status",
                "settings",
                "result",
                "error",
                "traceback",
                "wall_seconds",
                "versions",
                "worker",
                "attempts",
                "finished_at",
            )
            item = dict(zip(keys, row))
            for key in ("settings", "result", "versions"):
                item[key] = None if item[key] is None else json.loads(item[key])
            out.append(item)
        return out


@contextlib.contextmanager
def exclusive(out_dir: Path) -> Iterator[None]:
    """Hold OUT/.flexpoison-sweep.lock: one sweep writes into a store at a time.

    An OS lock (flock), released by the kernel however the process ends (SIGKILL too).
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    handle = open(out_dir / LOCK_NAME, "a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            raise StoreError(
                f"{out_dir}: another flexpoison sweep is writing into this "
                f"store{f' (pid {holder})' if holder else ''}; wait for it "
                "or use another --out"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()


def read_store(out_dir: str | os.PathLike, status: str | None = None) -> list[dict]:
    """The rows of ``OUT/results.sqlite`` (read only; see :meth:`ResultsStore.rows`)."""
    with ResultsStore(Path(out_dir) / STORE_NAME, create=False) as store:
        return store.rows(status)


__all__ = ["STORE_NAME", "LOCK_NAME", "StoreError", "ResultsStore", "exclusive", "read_store"]
