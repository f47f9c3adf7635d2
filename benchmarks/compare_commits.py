"""Prove that two source trees compute the same numbers: run the same command-line jobs
on both and compare every numeric output.

Usage::

    python benchmarks/compare_commits.py --base c6e1a21                 # head: this tree
    python benchmarks/compare_commits.py --base c6e1a21 --head /tmp/fp-1234abc \\
        --jobs quick,sweep --cache /tmp/fp-equality-cache --data-dir /work/shared/data

``--base`` and ``--head`` each take a commit-ish of the repository this script lives in
(materialised with ``git archive`` into a temporary directory) or a directory holding
``src/flexpoison``. The head defaults to the work tree this script is in. Every job runs
as ``sys.executable -m flexpoison ...`` with ``PYTHONPATH=<tree>/src`` (checked once per
tree: ``flexpoison.__file__`` must lie in that tree), ``FLEXPOISON_DATA_DIR=--data-dir``,
``MPLBACKEND=Agg`` and ``PYTHONHASHSEED=0``, in a temporary working directory.
With ``--cache DIR`` the parsed results of a commit are kept in ``DIR/<full sha>/``
(never those of a directory tree), so the base runs once; a commit compared with itself
runs again as the head (a determinism check).

Jobs: ``quick`` and ``full`` (``flexpoison reproduce [--quick]``: summary.json,
claims.csv and the per data set / α CSVs), ``frontier`` (ccpp × ridge × integrity at
rate 0.1, breast_cancer × logistic × availability at 0.05: frontier.json, frontier.csv,
poison_*.csv) and ``sweep`` (``benchmarks/equality_sweep40.toml``, 40 runs, one worker:
the ``runs`` table of results.sqlite, runs matched by their settings JSON; whether the
run ids agree is reported too).

Compared: every JSON file and every CSV (parsed by column, cells as int / float / text)
walked recursively; every numeric leaf on keys both trees have. Keys naming timings or
the environment are skipped (they contain seconds, time, versions, machine, path, file,
wall, worker, finished_at or platform). Floats: |a − b| / max(|a|, |b|, 1e-12), the
maximum over the elements of arrays; NaN equals NaN. Integers must be equal exactly.
Categories by key: diagnostics (rel_diff, sklearn_check: rounding-level precision
checks, compared by absolute difference), θ (theta), iterations (iteration; exact), C (C, mean_C,
concealment), E (effect, E, E_I, E_A, E_L, W), metrics (metric, recall, damage, MSE,
accuracy), other. Differing text (reprs, claims' evidence) is listed, not judged.
PASS (exit 0) when E, θ, C and metrics differ by at most 1e-9, and no integer, array
length, key or other number differs, and every job ran in both trees; else FAIL (exit 1).

Result records (``flexpoison.experiments.record``): where the head writes a record
(a dict with ``record_version``) and the base wrote the same dict without one (version
1, each file's own spellings), the base's is first mapped to the head's spellings by the
head's own ``upgrade`` (its ``record.py`` loaded from the head tree), then compared key
by key; the report counts the records so mapped.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib.util
import io
import json
import math
import os
import re
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent  # this script is REPO/benchmarks/compare_commits.py
SWEEP_FILE = HERE / "equality_sweep40.toml"
DATA_DIR = HERE.parents[1] / "shared" / "data"  # where the project's data sets are laid
THRESHOLD = 1e-9
IGNORED = re.compile("seconds|time|versions|machine|path|file|wall|worker|finished_at|platform")
CATEGORIES = ("θ", "E", "C", "metrics", "iterations", "diagnostics", "other")
# Precision diagnostics (e.g. ‖θ_p − θ_sklearn‖/‖θ_sklearn‖ ≈ 1e-15): rounding-level
# numbers, so any change in the order of floating-point operations moves them by a
# large relative amount; they are compared in absolute terms instead.
DIAGNOSTIC = re.compile("rel_diff|sklearn_check")
FRONTIER = "frontier --quiet --data-dir {data} --out {out} --dataset"
JOBS = {  # job: {run: flexpoison arguments}; {out}: the run's output folder
    "quick": {"reproduce": "reproduce --quick --out {out} --quiet"},
    "full": {"reproduce": "reproduce --out {out} --quiet"},
    "frontier": {
        "ccpp": f"{FRONTIER} ccpp --model ridge --goal integrity --rate 0.1",
        "breast_cancer": f"{FRONTIER} breast_cancer --model logistic --goal availability "
        "--rate 0.05",
    },
    "sweep": {"sweep": "sweep {sweep} --out {out} --workers 1 --quiet"},
}
SWEEP_RUNS = 40
WRITERS = {"quick": "reproduce", "full": "reproduce", "frontier": "frontier", "sweep": "sweep"}


# ------------------------------------------------------------------------ source trees
def git(*args: str, data: bool = False):
    """Run git at the top of this script's repository (from a subfolder, archives miss files)."""
    done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, check=True)
    return done.stdout if data else done.stdout.decode().strip()


