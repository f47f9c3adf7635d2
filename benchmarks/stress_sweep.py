"""A sweep interrupted at random moments, then resumed: no run lost, none duplicated.

    python benchmarks/stress_sweep.py [--sigint 10] [--sigkill 10] [--seed 0]
                                      [--workers 2] [--concurrent 20] [--out DIR]

What it does, in a fresh folder (``--out``, default a temporary one):

1. Writes a 400-run sweep file (iris, logistic regression; 2 goals × 5 α × 4 rates ×
   10 seeds; ``max_iter = 10``, one start, the ``sphere`` and ``loss`` sanitizers), so
   that a run takes a fraction of a second and the grid minutes.
2. Calibrates on a scratch store: T, the seconds from the command's start to its first
   finished run, and t, the mean seconds between the next finished runs (on a loaded
   machine both grow, and so do the delays below).
3. Starts ``flexpoison sweep FILE --out DIR --workers N`` again and again, each time
   interrupting it after a random delay (seeded by ``--seed``): ``--sigint`` times with
   SIGINT sent to its process group (what Ctrl-C in a terminal does), ``--sigkill``
   times with SIGKILL (alternately to the sweep process alone, as ``kill -9 PID`` or
   the OOM killer does, and to its whole group), in a shuffled order. A delay is drawn
   uniformly, with even odds, from [0.05 s, T] (Python's start-up, the file being
   read, the store being created or opened, workers starting) or from [T, T + 40t]
   (during runs, while a run is written). An interrupt counts only if the sweep was
   still running when it was sent.
4. After each interrupt: waits for the sweep and its worker processes to end, and
   checks the store: SQLite's ``integrity_check``, only 'done' rows, no row outside the
   grid, and every run seen done before still there with the same row id, time and
   result (a finished run is never lost, replaced or run again).
5. Resumes with the same command until it exits 0, then checks that every run of the
   grid is in the store exactly once, done, and prints the counts.
6. ``--concurrent K``: K times, starts two sweeps of a 4-run grid on a new ``--out``
   at the same moment and counts how each ended: ran, refused as "in use", or
   anything else; a message calling the store "damaged" is a failure.

Exit status 0 when every check holds; 1 otherwise (each failure is printed). It takes
a few minutes (each interrupted sweep pays Python's start-up again).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GRID = """[sweep]
name = "stress"
datasets = ["iris"]
models = ["logistic"]
goals = ["integrity", "availability"]
alphas = [0.0, 0.25, 0.5, 0.75, 1.0]
rates = [0.02, 0.04, 0.06, 0.08]
seeds = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
sanitizers = ["sphere", "loss"]
max_iter = 10
starts = 1
"""
TINY = """[sweep]
name = "tiny"
datasets = ["iris"]
models = ["logistic"]
goals = ["integrity"]
alphas = [0.0, 1.0]
rates = [0.05]
seeds = [0, 1]
max_iter = 2
starts = 1
"""
HANG = 600  # seconds: only a guard against a true hang


def _restore_sigint() -> None:
    """In the child before exec: Ctrl-C's default, even if this script runs as a
    background job (which ignores SIGINT, and its children would too)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(command: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_restore_sigint,
    )


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_group(pgid: int) -> float:
    """Seconds until every process of the group has ended (inf after HANG)."""
    t0 = time.monotonic()
    while group_alive(pgid):
        if time.monotonic() - t0 > HANG:
            return float("inf")
        time.sleep(0.05)
    return time.monotonic() - t0


def store_rows(path: Path) -> list[tuple]:
    """(run_id, status, rowid, finished_at, result) of every row; raises on damage."""
    if not path.exists():
        return []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        check = conn.execute("PRAGMA integrity_check").fetchall()
        if check != [("ok",)]:
            raise RuntimeError(f"integrity_check: {check[:3]}")
        return conn.execute(
            "SELECT run_id, status, rowid, finished_at, result FROM runs"
        ).fetchall()
    finally:
        conn.close()


def calibrate(command: list[str], store: Path) -> tuple[float, float]:
    """(T, t): seconds from the start to the first finished run, and between finished
    runs, of the sweep ``command`` writing into ``store`` (stopped after 11 runs)."""
    proc = start(command)
    t0, seen = time.monotonic(), []
    try:
        while len(seen) < 11:
            if proc.poll() is not None or time.monotonic() - t0 > HANG:
                sys.exit(f"calibration: the sweep ended or hung: {proc.communicate()}")
            try:
                done = len(store_rows(store))
            except sqlite3.Error:
                done = 0
            seen += [time.monotonic() - t0] * (done - len(seen))
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        wait_group(proc.pid)
    return seen[0], (seen[-1] - seen[0]) / (len(seen) - 1)


