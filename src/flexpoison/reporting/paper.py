"""Write a reproduction of the paper's figures: PNGs, the numbers behind them, an HTML report.

Layout of the output directory (one sub-directory per data set and α)::

    report.html                       self-contained (figures embedded)
    summary.json                      settings, seeds, versions, timings, claims
    claims.csv                        one row per (data set, claim)
    <dataset>/alpha-<α>/panel_a_W.png           W vs iteration: first and median point
    <dataset>/alpha-<α>/panel_a_W.csv           point, iteration, W
    <dataset>/alpha-<α>/panel_b_effect.png      E_I vs poisoning rate
    <dataset>/alpha-<α>/effect_vs_rate.csv      m, rate, E_I, C, iterations, test metric
    <dataset>/alpha-<α>/poison.csv              the poison rows in original units
    <dataset>/test_metric_vs_rate.png           test MSE / accuracy vs rate, both α
"""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path

from matplotlib.figure import Figure

from .. import models
from ..data.loaders import DATASETS
from ..experiments.paper import DatasetRun
from ..experiments.record import of_result
from . import files
from .plotting import literal, plot_effect_vs_rate, plot_metric_vs_rate, plot_w_history

GRID_RATES = (0.0, 0.01, 0.02, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30)


def _alpha_dir(alpha: float) -> str:
    return f"alpha-{alpha:g}"


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def figures_for(run: DatasetRun) -> dict[str, bytes]:
    """All PNG figures of one data set, keyed by their path relative to the output."""
    name, shown = run.dataset.name, literal(run.dataset.name)
    out = {}
    for alpha, r in run.runs.items():
        base = f"{name}/{_alpha_dir(alpha)}"
        q = r.median_point
        trade_off = str(r.result.settings.get("trade_off", "paper"))  # the W recorded
        fig = plot_w_history(
            r.result.W_history[0],
            label="first point",
            goal=run.goal,
            title=f"{shown}, α = {alpha:g}: W while crafting a point",
            trade_off=trade_off,
        )
        plot_w_history(
            r.result.W_history[q],
            label=f"median point (#{q + 1})",
            goal=run.goal,
            ax=fig.axes[0],
            trade_off=trade_off,
        )
        out[f"{base}/panel_a_W.png"] = _png(fig)
        fig = plot_effect_vs_rate(
            r.rates,
            r.effect,
            run.goal,
            label=f"α = {alpha:g}",
            marker=None,
            title=f"{shown}, α = {alpha:g}: E_I vs poisoning rate",
        )
        out[f"{base}/panel_b_effect.png"] = _png(fig)
    metric_fig: Figure | None = None
    for alpha, r in run.runs.items():
        metric_fig = plot_metric_vs_rate(
            r.rates,
            r.test_metric,
            run.metric_name,
            label=f"α = {alpha:g}",
            ax=None if metric_fig is None else metric_fig.axes[0],
            title=f"{shown}: {run.metric_name} of the poisoned model",
        )
    assert metric_fig is not None
    out[f"{name}/test_metric_vs_rate.png"] = _png(metric_fig)
    return out


def _at_rates(r, rates=GRID_RATES) -> list[tuple[float, int, float, float]]:
    """(rate, m, E_I, metric) at the grid rates that this run reached."""
    n = r.result.n_clean
    rows = []
    for rate in rates:
        m = int(round(rate * n))
        if m <= r.result.n_points:
            rows.append((m / n, m, float(r.effect[m]), float(r.test_metric[m])))
    return rows


def write_dataset_files(run: DatasetRun, stage: Path, figures: dict[str, bytes]) -> None:
    """The CSVs, poison rows and figures of one data set, under ``stage``."""
    ds = run.dataset
    for rel, png in figures.items():
        path = stage / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
    for alpha, r in run.runs.items():
        base = stage / ds.name / _alpha_dir(alpha)
        res = r.result
        points = [
            (q + 1, i, w)
            for q in sorted({0, r.median_point})
            for i, w in enumerate(res.W_history[q])
        ]
        files.write_csv(base / "panel_a_W.csv", ("point", "iteration", "W"), points)
        rows: list[tuple] = [(0, 0.0, r.effect[0], "", "", r.test_metric[0])]
        rows += [
            (
                q + 1,
                r.rates[q + 1],
                r.effect[q + 1],
                res.concealment[q],
                res.n_iter[q],
                r.test_metric[q + 1],
            )
            for q in range(res.n_points)
        ]
        files.write_csv(
            base / "effect_vs_rate.csv",
            ("m", "rate", "E_I", "C", "iterations", run.metric_name.replace(" ", "_")),
            rows,
        )
        X_orig = run.split.scaler.inverse_transform(res.X_poison)
        files.write_csv(
            base / "poison.csv",
            (*ds.feature_names, ds.target_name),
            [(*x, y) for x, y in zip(X_orig, res.y_poison.tolist())],
        )


