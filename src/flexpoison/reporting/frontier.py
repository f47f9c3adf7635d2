"""The frontier's files: CSV, JSON, figures, poison rows, and its HTML section.

:func:`write_frontier` writes everything :func:`flexpoison.experiments.frontier.run_frontier`
measured into one directory, all or nothing, and can insert a "Frontier" section into
the report of ``flexpoison reproduce``.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
import re
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .._environment import versions
from ..errors import InvalidInputError
from ..experiments.frontier import (
    ATTACK_LABELS,
    BASELINES,
    CLEAN,
    EVADING,
    AttackPoint,
    FrontierResult,
    FrontierSettings,
)
from ..experiments.pipeline import NO_SANITIZER
from ..experiments.record import record
from . import files

# ------------------------------------------------------------------------ files

CSV_COLUMNS = (
    "attack",
    "alpha",
    "sanitizer",
    "n_poison",
    "poison_removed",
    "recall",
    "clean_removed",
    "clean_removed_share",
    "effect",
    "test_metric",
    "damage_left",
)


@dataclass(frozen=True)
class WrittenFrontier:
    """Where :func:`write_frontier` put things (``report`` None if none was updated)."""

    out_dir: Path
    files: tuple[Path, ...]
    report: Path | None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def _key(s: FrontierSettings) -> str:
    return _slug(f"frontier-{s.dataset}-{s.model}-{s.goal}-{s.rate:g}-seed{s.seed}")


def _summary(result: FrontierResult) -> dict:
    s = result.settings
    return {
        "settings": asdict(s),
        "clean": record(
            effect_clean=result.effect_clean,
            test_metric_clean=result.test_metric_clean,
            theta_clean=result.theta_clean,
            theta_target=result.theta_reference,
        ),
        "attacks": [
            {"attack": p.attack, "alpha": p.alpha, "label": p.label}
            | record(
                n_points=int(p.X_poison.shape[0]),
                effect_final=p.effect_final,
                mean_concealment=p.mean_concealment,
                mean_iterations=p.mean_iterations,
                seconds=round(p.seconds, 3),
                warnings=list(p.warnings),
            )
            for p in result.attacks
        ],
        "rows": [asdict(r) for r in result.rows],
        "wall_time_seconds": round(result.seconds, 3),
        "versions": versions(),
    }


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def _plot_one(
    result: FrontierResult, sanitizer: str, ax=None, legend: bool = True, title: str | None = None
):
    from .plotting import literal, plot_frontier

    s = result.settings
    flex = [r for r in result.rows_for(sanitizer) if r.attack == "flexible"]
    flex.sort(key=lambda r: r.alpha if r.alpha is not None else -1.0)
    shown = {*BASELINES, EVADING + sanitizer}  # and the attack built to evade this one
    base = {
        # in the overview one legend serves every panel: "the panel's" evading attack
        (EVADES_PANEL if r.attack.startswith(EVADING) and title is not None else r.label): (
            r.recall,
            r.effect,
        )
        for r in result.rows_for(sanitizer)
        if r.attack in shown
    }
    clean_here = result.row(CLEAN, sanitizer).effect
    references = {"no attack": result.effect_clean}
    if sanitizer != NO_SANITIZER:
        references["no attack, after this sanitizer"] = clean_here
    return plot_frontier(
        [r.recall for r in flex if r.recall is not None],
        [r.effect for r in flex],
        [r.alpha for r in flex if r.alpha is not None],
        s.goal,
        baselines=base,
        references=references,
        ax=ax,
        legend=legend,
        title=title
        if title is not None
        else f"{literal(s.dataset)}, {s.model}, {s.goal}, rate {s.rate:g}: sanitizer "
        + _panel(sanitizer, s),
    )


#: The overview's legend entry of the attack built to evade each panel's sanitizer(s).
EVADES_PANEL = "built to evade the panel's sanitizer(s)"


def _panel(name: str, s: FrontierSettings) -> str:
    """A panel's title: the sanitizer's name; the combined owner's says "together"."""
    return f"{name} (all together)" if name in s.combined else name


def figures_for(result: FrontierResult) -> dict[str, bytes]:
    """PNG bytes by file name: one per sanitizer, one per owner who runs several together
    (``frontier_sphere+slab.png``) and ``frontier_overview.png``."""
    from matplotlib.figure import Figure

    from .plotting import literal

    s = result.settings
    names = [n for n in s.screens if n != NO_SANITIZER]
    out = {f"frontier_{name}.png": _png(_plot_one(result, name)) for name in names}
    cols = min(3, max(1, len(names)))
    nrows = max(1, math.ceil(len(names) / cols))
    fig = Figure(figsize=(5.2 * cols, 4.0 * nrows + 0.6), layout="constrained")
    axes = fig.subplots(nrows, cols, squeeze=False).ravel()
    for k, name in enumerate(names):
        _plot_one(result, name, ax=axes[k], legend=False, title=_panel(name, s))
    for ax in axes[len(names) :]:
        ax.set_axis_off()
    if names:  # every panel's entries once (an evading attack is on its panel only)
        entries: dict[str, Any] = {}
        for ax in axes[: len(names)]:
            for handle, label in zip(*ax.get_legend_handles_labels()):
                entries.setdefault(label, handle)
        handles, labels = list(entries.values()), list(entries)
        fig.legend(
            handles, labels, loc="outside lower center", ncols=min(6, len(labels)), fontsize="small"
        )
    fig.suptitle(
        f"Effect–concealment frontier: {literal(s.dataset)}, {literal(s.victim_label)}, {s.goal} "
        f"({s.effect_name}), {s.n_poison} poison rows (rate {s.rate:g})"
    )
    out["frontier_overview.png"] = _png(fig)
    return out