class Ledger:
    """What the store held at each check: a done run must stay, unchanged."""

    def __init__(self, grid_ids: set[str]):
        self.grid_ids = grid_ids
        self.done: dict[str, tuple] = {}  # run_id → (rowid, finished_at, result)
        self.problems: list[str] = []

    def check(self, path: Path, when: str) -> int:
        try:
            rows = store_rows(path)
        except Exception as exc:  # noqa: BLE001 - any error is a finding
            self.problems.append(f"{when}: the store cannot be read: {exc}")
            return 0
        ids = [r[0] for r in rows]
        for run_id, n in collections.Counter(ids).items():
            if n > 1:
                self.problems.append(f"{when}: run {run_id} has {n} rows")
        for run_id, status, rowid, finished, result in rows:
            if run_id not in self.grid_ids:
                self.problems.append(f"{when}: row {run_id} is not a run of the grid")
            if status != "done":
                self.problems.append(f"{when}: run {run_id} is {status!r}")
                continue
            seen = self.done.setdefault(run_id, (rowid, finished, result))
            if seen != (rowid, finished, result):
                self.problems.append(f"{when}: done run {run_id} was replaced")
        lost = set(self.done) - set(ids)
        for run_id in sorted(lost):
            self.problems.append(f"{when}: done run {run_id} is gone")
        return sum(1 for r in rows if r[1] == "done")