def describe_estimator(estimator) -> str:
    """The registry's label of the victim: its class and the hyper-parameters that
    define its objective, shown even at their defaults."""
    return models.spec_for(estimator).label(estimator)


def summary_for(run: DatasetRun) -> dict:
    """The machine-readable numbers of one data set."""
    ds = run.dataset
    alphas: dict[str, dict] = {}
    out = {
        "n_rows": int(ds.X.shape[0]),
        "n_features": int(ds.X.shape[1]),
        "n_train": int(run.split.X_train.shape[0]),
        "n_test": int(run.split.X_test.shape[0]),
        "task": ds.task,
        "victim": describe_estimator(run.victim),
        "metric": run.metric_name,
        "alphas": alphas,
        "claims": [
            {"key": c.key, "claim": c.text, "supported": c.supported, "evidence": c.evidence}
            for c in run.claims
        ],
    }
    for alpha, r in run.runs.items():
        alphas[f"{alpha:g}"] = of_result(
            r.result,
            "reproduce",
            test_metric_clean=float(r.test_metric[0]),
            test_metric_poisoned=float(r.test_metric[-1]),
            seconds=round(r.seconds, 3),
        ) | {
            "theta_rel_diff_vs_sklearn_refit": r.sklearn_check,
            "at_rates": [{"rate": a, "m": m, "E_I": e, "metric": t} for a, m, e, t in _at_rates(r)],
        }
    return out


def owns(name: str) -> bool:
    """Whether an entry of an output directory is one :func:`write_reproduction`
    writes (``report.html``, ``summary.json``, ``claims.csv``, a data set's folder):
    those an earlier reproduction left there are removed when a new one is written."""
    return name in ("report.html", "summary.json", "claims.csv", *DATASETS)


def write_reproduction(
    runs: list[DatasetRun], out_dir: str | os.PathLike, *, summary: dict
) -> Path:
    """Write every file of the reproduction into ``out_dir`` (all or nothing),
    replacing or removing what an earlier reproduction left there (:func:`owns`, e.g.
    the folder of a data set this run leaves out); other files are kept."""
    with files.staged_output(out_dir, owned=owns) as stage:
        all_figures = {}
        for run in runs:
            figures = figures_for(run)
            write_dataset_files(run, stage, figures)
            all_figures.update(figures)
            summary.setdefault("datasets", {})[run.dataset.name] = summary_for(run)
        files.write_csv(
            stage / "claims.csv",
            ("dataset", "claim", "supported", "evidence"),
            [
                (run.dataset.name, c.text, c.supported, c.evidence)
                for run in runs
                for c in run.claims
            ],
        )
        files.write_json(stage / "summary.json", summary)
        (stage / "report.html").write_text(
            render_html(runs, all_figures, summary), encoding="utf-8"
        )
    return Path(out_dir) / "report.html"


# ------------------------------------------------------------------------------ HTML

_CSS = (
    """
body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4}.yes{color:#176317;font-weight:600}.no{color:#a11;font-weight:600}
.pair{display:flex;gap:1em;flex-wrap:wrap}.pair figure{margin:0;flex:1 1 480px}
figure img{width:100%;border:1px solid #ddd}figcaption{font-size:.85em;color:#555}
code{background:#f4f4f4;padding:0 .2em}
"""
    + files.WARNING_CSS
)


def _headline(runs: list[DatasetRun], summary: dict) -> list[str]:
    """Claims supported under each step rule, and which depend on the rule."""
    e = html.escape
    headline = summary.get("claims_by_rule")
    if not headline:
        return []
    counts = "; ".join(
        f"<strong>{c['supported']}/{c['total']}</strong> under the {e(rule)} step rule"
        for rule, c in headline["supported_by_rule"].items()
    )
    out = [
        f"<p>Supported: {counts}. The claim that W decreases is judged under the "
        "paper's step rule s = 1/i, which is what the paper claims (under backtracking "
        "W cannot increase, by construction).</p>"
    ]
    depends = headline["depend_on_rule"]
    if depends:
        out.append(
            "<p>Claims whose verdict depends on the step rule:</p><ul>"
            + "".join(
                f"<li>{e(d['dataset'])}: {e(d['claim'])} ("
                + ", ".join(
                    f"{e(rule)}: {'supported' if d[rule] else 'not supported'}"
                    for rule in headline["supported_by_rule"]
                )
                + ")</li>"
                for d in depends
            )
            + "</ul>"
        )
    else:
        out.append("<p>No claim's verdict depends on the step rule.</p>")
    return out


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _verdict(ok: bool) -> str:
    return '<span class="yes">supported</span>' if ok else '<span class="no">not supported</span>'


