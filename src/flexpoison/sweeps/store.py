"""The results store ``OUT/results.sqlite``: one row per finished run, written by one process."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from ..errors import FlexPoisonError
from ..experiments.outcomes import MEASURED, UNMEASURED
from ..experiments.record import LEGACY, upgrade
from .run import Outcome
from .spec import SCHEMA_VERSION, canonical

STORE_NAME = "results.sqlite"
LOCK_NAME = ".flexpoison-sweep.lock"


class StoreError(FlexPoisonError, RuntimeError):
    """The results store cannot be used (missing, locked by another sweep, foreign,
    damaged)."""


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
    Opening it runs SQLite's ``PRAGMA quick_check`` (about half a second for a store of
    :data:`~flexpoison.sweeps.spec.MAX_RUNS` runs), and any SQLite error while it is
    read or written becomes one :class:`StoreError` naming the file and what to do.

    With ``create`` (the default), a missing store is created whole: built under a
    temporary name beside it, tables and schema version committed, then moved into
    place in one step (:func:`_create`), so another process never sees a store half
    made. Writers hold :func:`exclusive` while they create and write. Without
    ``create``, a missing store is refused and none is created.
    """

    def __init__(self, path: str | os.PathLike, *, create: bool = True):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_file():
            raise StoreError(
                f"{self.path}: not a results store (a directory or a device, not a SQLite "
                "file); move it aside"
            )
        if not create and not self.path.is_file():
            raise StoreError(
                f"{self.path.parent}: no results store ({STORE_NAME}); run "
                "'flexpoison sweep FILE --out DIR' first"
            )
        try:
            if create and not self.path.exists():
                _create(self.path)
            # mode=rw: open the store, never create an empty file in its place
            uri = f"{self.path.absolute().as_uri()}?mode=rw"
            self.conn = sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None)
        except sqlite3.DatabaseError as exc:
            raise _unusable(self.path, exc) from None
        try:
            with self._guard():
                self._open(create)
        except BaseException:
            self.conn.close()
            raise

    def _open(self, create: bool) -> None:
        """Check the file (quick_check), create the tables if asked, check the schema."""
        problem = self.conn.execute("PRAGMA quick_check(1)").fetchone()[0]
        if problem != "ok":
            raise damaged(self.path, problem)
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
        if version is None or version[0] != str(SCHEMA_VERSION):
            raise StoreError(
                f"{self.path}: results store of schema version "
                f"{version and version[0]}, this flexpoison writes "
                f"{SCHEMA_VERSION}; write this sweep to a new folder (--out)"
            )

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """SQLite's errors on this store (damage, a foreign file, a full disk, …) become
        one :class:`StoreError` naming the file and what to do."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise _unusable(self.path, exc) from None

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
        with self._guard():
            return dict(self.conn.execute("SELECT run_id, status FROM runs"))

    def summaries(self) -> Iterator[Summary]:
        """Every row as a :class:`Summary`, streamed: only the columns it holds are read,
        and of a done run's JSON result only :data:`SUMMARY_NUMBERS` and its sanitizers'
        rows, extracted by SQLite (the results are never decoded here, nor all held at
        once; the sanitizers' rows only when one of them was not measured)."""
        _ensure_json_extract(self.conn)
        fields = ", ".join(_extract(key) for key in (*SUMMARY_NUMBERS, "sanitizers", "warnings"))
        query = f"SELECT run_id, status, error, attempts, wall_seconds, {fields} FROM runs"
        with self._guard():
            for run_id, status, error, attempts, seconds, *values in self.conn.execute(query):
                *values, sanitizers, warned = values
                numbers = tuple(values) if status == "done" else None
                if numbers is not None and not all(_is_number(v) for v in numbers):
                    raise damaged(self.path, f"run {run_id} is done but lacks its numbers")
                unmeasured = _unmeasured(self.path, run_id, sanitizers)
                warnings = _warnings(self.path, run_id, warned)
                yield Summary(
                    run_id, status, error, attempts, seconds, numbers, unmeasured, warnings
                )

    def record(self, outcome: Outcome) -> None:
        """Write one finished run atomically; a 'done' row is never replaced."""
        now = _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds")
        with self._guard(), self._transaction():
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
        """Every row (settings, result and versions decoded), in rowid order; a result
        in the record's current spellings, whichever version wrote it
        (:func:`flexpoison.experiments.record.upgrade`)."""
        query = f"SELECT rowid, {', '.join(_COLUMNS[1:])} FROM runs"
        args: tuple = ()
        if status is not None:
            query += " WHERE status = ?"
            args = (status,)
        with self._guard():
            return [
                self._decoded(row) for row in self.conn.execute(query + " ORDER BY rowid", args)
            ]

    def _decoded(self, row: tuple) -> dict:
        """One row as a dict, its JSON columns decoded (undecodable JSON is damage)."""
        item = dict(zip(_COLUMNS, row))
        for key in ("settings", "result", "versions"):
            if item[key] is not None:
                try:
                    item[key] = json.loads(item[key])
                except ValueError:
                    raise damaged(
                        self.path, f"the {key} of run {item['run_id']} is not valid JSON"
                    ) from None
        if isinstance(item["result"], dict):
            item["result"] = upgrade(item["result"], "sweep")
        return item


_COLUMNS = (
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

#: The numbers of a done run's result that :meth:`ResultsStore.summaries` reads.
SUMMARY_NUMBERS = ("effect_clean", "effect_final", "test_metric_clean", "test_metric_poisoned")


def _extract(key: str) -> str:
    """SQL for ``key`` of a run's JSON result, under its current spelling or, in a
    result written before the record (:mod:`flexpoison.experiments.record`), its
    version-1 one."""
    spellings = [key] + [old for old, new in LEGACY["sweep"].items() if new == key]
    found = [f"json_extract(result, '$.{name}')" for name in spellings]
    return found[0] if len(found) == 1 else f"COALESCE({', '.join(found)})"


class Summary(NamedTuple):
    """What ``--status`` needs of one row (:meth:`ResultsStore.summaries`)."""

    run_id: str
    status: str
    error: str | None
    attempts: int
    wall_seconds: float
    numbers: tuple[float, ...] | None  # SUMMARY_NUMBERS of a done run, else None
    #: (sanitizer, outcome) of each sanitizer the run could not measure (UNMEASURED)
    unmeasured: tuple[tuple[str, str], ...] = ()
    #: the warnings of a done run's result (what the attack says not to trust)
    warnings: tuple[str, ...] = ()


def _warnings(path: Path, run_id: str, text: str | None) -> tuple[str, ...]:
    """The warnings of one result (``json_extract(result, '$.warnings')``: JSON text of
    a list, or NULL for a result without them); decoded only when not empty."""
    if text is None or text == "[]":
        return ()
    try:
        warnings = json.loads(text)
    except ValueError:
        raise damaged(path, f"the warnings of run {run_id} are not valid JSON") from None
    if not (isinstance(warnings, list) and all(isinstance(w, str) for w in warnings)):
        raise damaged(path, f"the warnings of run {run_id} are not a list of texts")
    return tuple(warnings)


def _unmeasured(path: Path, run_id: str, sanitizers: str | None) -> tuple[tuple[str, str], ...]:
    """(sanitizer, outcome) of the sanitizers of one result's rows (JSON text) that left
    nothing to refit the victim on; the text is decoded only when it names one."""
    if sanitizers is None or not any(f'"{o}"' in sanitizers for o in UNMEASURED):
        return ()
    try:
        rows = json.loads(sanitizers)
        return tuple(
            (name, row["outcome"])
            for name, row in rows.items()
            if row.get("outcome", MEASURED) != MEASURED
        )
    except (ValueError, TypeError, AttributeError, KeyError):
        raise damaged(path, f"the sanitizers of run {run_id} are not readable") from None


#: The start of the name under which a new store is built (:func:`_create`).
PARTIAL_PREFIX = f".{STORE_NAME}.new-"


def _create(path: Path) -> None:
    """Create an empty store at ``path`` in one step: build it beside ``path`` under a
    temporary name (tables, schema version, WAL journal mode, all committed and
    synced), then hard-link it into place, which fails if ``path`` appeared meanwhile
    (that store is then kept), or, on a file system without hard links, rename it.
    A build left by a killed process is removed by :func:`remove_partial`."""
    partial = path.with_name(f"{PARTIAL_PREFIX}{os.getpid()}-{os.urandom(4).hex()}")
    try:
        conn = sqlite3.connect(partial, isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            conn.execute("COMMIT")
            conn.execute("PRAGMA journal_mode=WAL")  # recorded in the file's header
        finally:
            conn.close()  # the last connection: SQLite removes the -wal and -shm files
        try:
            os.link(partial, path)
        except FileExistsError:
            pass  # another process created it first: its store stands
        except OSError:  # no hard links here
            os.replace(partial, path)
        _sync_directory(path.parent)
    finally:
        for leftover in _partial_files(path.parent, partial.name):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def _partial_files(folder: Path, prefix: str) -> list[Path]:
    """The files of a store built under a name starting with ``prefix`` (the database,
    its -wal, -shm and -journal files)."""
    return [p for p in folder.iterdir() if p.name.startswith(prefix)]


def _sync_directory(folder: Path) -> None:
    """Make a rename or link in ``folder`` durable (where the system allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_partial(out_dir: Path) -> None:
    """Remove the stores a killed sweep left half-built in ``out_dir`` (call it under
    :func:`exclusive`: no other sweep is building one then)."""
    for leftover in _partial_files(out_dir, PARTIAL_PREFIX):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


def damaged(path: str | os.PathLike, detail: str) -> StoreError:
    """The store at ``path`` cannot be trusted (``detail``: why): one line that says so
    and what to do."""
    detail = " ".join(str(detail).split())[:300]
    return StoreError(
        f"{path}: the results store is damaged or not a flexpoison store ({detail}); move "
        "it aside (e.g. rename it) and run the sweep again: the runs it held are then "
        "computed again"
    )


# SQLite's errors that are not about the file's contents (its primary result codes)
_NOT_DAMAGE = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_IOERR",
    "SQLITE_FULL",
    "SQLITE_READONLY",
    "SQLITE_CANTOPEN",
    "SQLITE_PERM",
    "SQLITE_NOMEM",
    "SQLITE_INTERRUPT",
)


def _unusable(path: Path, exc: sqlite3.DatabaseError) -> StoreError:
    """The :class:`StoreError` for SQLite's error ``exc`` on the store at ``path``:
    damage (or a foreign file), or a problem of the file system or of access."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith(_NOT_DAMAGE):
        detail = " ".join(str(exc).split())
        return StoreError(
            f"{path}: cannot use the results store ({detail}); check the file, its "
            "permissions and its disk, and that no other program holds it, then run again"
        )
    return damaged(path, str(exc))


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _ensure_json_extract(conn: sqlite3.Connection) -> None:
    """SQLite's ``json_extract`` is built in since 3.38 (and in most older builds); give
    a connection without it Python's equivalent for a top-level key."""
    try:
        conn.execute("SELECT json_extract('{}', '$.a')")
    except sqlite3.OperationalError:
        conn.create_function("json_extract", 2, _json_extract, deterministic=True)


def _json_extract(text: str | None, path: str):
    """``json_extract(text, '$.key')`` for a number, an object or a list (as JSON text,
    as SQLite returns them); other values: NULL."""
    value = None if text is None else json.loads(text).get(path.removeprefix("$."))
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return value if _is_number(value) else None


@contextlib.contextmanager
def exclusive(out_dir: Path) -> Iterator[None]:
    """Hold OUT/.flexpoison-sweep.lock: one sweep creates and writes a store at a time.

    An OS lock (flock), released by the kernel however the process ends (SIGKILL too).
    A second sweep on the same ``out_dir`` does not wait: it is refused at once with a
    :class:`StoreError` saying the store is in use, by which process, and what to do.
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
                f"{out_dir / STORE_NAME}: in use by another flexpoison sweep"
                f"{f' (pid {holder})' if holder else ''}, which is writing into it; wait "
                "for it to end and run this command again (runs already in the store are "
                "not run again), or give another --out"
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


__all__ = [
    "STORE_NAME",
    "LOCK_NAME",
    "SUMMARY_NUMBERS",
    "StoreError",
    "ResultsStore",
    "Summary",
    "damaged",
    "exclusive",
    "remove_partial",
    "read_store",
]