def stress(args, root: Path) -> bool:
    from flexpoison.sweeps import STORE_NAME, load_sweep

    grid_file = root / "stress.toml"
    grid_file.write_text(GRID)
    grid = load_sweep(grid_file)
    out = root / "stress"
    store = out / STORE_NAME
    command = [
        sys.executable,
        "-m",
        "flexpoison",
        "sweep",
        str(grid_file),
        "--out",
        str(out),
        "--workers",
        str(args.workers),
        "--quiet",
    ]
    ledger = Ledger({r.run_id for r in grid.runs})
    first, between = calibrate(
        [*command[:6], str(root / "scratch"), *command[7:]], root / "scratch" / STORE_NAME
    )
    rng = random.Random(args.seed)
    plan = ["SIGINT"] * args.sigint + ["SIGKILL"] * args.sigkill
    rng.shuffle(plan)
    print(
        f"grid: {len(grid)} runs ({grid_file.name}); {args.workers} workers; "
        f"{len(plan)} interrupts planned (seed {args.seed}); "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    print(
        f"calibration: first run finished {first:.1f} s after the start, then one "
        f"every {between:.2f} s; delays drawn from [0.05, {first:.1f}] s or "
        f"[{first:.1f}, {first + 40 * between:.1f}] s",
        flush=True,
    )

    landed: collections.Counter = collections.Counter()
    exits: dict[str, collections.Counter] = {
        "SIGINT": collections.Counter(),
        "SIGKILL": collections.Counter(),
    }
    stop_seconds: list[float] = []
    phase: collections.Counter = collections.Counter()
    stray_workers = 0
    late, kills = 0, 0
    t_start = time.monotonic()
    while plan:
        kind = plan[0]
        if rng.random() < 0.5:  # start-up, or during runs
            delay = rng.uniform(0.05, first)
        else:
            delay = rng.uniform(first, first + 40 * between)
        proc = start(command)
        deadline = time.monotonic() + delay
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if proc.poll() is not None:  # it ended before the interrupt
            _, err = proc.communicate()
            late += 1
            done = ledger.check(store, f"after an uninterrupted sweep (exit {proc.returncode})")
            if proc.returncode == 0 and done == len(grid):
                ledger.problems.append(
                    f"the sweep finished after {len(plan)} interrupts left: the grid is "
                    "too small for this many (or the machine too fast)"
                )
                break
            if proc.returncode != 0:
                ledger.problems.append(
                    f"a sweep ended by itself with {proc.returncode}: {err.strip()[-300:]}"
                )
            continue
        plan.pop(0)
        landed[kind] += 1
        before = len(ledger.done)
        sent = time.monotonic()
        if kind == "SIGINT":
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the foreground group
        else:
            kills += 1
            if kills % 2:
                os.kill(proc.pid, signal.SIGKILL)  # kill -9 PID, the OOM killer
            else:
                os.killpg(proc.pid, signal.SIGKILL)
        try:
            _, err = proc.communicate(timeout=HANG)
        except subprocess.TimeoutExpired:
            ledger.problems.append(
                f"{kind} after {delay:.2f} s: the sweep did not stop in {HANG} s"
            )
            os.killpg(proc.pid, signal.SIGKILL)
            _, err = proc.communicate()
        stopped = time.monotonic() - sent
        gone = wait_group(proc.pid)
        if gone > 5:
            stray_workers += 1
        if kind == "SIGINT":
            stop_seconds.append(stopped)
            code = proc.returncode
            exits[kind][code] += 1
            if code not in (130, -signal.SIGINT):
                ledger.problems.append(
                    f"SIGINT after {delay:.2f} s: exit status {code}, not 130: "
                    f"{err.strip()[-300:]!r}"
                )
            elif code == 130 and "interrupted" not in err:
                ledger.problems.append(
                    f"SIGINT after {delay:.2f} s: exit 130 without the "
                    f"'interrupted' line: {err.strip()[-300:]!r}"
                )
        else:
            exits[kind][proc.returncode] += 1
        done = ledger.check(store, f"after {kind} #{landed[kind]} at {delay:.2f} s")
        phase[kind, "after runs finished" if done > before else "before any run finished"] += 1
        print(
            f"  {kind:7} at {delay:5.2f} s: exit {proc.returncode:4}, stopped in "
            f"{stopped:5.2f} s, group gone {gone:5.2f} s later; {done:3} runs done",
            flush=True,
        )

    resumes, code = 0, None
    while code != 0 and resumes < 5:
        resumes += 1
        proc = start(command)
        _, err = proc.communicate(timeout=HANG * 5)
        code = proc.returncode
        wait_group(proc.pid)
        if code != 0:
            ledger.problems.append(f"resume #{resumes}: exit {code}: {err.strip()[-300:]}")
    done = ledger.check(store, "at the end")
    rows = store_rows(store) if store.exists() else []
    ids = collections.Counter(r[0] for r in rows)
    missing = sum(1 for r in grid.runs if r.run_id not in ids)
    duplicated = sum(n - 1 for n in ids.values() if n > 1)
    outside = sum(1 for run_id in ids if run_id not in ledger.grid_ids)
    not_done = sum(1 for r in rows if r[1] != "done")
    unmeasured = sum(
        1
        for r in rows
        if r[4]
        and any(
            cell.get("outcome", "measured") != "measured"
            for cell in json.loads(r[4]).get("sanitizers", {}).values()
        )
    )
    elapsed = time.monotonic() - t_start
    stops = sorted(stop_seconds)
    print(
        f"interrupts landed: {landed['SIGINT']} SIGINT, {landed['SIGKILL']} SIGKILL "
        f"({late} sweeps ended before their interrupt and were not counted)"
    )
    print("  when: " + "; ".join(f"{k} {when}: {n}" for (k, when), n in sorted(phase.items())))
    print(
        f"  SIGINT exit statuses: {dict(exits['SIGINT'])}; SIGINT to exit: median "
        f"{statistics.median(stops) if stops else float('nan'):.2f} s, max "
        f"{max(stops) if stops else float('nan'):.2f} s"
    )
    print(
        f"  SIGKILL exit statuses: {dict(exits['SIGKILL'])}; worker groups alive > 5 s "
        f"after the sweep ended: {stray_workers}"
    )
    print(f"resumed: {resumes} command(s), last exit {code}; {elapsed:.0f} s in all")
    print(
        f"store: {len(rows)} rows for {len(grid)} runs: {done} done, {not_done} not done, "
        f"{missing} lost (missing), {duplicated} duplicated, {outside} outside the grid; "
        f"{unmeasured} with a sanitizer outcome other than 'measured'"
    )
    ok = (
        not ledger.problems
        and missing == 0
        and duplicated == 0
        and outside == 0
        and not_done == 0
        and len(rows) == len(grid)
        and code == 0
        and landed["SIGINT"] >= args.sigint
        and landed["SIGKILL"] >= args.sigkill
    )
    for problem in ledger.problems[:30]:
        print(f"  PROBLEM {problem}")
    if len(ledger.problems) > 30:
        print(f"  … and {len(ledger.problems) - 30} more problems")
    return ok


def concurrent(args, root: Path) -> bool:
    """Two sweeps on a new --out at the same moment, ``args.concurrent`` times."""
    grid_file = root / "tiny.toml"
    grid_file.write_text(TINY)
    tally: collections.Counter = collections.Counter()
    damaged = 0
    for k in range(args.concurrent):
        out = root / f"pair{k}"
        command = [
            sys.executable,
            "-m",
            "flexpoison",
            "sweep",
            str(grid_file),
            "--out",
            str(out),
            "--workers",
            "1",
            "--quiet",
        ]
        pair = [start(command) for _ in range(2)]
        for proc in pair:
            _, err = proc.communicate(timeout=HANG)
            if "damaged" in err:
                damaged += 1
                print(f"  pair {k}: {err.strip()[-300:]}")
            if proc.returncode == 0:
                tally["ran"] += 1
            elif "in use by another flexpoison sweep" in err:
                tally["refused: in use"] += 1
            else:
                tally[f"other (exit {proc.returncode})"] += 1
                print(f"  pair {k}: exit {proc.returncode}: {err.strip()[-300:]}")
    print(
        f"concurrent: {args.concurrent} pairs of sweeps on a new --out: {dict(tally)}; "
        f"'damaged' messages: {damaged}"
    )
    return damaged == 0 and set(tally) <= {"ran", "refused: in use"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sigint", type=int, default=10, help="SIGINTs that land (10)")
    parser.add_argument("--sigkill", type=int, default=10, help="SIGKILLs that land (10)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the delays and order")
    parser.add_argument("--workers", type=int, default=2, help="the sweep's --workers (2)")
    parser.add_argument(
        "--concurrent", type=int, default=20, help="pairs of concurrent sweeps (20; 0: skip)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where the stores go (default: a temporary directory)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.out or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        ok = stress(args, root) if args.sigint + args.sigkill else True
        if args.concurrent:
            ok = concurrent(args, root) and ok
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
