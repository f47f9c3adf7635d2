"""Where runs execute (this process, local processes, a Dask cluster), and a whole sweep."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from .._progress import progress_bar
from .run import Outcome, execute_run, failed_outcome, one_line, versions
from .spec import Run, Sweep
from .store import STORE_NAME, ResultsStore, StoreError, exclusive, remove_partial

# --------------------------------------------------------------------- executors


def _available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


_stopping = False  # in a pool worker: the sweep is stopping (SIGTERM received)


def _worker_init(parent: int) -> None:
    """In a pool worker: leave Ctrl-C to the parent, turn SIGTERM into a clean exit
    (:func:`_stop_worker`), and exit when the sweep process is gone (e.g. SIGKILLed)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop_worker)
    if hasattr(signal, "pthread_sigmask"):  # blocked while it started (_sigint_blocked)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

    def watch():
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.25)

    threading.Thread(target=watch, name="flexpoison-parent-watch", daemon=True).start()


def _stop_worker(signum: int, frame) -> None:
    """SIGTERM in a pool worker (the sweep was interrupted): leave the run in progress
    (or the wait for one) by SystemExit, once. The worker then ends through
    multiprocessing's normal exit, whose finalizers release the named semaphores it
    created (tqdm's lock, …); a worker killed outright leaks them, and the resource
    tracker warns about "leaked semaphore objects" when the sweep ends."""
    global _stopping
    if not _stopping:
        _stopping = True
        # The pool's worker loop catches what a run raises, SystemExit included, and
        # goes back to its task queue, which the stopping sweep closes: the EOFError it
        # then meets would print a traceback under the user's "interrupted" line. What
        # a stopping worker has to say is of no use to the user: silence it.
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - open until the process ends
        raise SystemExit(128 + signum)


def _in_worker(function: Callable[[Mapping], Outcome], payload: Mapping) -> Outcome:
    """``function(payload)`` in a pool worker; nothing once the sweep is stopping."""
    if _stopping:
        raise SystemExit(1)
    return function(payload)


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Block SIGINT in this thread while it starts pool workers: a process inherits the
    signal mask, so a Ctrl-C cannot break a worker's start-up (with a traceback) before
    it ignores SIGINT, while this process still receives it. CPython starts
    multiprocessing's resource tracker the same way."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Stop the pool now (Ctrl-C): each worker gets SIGTERM and leaves its run with a
    clean exit (:func:`_stop_worker`); the runs not started are cancelled, and this
    returns once every worker is gone."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(Exception):
            process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def _in_process(payloads: Sequence[Mapping], function, on_outcome) -> None:
    for payload in payloads:
        on_outcome(function(payload))


def _processes(payloads: Sequence[Mapping], workers: int, function, on_outcome) -> None:
    """A spawn-context process pool; at most ``workers`` runs in flight, so when a
    worker dies (out of memory, killed) the runs it may have held are known: they are
    recorded as failed and the sweep goes on with a fresh pool."""
    context = multiprocessing.get_context("spawn")
    queue = deque(payloads)
    while queue:
        with ProcessPoolExecutor(
            max_workers=min(workers, len(queue)),
            mp_context=context,
            initializer=_worker_init,
            initargs=(os.getpid(),),
        ) as pool:
            in_flight: dict = {}
            try:
                while queue or in_flight:
                    while queue and len(in_flight) < workers:
                        payload = queue.popleft()
                        with _sigint_blocked():  # submit may start a worker
                            future = pool.submit(_in_worker, function, payload)
                        in_flight[future] = payload
                    finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    broken = False
                    for future in finished:
                        payload = in_flight.pop(future)
                        try:
                            outcome = future.result()
                        except BrokenProcessPool:
                            broken = True
                            outcome = failed_outcome(payload, _WORKER_DIED)
                        except Exception as exc:  # noqa: BLE001 - e.g. not picklable
                            outcome = failed_outcome(payload, one_line(exc))
                        on_outcome(outcome)
                    if broken:
                        for payload in in_flight.values():
                            on_outcome(failed_outcome(payload, _WORKER_DIED))
                        in_flight.clear()
                        break
            except BaseException:  # Ctrl-C: stop the runs in flight now
                _stop(pool)
                raise