class Tree:
    """A source tree: a directory, or a commit materialised on first use."""

    def __init__(self, spec: str | None, scratch: Path):
        self.sha, self._root, self.scratch, self.checked = None, None, scratch, False
        if spec is None:
            self._root, self.name = REPO, f"work tree {REPO}"
        elif (Path(spec) / "src" / "flexpoison").is_dir():
            self._root = Path(spec).resolve()
            self.name = f"directory {self._root}"
        else:
            try:
                self.sha = git("rev-parse", "--verify", "--quiet", f"{spec}^{{commit}}")
            except subprocess.CalledProcessError:
                sys.exit(f"{spec!r}: neither a commit of {REPO} nor a tree with src/flexpoison")
            self.name = f"commit {self.sha[:10]} ({spec})"
        if self._root is not None and not (self._root / "src" / "flexpoison").is_dir():
            sys.exit(f"{self._root} holds no src/flexpoison")

    @property
    def root(self) -> Path:
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix=f"fp-{self.sha[:7]}-", dir=self.scratch))
            archive = git("archive", "--format=tar", self.sha, data=True)
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                tar.extractall(self._root, filter="data")
        return self._root

    def python(self, args: list[str], cwd: Path, data_dir: Path):
        """Run this interpreter with the tree's src/ as PYTHONPATH."""
        env = {**os.environ, "PYTHONPATH": str(self.root / "src"), "MPLBACKEND": "Agg"}
        env.update(FLEXPOISON_DATA_DIR=str(data_dir), PYTHONHASHSEED="0")
        cmd = [sys.executable, *args]
        return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)

    def record_upgrade(self):
        """The tree's ``flexpoison.experiments.record.upgrade`` (loaded from its file, which
        imports nothing of the package), or None for a tree without the result record."""
        path = self.root / "src" / "flexpoison" / "experiments" / "record.py"
        if not path.is_file():
            return None
        name = f"_record_of_{abs(hash(str(path)))}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
        return module.upgrade

    def check_import(self, data_dir: Path, cwd: Path) -> None:
        """Once per tree: ``flexpoison`` must be imported from this tree's src/."""
        if self.checked:
            return
        done = self.python(["-c", "import flexpoison; print(flexpoison.__file__)"], cwd, data_dir)
        if done.returncode:
            sys.exit(f"{self.name}: `import flexpoison` fails:\n{done.stderr.strip()}")
        where = Path(done.stdout.strip()).resolve()
        package = (self.root / "src" / "flexpoison").resolve()
        if not where.is_relative_to(package):
            sys.exit(f"{self.name}: flexpoison is imported from {where}, not from {package}")
        print(f"  flexpoison imported from {where}", flush=True)
        self.checked = True