def render_html(runs: list[DatasetRun], figures: dict[str, bytes], summary: dict) -> str:
    """One self-contained HTML page: claims table, then each data set's figure pairs."""
    e = html.escape
    settings = summary.get("settings", {})
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>flexpoison: reproduction of Jiang et al., section V</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>A Flexible Poisoning Attack Against Machine Learning — reproduction</h1>",
        "<p>Integrity attacks (Algorithm 1) on the paper's four data sets, for "
        "α = 0.5 (effect and concealment balanced) and α = 0 (effect only), inside the "
        "3σ box. Figures (a): the attacker's objective W over the iterations while "
        "crafting a point; figures (b): E_I = ‖θ_p − θ_t‖² as the poisoning rate m/n "
        "grows. Every number behind a figure is in the CSV beside it.</p>",
        "<table><tr><th>setting</th><th>value</th></tr>",
    ]
    for key, value in settings.items():
        parts.append(f"<tr><td>{e(str(key))}</td><td><code>{e(str(value))}</code></td></tr>")
    parts.append(f"<tr><td>wall time</td><td>{summary.get('wall_time_seconds', 0):.1f} s</td></tr>")
    versions = summary.get("versions", {})
    parts.append(
        "<tr><td>versions</td><td>"
        + e(", ".join(f"{k} {v}" for k, v in versions.items()))
        + "</td></tr>"
    )
    parts.append("</table>")

    parts.append("<h2>The paper's claims, as this run found them</h2>")
    parts.extend(_headline(runs, summary))
    other = runs[0].other_rule.step if runs and runs[0].other_rule is not None else None
    parts.append(
        "<table><tr><th>data set</th><th>claim</th>"
        f"<th>verdict ({e(runs[0].step if runs else '')} step)</th>"
        + (f"<th>verdict ({e(other)} step)</th>" if other else "")
        + "<th>evidence</th></tr>"
    )
    for run in runs:
        twin = {c.key: c for c in run.other_rule.claims} if run.other_rule is not None else {}
        for c in run.claims:
            cells = f"<td>{_verdict(twin[c.key].supported)}</td>" if c.key in twin else ""
            parts.append(
                f"<tr><td>{e(run.dataset.name)}</td><td>{e(c.text)}</td>"
                f"<td>{_verdict(c.supported)}</td>{cells}<td>{e(c.evidence)}</td></tr>"
            )
    parts.append("</table>")
    parts.append(
        files.warning_note(
            [
                (f"{run.dataset.name}, α = {alpha:g}, {r.step} step", message)
                for base in runs
                for run in [base] + ([base.other_rule] if base.other_rule is not None else [])
                for alpha, r in run.runs.items()
                for message in r.result.warnings
            ]
        )
    )

    for run in runs:
        ds = run.dataset
        parts.append(f"<h2>{e(ds.name)}</h2><p>{e(ds.description)}</p>")
        parts.append(
            f"<p>Victim: <code>{e(describe_estimator(run.victim))}</code>; "
            f"{run.split.X_train.shape[0]} training rows × {ds.X.shape[1]} "
            f"features (standardised), {run.split.X_test.shape[0]} test rows.</p>"
        )
        for alpha, r in run.runs.items():
            base = f"{ds.name}/{_alpha_dir(alpha)}"
            parts.append(f"<h3>α = {alpha:g}</h3><div class='pair'>")
            for key, caption in (
                ("panel_a_W.png", "(a) W vs iteration"),
                ("panel_b_effect.png", "(b) E_I vs poisoning rate"),
            ):
                parts.append(
                    f"<figure>{_img(figures[f'{base}/{key}'], caption)}"
                    f"<figcaption>{caption} — numbers: <code>{base}/"
                    f"{'panel_a_W.csv' if 'W' in key else 'effect_vs_rate.csv'}"
                    "</code></figcaption></figure>"
                )
            parts.append("</div>")
            parts.append(
                f"<table><tr><th>rate</th><th>m</th><th>E_I</th><th>{e(run.metric_name)}</th></tr>"
            )
            for rate, m, eff, metric in _at_rates(r):
                parts.append(
                    f"<tr><td>{rate:.1%}</td><td>{m}</td><td>{eff:.4g}</td>"
                    f"<td>{metric:.4g}</td></tr>"
                )
            parts.append("</table>")
        key = f"{ds.name}/test_metric_vs_rate.png"
        parts.append(
            f"<figure>{_img(figures[key], run.metric_name)}<figcaption>"
            f"{e(run.metric_name)} of the poisoned model vs rate (the paper does "
            "not show it)</figcaption></figure>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)