_WORKER_DIED = (
    "WorkerDied: the worker process running this run (or one running "
    "beside it) ended abruptly (killed, out of memory, or a crash in native "
    "code); --retry-failed runs it again"
)


def _dask(client, payloads: Sequence[Mapping], function, on_outcome) -> None:
    from distributed import as_completed

    token = os.urandom(4).hex()
    futures = {
        client.submit(function, p, key=f"flexpoison-run-{p['run_id']}-{token}", pure=False): p
        for p in payloads
    }
    try:
        for future in as_completed(list(futures)):
            payload = futures.pop(future)
            try:
                outcome = future.result()
            except Exception as exc:  # noqa: BLE001 - KilledWorker, cancellation, …
                outcome = failed_outcome(payload, one_line(exc))
            future.release()
            on_outcome(outcome)
    except BaseException:
        client.cancel(list(futures))
        raise


# ------------------------------------------------------------------------- a sweep


@dataclass(frozen=True)
class SweepReport:
    """What :func:`run_sweep` did."""

    total: int  # runs in the grid
    skipped: int  # already done (or failed, without retry) before
    done: int  # done now
    failed: int  # failed now
    pending: int  # still without a row (interrupted)
    failed_total: int  # failed rows of the grid after the sweep
    executor: str
    seconds: float
    failures: tuple[tuple[str, str, str], ...] = ()  # (run_id, label, error) now


def _payloads(runs: Iterable[Run], sweep: Sweep) -> list[dict]:
    """What a worker needs for each run: its settings, where the data are (a CSV file's
    path travels beside the settings, not in them: it is no part of the run's id)."""
    return [
        {
            "run_id": r.run_id,
            "settings": dict(r.settings),
            "data_dir": sweep.data_dir,
            "data_file": sweep.files.get(r.settings["dataset"]),
        }
        for r in runs
    ]


@contextlib.contextmanager
def _executor(
    workers: int | None, scheduler: str | None, dask_local: bool
) -> Iterator[tuple[str, Callable]]:
    """(description, runner(payloads, function, on_outcome)) for the chosen executor."""
    if scheduler is not None or dask_local:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise StoreError("Dask is not installed: pip install 'flexpoison[dask]'") from None
        cluster = None
        try:
            if scheduler is not None:
                try:
                    client = Client(scheduler, timeout="20s")
                except (OSError, TimeoutError) as exc:
                    raise StoreError(
                        f"--scheduler {scheduler}: cannot connect ({one_line(exc)})"
                    ) from None
                where = f"Dask scheduler {scheduler}"
            else:
                n = workers or _available_cpus()
                cluster = LocalCluster(
                    n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
                )
                client = Client(cluster)
                where = f"Dask LocalCluster ({n} worker processes)"
            try:
                try:
                    client.run(versions)
                except Exception as exc:  # noqa: BLE001
                    raise StoreError(
                        f"the Dask workers cannot run flexpoison "
                        f"({one_line(exc)}); install it on every worker"
                    ) from None
                yield where, lambda p, f, o: _dask(client, p, f, o)
            finally:
                client.close()
        finally:
            if cluster is not None:
                cluster.close()
        return
    n = workers or _available_cpus()
    if n == 1:
        yield "this process", lambda p, f, o: _in_process(p, f, o)
    else:
        yield f"{n} local processes", lambda p, f, o: _processes(p, n, f, o)


