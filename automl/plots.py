"""Study plots for people: one self-contained HTML report and PNG images.

Optuna's visualization module draws them (plotly for the interactive HTML,
its matplotlib twin for the PNGs): optimization history, parameter importances,
parallel coordinates, and for a multi-objective study the Pareto front. The
intermediate-value curves are drawn here (plotly and matplotlib) so that pruned
trials are marked where they were stopped.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

log = logging.getLogger("automl.plots")

#: every plot a study can get, in report order (``pareto_front``: multi-objective studies only)
PLOT_NAMES = (
    "optimization_history",
    "param_importances",
    "parallel_coordinate",
    "intermediate_values",
    "pareto_front",
)


def _objective_names(study: optuna.Study) -> list[str]:
    names = study.metric_names
    return list(names) if names else [f"objective {i}" for i in range(len(study.directions))]


def _optuna_plots(study: optuna.Study) -> dict[str, tuple[Callable[..., Any], Callable[..., Any]]]:
    import optuna.visualization as vis
    import optuna.visualization.matplotlib as vm

    plots: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {}
    target: dict[str, Any] = {}
    if len(study.directions) > 1:  # single-objective views of the first objective
        target = {"target": lambda t: t.values[0], "target_name": _objective_names(study)[0]}
    plots["optimization_history"] = (
        partial(vis.plot_optimization_history, **target),
        partial(vm.plot_optimization_history, **target),
    )
    plots["param_importances"] = (
        partial(vis.plot_param_importances, **target),
        partial(vm.plot_param_importances, **target),
    )
    plots["parallel_coordinate"] = (
        partial(vis.plot_parallel_coordinate, **target),
        partial(vm.plot_parallel_coordinate, **target),
    )
    plots["intermediate_values"] = (_intermediate_html, _intermediate_png)
    if len(study.directions) > 1:
        names = _objective_names(study)[:3]
        targets = None if len(study.directions) <= 3 else (lambda t: tuple(t.values[:3]))
        plots["pareto_front"] = (
            partial(vis.plot_pareto_front, target_names=names, targets=targets),
            partial(vm.plot_pareto_front, target_names=names, targets=targets),
        )
    return plots


def _curves(study: optuna.Study) -> list[tuple[int, bool, tuple[int, ...], tuple[float, ...]]]:
    out = []
    for t in study.get_trials(deepcopy=False):
        if t.intermediate_values:
            steps, values = zip(*sorted(t.intermediate_values.items()), strict=True)
            out.append((t.number, t.state == TrialState.PRUNED, steps, values))
    if not out:
        raise ValueError("no trial reported intermediate values")
    return out


def _intermediate_html(study: optuna.Study) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    for number, pruned, steps, values in _curves(study):
        fig.add_trace(
            go.Scatter(
                x=steps,
                y=values,
                mode="lines",
                name=f"trial {number}" + (" (pruned)" if pruned else ""),
                line={"color": "rgba(214,39,40,0.45)" if pruned else "rgba(31,119,180,0.8)", "width": 1.5},
                legendgroup="pruned" if pruned else "finished",
            )
        )
        if pruned:
            fig.add_trace(
                go.Scatter(
                    x=[steps[-1]],
                    y=[values[-1]],
                    mode="markers",
                    marker={"symbol": "x", "color": "rgb(214,39,40)", "size": 9},
                    name=f"trial {number} pruned at step {steps[-1]}",
                    legendgroup="pruned",
                    showlegend=False,
                )
            )
    fig.update_layout(
        title="Intermediate values (red x: pruned there)",
        xaxis_title="step (boosting rounds, epochs or folds)",
        yaxis_title="intermediate CV score",
    )
    return fig


def _intermediate_png(study: optuna.Study) -> Any:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for _number, pruned, steps, values in _curves(study):
        ax.plot(steps, values, color="tab:red" if pruned else "tab:blue", alpha=0.35 if pruned else 0.7, lw=1)
        if pruned:
            ax.scatter([steps[-1]], [values[-1]], marker="x", color="tab:red", s=25)
    ax.set_xlabel("step (boosting rounds, epochs or folds)")
    ax.set_ylabel("intermediate CV score")
    ax.set_title("Intermediate values (red x: pruned there)")
    return ax


def write_study_plots(study: optuna.Study, out_dir: Path) -> list[Path]:
    """Write ``study_report.html`` (every interactive plot, plotly.js embedded once) and one ``<plot>.png``
    per plot that the study's trials allow; return the files (a plot needing more trials is skipped)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    html_parts: list[str] = []
    complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    for name, (html_fn, png_fn) in _optuna_plots(study).items():
        if name == "param_importances" and complete < 2:
            log.info("plot %s skipped: needs two completed trials", name)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fig = html_fn(study)
                ax = png_fn(study)
            except (ValueError, RuntimeError, ZeroDivisionError) as err:  # e.g. too few trials for a plot
                log.warning("plot %s skipped: %s", name, err)
                continue
        title = name.replace("_", " ")
        html_parts.append(f"<h2>{title}</h2>" + fig.to_html(full_html=False, include_plotlyjs=not html_parts))
        figure = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
        png = out_dir / f"{name}.png"
        figure.savefig(png, dpi=110, bbox_inches="tight")
        plt.close(figure)
        written.append(png)
    if html_parts:
        report = out_dir / "study_report.html"
        report.write_text(
            f"<html><head><meta charset='utf-8'><title>{study.study_name}</title></head><body>"
            f"<h1>Study {study.study_name}</h1>{''.join(html_parts)}</body></html>"
        )
        written.insert(0, report)
    return written