def _cell(value) -> str:
    return "" if value is None else value


def owns(name: str) -> bool:
    """Whether an entry of an output directory is one :func:`write_frontier` writes
    (``frontier.csv``, ``frontier_lof.png``, ``poison_random_clone.csv``, …): those an
    earlier frontier left there are removed when a new one is written."""
    return bool(re.fullmatch(r"frontier\.(csv|json|html)|frontier_.+\.png|poison_.+\.csv", name))


def poison_file_name(point: AttackPoint) -> str:
    """``poison_flexible_alpha0.5.csv``, ``poison_random_clone.csv``, …"""
    if point.attack == "flexible":
        return f"poison_flexible_alpha{point.alpha:g}.csv"
    return f"poison_{point.attack}.csv"


def write_frontier(
    result: FrontierResult,
    out_dir: str | os.PathLike,
    *,
    report: str | os.PathLike | None = None,
    auto_report: bool = False,
) -> WrittenFrontier:
    """Write the frontier's files into ``out_dir`` (all or nothing) and the report.

    Files: ``frontier.csv`` (one row per attack × sanitizer, :data:`CSV_COLUMNS`; the
    owner who runs several together is the sanitizer ``"sphere+slab"``, listed in
    ``settings.combined``), ``frontier.json`` (settings, references, attacks, rows,
    versions), ``frontier_<sanitizer>.png`` per sanitizer and owner (e.g.
    ``frontier_sphere+slab.png``), ``frontier_overview.png``,
    ``frontier.html`` (self-contained) and, per attack, its poison rows in the data
    set's units (``poison_flexible_alpha0.5.csv``, ``poison_random_clone.csv``, …;
    :func:`poison_file_name`). The files of an earlier frontier in ``out_dir``
    (:func:`owns`) are replaced or removed; other files are kept. Then, only if
    ``report`` is given — or, with ``auto_report``, if ``out_dir``'s parent holds
    ``report.html`` (from ``flexpoison reproduce``) — a "Frontier" section is inserted
    into that report before ``</body>`` (replacing the section of an earlier run with
    the same data set, model, goal, rate and seed), atomically: the only file written
    outside ``out_dir``, and only when asked.
    """
    if report is not None:
        report = Path(report)
        if not report.is_file():
            raise InvalidInputError(f"report: {report} is not an existing file")
    elif auto_report:
        candidate = Path(out_dir).absolute().parent / "report.html"
        report = candidate if candidate.is_file() else None
    figures = figures_for(result)
    section = render_section(result, figures["frontier_overview.png"])
    names = []
    with files.staged_output(out_dir, owned=owns) as stage:
        files.write_csv(
            stage / "frontier.csv",
            CSV_COLUMNS,
            [[_cell(getattr(r, c)) for c in CSV_COLUMNS] for r in result.rows],
        )
        files.write_json(stage / "frontier.json", _summary(result))
        if result.x_mean is not None:  # the poison rows of every attack, in data units
            header = (*result.feature_names, result.target_name)
            for point in result.attacks:
                if point.X_poison.shape[0]:
                    X_data = result.poison_in_data_units(point)
                    files.write_csv(
                        stage / poison_file_name(point),
                        header,
                        [(*x, y) for x, y in zip(X_data.tolist(), point.y_poison.tolist())],
                    )
        for name, png in figures.items():
            (stage / name).write_bytes(png)
        (stage / "frontier.html").write_text(
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>"
            f"flexpoison frontier: {html.escape(result.settings.dataset)}</title>"
            f"<style>{_CSS}</style></head><body>\n{section}\n</body></html>\n",
            encoding="utf-8",
        )
        names = sorted(p.name for p in stage.iterdir())
    out = Path(out_dir)
    if report is not None:
        insert_report_section(report, section, _key(result.settings))
    return WrittenFrontier(out, tuple(out / name for name in names), report)


# ------------------------------------------------------------------------- HTML

_CSS = (
    """
body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4}figure img{width:100%;border:1px solid #ddd}
"""
    + files.WARNING_CSS
)


def _fmt(value: float | None, pct: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:.0%}" if pct else f"{value:.4g}"