# --------------------------------------------------------------------- running a job
def fingerprint(job: str) -> str:
    """What a cached result depends on besides the commit: the job, the interpreter, libraries."""
    libraries = [metadata.version(name) for name in ("numpy", "scipy", "scikit-learn")]
    text = json.dumps([JOBS[job], sys.version, libraries])
    text += SWEEP_FILE.read_text() if job == "sweep" else ""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_job(tree: Tree, job: str, work: Path, data_dir: Path, cache: Path | None) -> dict:
    """{"data": {run: parsed outputs}, "seconds": {run: s}, "errors": {...}, "cached"}."""
    cached = cache / tree.sha / f"{job}.json" if cache and tree.sha else None
    if cached and cached.is_file():
        record = json.loads(cached.read_text())
        if record.get("fingerprint") == fingerprint(job):
            return {**record, "cached": True}
    tree.check_import(data_dir, work)
    record = {"fingerprint": fingerprint(job), "data": {}, "seconds": {}, "errors": {}}
    for label, args in JOBS[job].items():
        out = work / job / label
        out.parent.mkdir(parents=True, exist_ok=True)
        argv = [a.format(out=out, data=data_dir, sweep=SWEEP_FILE) for a in args.split()]
        start = time.perf_counter()
        done = tree.python(["-m", "flexpoison", *argv], out.parent, data_dir)
        record["seconds"][label] = time.perf_counter() - start
        if done.returncode:
            lines = [x for x in (done.stderr or done.stdout).splitlines() if x.strip()][-2:]
            error = f"`flexpoison {' '.join(argv)}` exited with {done.returncode}: "
            record["errors"][label] = error + " | ".join(lines)
            continue
        record["data"][label] = read_sweep(out) if job == "sweep" else read_outputs(out)
    if cached and not record["errors"]:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps(record))
    return {**record, "cached": False}