def run_sweep(
    sweep: Sweep,
    out_dir: str | os.PathLike,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    dask_local: bool = False,
    retry_failed: bool = False,
    progress: bool | None = None,
    function: Callable[[Mapping], Outcome] = execute_run,
) -> SweepReport:
    """Run every run of ``sweep`` that the store in ``out_dir`` does not hold yet.

    Parameters
    ----------
    sweep : Sweep
        From :func:`load_sweep`.
    out_dir : path
        Created if missing; the store is ``out_dir/results.sqlite``.
    workers : int, optional
        Local processes (default: the CPUs available; 1 = run in this process), or the
        LocalCluster's workers with ``dask_local``.
    scheduler : str, optional
        Address of a Dask scheduler (``tcp://HOST:PORT``): run there instead.
    dask_local : bool
        Start a Dask LocalCluster (``workers`` processes, one thread each).
    retry_failed : bool
        Run again the runs recorded as failed (otherwise they are skipped).
    progress : bool or None
        Progress on stderr (True: a bar on a terminal, plain lines otherwise; None: a
        bar on a terminal only; :mod:`flexpoison._progress`).
    function : callable
        The run function (default :func:`execute_run`); must be importable by name
        in the workers.
    """
    _check_executor(workers, scheduler, dask_local)
    out_dir = Path(out_dir)
    start = time.perf_counter()
    store_path = out_dir / STORE_NAME
    known: dict[str, str] = {}
    if store_path.exists():
        with ResultsStore(store_path, create=False) as store:
            known = store.statuses()
    executor, runner = "nothing to run", None
    with contextlib.ExitStack() as stack:
        if _to_run(sweep, known, retry_failed):  # connect (or start a cluster) first
            executor, runner = stack.enter_context(_executor(workers, scheduler, dask_local))
        out_dir.mkdir(parents=True, exist_ok=True)
        stack.enter_context(exclusive(out_dir))
        remove_partial(out_dir)  # a store a killed sweep was building
        store = stack.enter_context(ResultsStore(store_path))
        # under the lock: a subset of the runs above
        todo = _to_run(sweep, store.statuses(), retry_failed)
        skipped = len(sweep.runs) - len(todo)
        tally = _Tally(store, todo, sweep, skipped, progress)
        try:
            if todo:
                assert runner is not None  # connected above: there were runs to run
                tally.bar.set_postfix(done=0, failed=0, left=len(todo))
                runner(_payloads(todo, sweep), function, tally)
        finally:
            tally.bar.close()
        after = store.statuses()
    return SweepReport(
        len(sweep.runs),
        skipped,
        tally.counts["done"],
        tally.counts["failed"],
        sum(1 for r in sweep.runs if r.run_id not in after),
        sum(1 for r in sweep.runs if after.get(r.run_id) == "failed"),
        executor,
        time.perf_counter() - start,
        tuple(tally.failures),
    )


def _check_executor(workers: int | None, scheduler: str | None, dask_local: bool) -> None:
    """One way to run: local processes, a LocalCluster, or a scheduler's own workers."""
    if scheduler is not None and dask_local:
        raise StoreError("give either a Dask scheduler or dask_local, not both")
    if scheduler is not None and workers is not None:
        raise StoreError(
            "workers: the cluster behind a Dask scheduler has its own workers; leave --workers out"
        )


def _to_run(sweep: Sweep, statuses: Mapping[str, str], retry_failed: bool) -> list[Run]:
    """The runs the store does not hold (and, with ``retry_failed``, those it holds as
    failed), in the sweep's order."""
    return [
        r
        for r in sweep.runs
        if r.run_id not in statuses or (retry_failed and statuses[r.run_id] == "failed")
    ]


class _Tally:
    """Called with each outcome as it arrives: stores it, counts it, moves the bar."""

    def __init__(
        self,
        store: ResultsStore,
        todo: list[Run],
        sweep: Sweep,
        skipped: int,
        progress: bool | None,
    ) -> None:
        self.store, self.todo = store, todo
        self.counts: Counter = Counter()
        self.failures: list[tuple[str, str, str]] = []
        self.labels = {r.run_id: r.label() for r in todo}
        self.bar = progress_bar(
            total=len(sweep.runs),
            initial=skipped,
            unit="run",
            desc=f"sweep {sweep.name}",
            dynamic_ncols=True,
            smoothing=0.1,
            progress=progress,
        )

    def __call__(self, outcome: Outcome) -> None:
        self.store.record(outcome)
        self.counts[outcome.status] += 1
        if outcome.status == "failed":
            self.failures.append(
                (outcome.run_id, self.labels.get(outcome.run_id, ""), outcome.error or "")
            )
        self.bar.set_postfix(
            done=self.counts["done"],
            failed=self.counts["failed"],
            left=len(self.todo) - sum(self.counts.values()),
            refresh=False,
        )
        self.bar.update(1)


__all__ = ["SweepReport", "run_sweep"]