def render_section(result: FrontierResult, overview_png: bytes) -> str:
    """The "Frontier" section (HTML fragment, figure embedded as base64)."""
    e = html.escape
    s = result.settings
    key = _key(s)
    direction = "higher" if s.higher_is_damage else "lower"
    sanitizers = [n for n in s.screens if n != NO_SANITIZER]
    img = base64.b64encode(overview_png).decode("ascii")
    parts = [
        f"<!-- flexpoison:{key} -->",
        f"<section id='{key}'>",
        f"<h2>Frontier: {e(s.dataset)}, {e(s.victim_label)}, {e(s.goal)} "
        f"({e(s.effect_name)}), rate {s.rate:g}</h2>",
        f"<p>How much damage do {s.n_poison} added rows (rate {s.rate:g} of "
        f"{s.n_clean} clean training rows) leave <em>after</em> a sanitizer has run, "
        f"and how many of them does it catch? Each sanitizer is calibrated on the clean "
        f"training split (removing {s.clean_removal:.0%} of it; three_sigma: the fixed "
        f"k = 3 rule; trim: keeps n rows); the victim is refitted on the rows it keeps. "
        + "".join(
            f"{e(name)}: the owner who runs those sanitizers together keeps the rows "
            "every one of them keeps. "
            for name in s.combined
        )
        + f"Effect {e(s.effect_name)}: {direction} = more damage. The flexible attack "
        f"sweeps α over {', '.join(f'{a:g}' for a in s.alphas)}; baselines: "
        f"{', '.join(e(ATTACK_LABELS[b]) for b in s.baselines) or 'none'}; seed {s.seed}, "
        f"max_iter {s.max_iter}. Without poison: {e(s.effect_name)} = "
        f"{result.effect_clean:.4g}, {e(s.metric_name)} = {result.test_metric_clean:.4g}. "
        f"Numbers: <code>frontier.csv</code>, <code>frontier.json</code>.</p>",
        f"<figure><img style='max-width:100%' alt='frontier overview' "
        f"src='data:image/png;base64,{img}'><figcaption>{e(s.effect_name)} after "
        "sanitising and refitting (y) against the share of poison rows the sanitizer "
        "removed (x)</figcaption></figure>",
        "<table><tr><th rowspan='2'>attack</th><th colspan='2'>no sanitizer</th>"
        + "".join(f"<th colspan='2'>{e(n)}</th>" for n in sanitizers)
        + "</tr><tr>"
        f"<th>{e(s.effect_name)}</th><th>{e(s.metric_name)}</th>"
        + "".join(f"<th>recall</th><th>{e(s.effect_name)}</th>" for _ in sanitizers)
        + "</tr>",
    ]
    points: list[tuple[str, float | None]] = [(CLEAN, None)]
    points += [(p.attack, p.alpha) for p in result.attacks]
    for attack, alpha in points:
        none = result.row(attack, NO_SANITIZER, alpha)
        cells = [
            f"<td>{e(none.label)}</td><td>{_fmt(none.effect)}</td><td>{_fmt(none.test_metric)}</td>"
        ]
        for n in sanitizers:
            r = result.row(attack, n, alpha)
            recall = (
                _fmt(r.recall, pct=True)
                if r.recall is not None
                else f"({_fmt(r.clean_removed_share, pct=True)} clean)"
            )
            cells.append(f"<td>{recall}</td><td>{_fmt(r.effect)}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table>")
    parts.append(files.warning_note([(p.label, w) for p in result.attacks for w in p.warnings]))
    parts.append(f"</section>\n<!-- /flexpoison:{key} -->")
    return "\n".join(parts)


def insert_report_section(report: str | os.PathLike, section: str, key: str) -> Path:
    """Insert ``section`` into the HTML file ``report`` before ``</body>``, atomically.

    A section previously inserted under the same ``key`` (between the comments
    ``<!-- flexpoison:key -->`` and ``<!-- /flexpoison:key -->``) is replaced instead.
    Without ``</body>`` the section goes before ``</html>``, else at the end. The file
    is rewritten through a temporary file in its folder and ``os.replace``.
    """
    path = Path(report)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"report: cannot read {path}: {exc}") from None
    begin, end = f"<!-- flexpoison:{key} -->", f"<!-- /flexpoison:{key} -->"
    i = text.find(begin)
    j = text.find(end, i) if i >= 0 else -1
    if i >= 0 and j >= 0:
        new = text[:i] + section + text[j + len(end) :]
    else:
        lower = text.lower()
        at = lower.rfind("</body>")
        if at < 0:
            at = lower.rfind("</html>")
        if at < 0:
            at = len(text)
        new = text[:at] + section + "\n" + text[at:]
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_text(new, encoding="utf-8")
        try:
            os.chmod(tmp, path.stat().st_mode & 0o777)
        except OSError:
            pass
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


__all__ = [
    "CSV_COLUMNS",
    "WrittenFrontier",
    "owns",
    "poison_file_name",
    "figures_for",
    "write_frontier",
    "render_section",
    "insert_report_section",
]