def parse_cell(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_csv(path: Path) -> dict:
    """Columns of a CSV; empty cells of a numeric column read as NaN."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns = {}
    for name in rows[0] if rows else ():
        cells = [parse_cell(row[name]) for row in rows]
        numeric = all(not isinstance(c, str) for c in cells if c != "")
        columns[name] = [float("nan") if numeric and c == "" else c for c in cells]
    return columns


def read_outputs(folder: Path) -> dict:
    files = sorted(folder.rglob("*.json")) + sorted(folder.rglob("*.csv"))
    read = {".json": lambda p: json.loads(p.read_text()), ".csv": read_csv}
    return {p.relative_to(folder).as_posix(): read[p.suffix](p) for p in files}


def read_sweep(folder: Path) -> dict:
    with sqlite3.connect(folder / "results.sqlite") as db:
        rows = db.execute("SELECT run_id, status, settings, result, error FROM runs")
        runs = {}
        for run_id, status, settings, result, error in rows.fetchall():
            key = json.dumps(json.loads(settings), sort_keys=True)
            record = {"run_id": run_id, "status": status, "error": error}
            runs[key] = {**record, "result": json.loads(result) if result else None}
    return runs


# ----------------------------------------------------------------------- comparison
def category(key: str) -> str:
    k = key.lower()
    if DIAGNOSTIC.search(k):
        return "diagnostics"
    if "theta" in k:
        return "θ"
    if "iteration" in k:
        return "iterations"
    if "concealment" in k or k in ("c", "mean_c"):
        return "C"
    if "effect" in k or k in ("e", "w") or re.match(r"(e_[ial]|w)(_|$)", k):
        return "E"
    if any(word in k for word in ("metric", "recall", "damage", "mse", "accuracy")):
        return "metrics"
    return "other"


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Diffs:
    """What differs between two outputs, by category."""

    def __init__(self, upgrade=None, writer: str = ""):
        self.upgrade, self.writer, self.upgraded = upgrade, writer, 0
        self.worst = {c: (0.0, "") for c in CATEGORIES}
        self.count = dict.fromkeys(CATEGORIES, 0)
        self.int_diffs = dict.fromkeys(CATEGORIES, 0)
        self.ints, self.texts, self.missing, self.shapes = [], [], [], []

    def walk(self, a, b, path: str, key: str = "") -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            if self.upgrade and "record_version" in b and "record_version" not in a:
                a, self.upgraded = self.upgrade(a, self.writer), self.upgraded + 1
            for k in list(a) + [k for k in b if k not in a]:
                if IGNORED.search(str(k).lower()):
                    continue
                where = f"{path}/{k}" if path else str(k)
                if k not in b or k not in a:
                    self.missing.append(f"{where} (only in {'base' if k in a else 'head'})")
                else:
                    self.walk(a[k], b[k], where, str(k))
        elif isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b):
                self.shapes.append(f"{path}: {len(a)} elements in base, {len(b)} in head")
            elif a and all(map(is_number, a + b)):
                self.numbers(a, b, path, key)
            else:
                for i, (x, y) in enumerate(zip(a, b, strict=True)):
                    self.walk(x, y, f"{path}[{i}]", key)
        elif is_number(a) and is_number(b):
            self.numbers([a], [b], path, key)
        elif a != b or type(a) is not type(b):
            self.texts.append(f"{path}: {a!r} (base) vs {b!r} (head)")

    def numbers(self, a: list, b: list, path: str, key: str) -> None:
        x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        same = (x == y) | (np.isnan(x) & np.isnan(y))
        cat = category(key)
        with np.errstate(invalid="ignore", over="ignore"):
            scale = (
                1.0 if cat == "diagnostics" else np.maximum(np.maximum(np.abs(x), np.abs(y)), 1e-12)
            )
            rel = np.where(same, 0.0, np.nan_to_num(np.abs(x - y) / scale, nan=np.inf))
        self.count[cat] += x.size
        if rel.max() > self.worst[cat][0]:
            at = f"{path}[{int(rel.argmax())}]" if x.size > 1 else path
            self.worst[cat] = (float(rel.max()), at)
        ints = all(isinstance(v, int) for v in a + b if not math.isnan(v))  # NaN: empty cell
        if (ints or cat == "iterations") and not same.all():
            self.int_diffs[cat] += int((~same).sum())
            i, n = int(np.argmin(same)), int((~same).sum())
            more = f" at [{i}], {n} differ" if x.size > 1 else ""
            self.ints.append(f"{path}: {a[i]!r} (base) vs {b[i]!r} (head){more}")


def compare_job(
    job: str, base: dict, head: dict, upgrade=None
) -> tuple[Diffs, list[str], list[str]]:
    """The differences, notes, and problems (which fail the comparison) of one job;
    ``upgrade``: the head's record upgrade (see the module docstring), or None."""
    diffs, notes, problems = Diffs(upgrade, WRITERS[job]), [], []
    for label in base["data"].keys() & head["data"].keys():
        a, b = base["data"][label], head["data"][label]
        if job != "sweep":
            diffs.walk(a, b, label if len(JOBS[job]) > 1 else "")
            continue
        for name, runs in (("base", a), ("head", b)):
            done = sum(r["status"] == "done" for r in runs.values())
            if len(runs) != SWEEP_RUNS or done != SWEEP_RUNS:
                problems.append(
                    f"the {name} store holds {len(runs)} runs, {done} done "
                    f"(expected {SWEEP_RUNS} done)"
                )
        matched = [s for s in a if s in b]
        ids_differ = sum(a[s]["run_id"] != b[s]["run_id"] for s in matched)
        ids = f"no ({ids_differ} differ)" if ids_differ else "yes"
        notes.append(f"{len(matched)} runs matched by settings; run ids identical: {ids}")
        for s in list(a) + [s for s in b if s not in a]:
            settings = json.loads(s)
            where = "{dataset}/{model}/{goal}/alpha={alpha}".format(**settings)
            if s not in a or s not in b:
                diffs.missing.append(f"run {where} (only in {'base' if s in a else 'head'})")
                continue
            for k in ("status", "error", "result"):
                diffs.walk(a[s][k], b[s][k], f"{where}/{k}", k)
    if diffs.upgraded:
        notes.append(f"{diffs.upgraded} base records mapped to the head's spellings (version 1)")
    return diffs, notes, problems


# --------------------------------------------------------------------------- report
def listing(title: str, items: list[str], limit: int = 12) -> None:
    if items:
        print(f"  {title}: {len(items)}")
        for item in items[:limit]:
            print(f"    {item}")
        if len(items) > limit:
            print(f"    … and {len(items) - limit} more")


def report(
    job: str, base: dict, head: dict, names: tuple, upgrade=None
) -> tuple[float | None, bool]:
    """Print the job's table; return (worst on E/θ/C/metrics or None, all else equal)."""
    print(f"\n== {job} ==")
    for name, res in zip(names, (base, head), strict=True):
        times = ", ".join(f"{k} {v:.1f} s" for k, v in res["seconds"].items())
        print(f"  wall time, {name}: {times}" + (" (cached)" if res["cached"] else ""))
    diffs, notes, problems = compare_job(job, base, head, upgrade)
    for name, res in zip(names, (base, head), strict=True):
        problems += [f"FAILED in {name}: {label}: {e}" for label, e in res["errors"].items()]
    for line in problems + notes:
        print(f"  {line}")
    print(f"  {'category':<11}{'numbers':>9}  {'max rel diff':>12}  where / exact")
    for cat in CATEGORIES:
        worst, where = diffs.worst[cat]
        n = diffs.int_diffs[cat]
        exact = f"equal: {'no' if n else 'yes'} ({n} differ)" if cat == "iterations" else where
        print(f"  {cat:<11}{diffs.count[cat]:>9}  {worst:>12.3g}  {exact}")
    listing("integers that differ", diffs.ints)
    listing("array lengths that differ", diffs.shapes)
    listing("text values that differ", diffs.texts)
    listing("keys present in one tree only", diffs.missing)
    key = ("θ", "E", "C", "metrics")
    key_worst = max(diffs.worst[c][0] for c in key) if sum(diffs.count[c] for c in key) else None
    unequal = problems + diffs.ints + diffs.shapes + diffs.missing
    small = max(diffs.worst["other"][0], diffs.worst["diagnostics"][0]) <= THRESHOLD
    return key_worst, not unequal and small


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--base", required=True, help="commit-ish or source tree")
    add("--head", help="commit-ish or source tree (default: the work tree of this script)")
    add("--jobs", default=",".join(JOBS), help=f"comma-separated subset of {','.join(JOBS)}")
    add("--cache", type=Path, help="folder keeping the results of commits, by sha")
    add("--data-dir", type=Path, default=os.environ.get("FLEXPOISON_DATA_DIR", DATA_DIR))
    opts = parser.parse_args()
    jobs = [j.strip() for j in opts.jobs.split(",") if j.strip()]
    if unknown := [j for j in jobs if j not in JOBS]:
        parser.error(f"unknown job(s) {', '.join(unknown)}; choose from {', '.join(JOBS)}")
    data_dir = opts.data_dir.expanduser().resolve()
    with tempfile.TemporaryDirectory(prefix="fp-compare-") as scratch:
        trees = (Tree(opts.base, Path(scratch)), Tree(opts.head, Path(scratch)))
        names = ("base", "head")
        same = trees[0].sha is not None and trees[0].sha == trees[1].sha  # a determinism check:
        caches = (opts.cache, None if same else opts.cache)  # the head runs again, uncached
        results: dict[str, list[dict]] = {job: [] for job in jobs}
        for name, tree, cache in zip(names, trees, caches, strict=True):
            work = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=scratch))
            note = " (run again: the same commit as the base)" if same and cache is None else ""
            print(f"{name}: {tree.name}{note}", flush=True)
            for job in jobs:
                results[job].append(run_job(tree, job, work, data_dir, cache))
                res = results[job][-1]
                state = "cached" if res["cached"] else f"{sum(res['seconds'].values()):.1f} s"
                print(f"  {job}: {state}" + (" FAILED" if res["errors"] else ""), flush=True)
        upgrade = trees[1].record_upgrade()
    worst, clean, empty = 0.0, True, []
    for job in jobs:
        job_worst, job_clean = report(job, *results[job], names, upgrade)
        worst, clean = max(worst, job_worst or 0.0), clean and job_clean
        empty += [job] if job_worst is None else []
    verdict = worst <= THRESHOLD and not empty
    word = {True: "PASS", False: "FAIL"}
    line = f"largest relative difference on E, θ, C and metrics: {worst:.3g}"
    line += f" (nothing compared in {', '.join(empty)})" if empty else ""
    print(f"\n{line} (threshold {THRESHOLD:g}): {word[verdict]}")
    print(
        f"integers, array lengths, keys, other numbers (diagnostics: absolute), all jobs "
        f"ran: {word[clean]}"
    )
    return 0 if verdict and clean else 1


if __name__ == "__main__":
    sys.exit(main())
