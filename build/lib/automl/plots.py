"""Study plots for people: one self-contained HTML report and PNG images.

Optuna's visualization module draws them (plotly for the interactive HTML,
its matplotlib twin for the PNGs): optimization history, parameter importances,
parallel coordinates, and for a multi-objective study the Pareto front. The
intermediate-value curves are drawn here (plotly and matplotlib) so that pruned
trials are marked where they were stopped.

A multi-objective study with its config gets the Pareto front as 2-D projections
(one plot per pair of objectives; infeasible trials greyed by Optuna's constraints
support) and the single-objective plots drawn for the study metric, whose
intermediate values come from the vectors the trials reported.
"""

from __future__ import annotations

import itertools
import logging
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from automl.config import StudyConfig
from automl.pruning.control import mo_curve_of

log = logging.getLogger("automl.plots")

Curve = Callable[[FrozenTrial], dict[int, float]]
Plots = dict[str, tuple[Callable[..., Any], Callable[..., Any]]]


def _objective_names(study: optuna.Study) -> list[str]:
    names = study.metric_names
    return list(names) if names else [f"objective {i}" for i in range(len(study.directions))]


def _single_objective_views(target: dict[str, Any], curve: Curve | None = None) -> Plots:
    import optuna.visualization as vis
    import optuna.visualization.matplotlib as vm

    return {
        "optimization_history": (
            partial(vis.plot_optimization_history, **target),
            partial(vm.plot_optimization_history, **target),
        ),
        "param_importances": (
            partial(vis.plot_param_importances, **target),
            partial(vm.plot_param_importances, **target),
        ),
        "parallel_coordinate": (
            partial(vis.plot_parallel_coordinate, **target),
            partial(vm.plot_parallel_coordinate, **target),
        ),
        "intermediate_values": (partial(_intermediate_html, curve=curve), partial(_intermediate_png, curve=curve)),
    }


def _optuna_plots(study: optuna.Study, config: StudyConfig | None) -> Plots:
    import optuna.visualization as vis
    import optuna.visualization.matplotlib as vm

    if len(study.directions) == 1:
        return _single_objective_views({})
    if config is None or not config.is_multi_objective:  # no config: views of the first objective
        plots = _single_objective_views({"target": lambda t: t.values[0], "target_name": _objective_names(study)[0]})
        names = _objective_names(study)[:3]
        targets = None if len(study.directions) <= 3 else (lambda t: tuple(t.values[:3]))
        plots["pareto_front"] = (
            partial(vis.plot_pareto_front, target_names=names, targets=targets),
            partial(vm.plot_pareto_front, target_names=names, targets=targets),
        )
        return plots
    names = config.objective_names
    i = names.index(config.metric)
    plots = {}
    for a, b in itertools.combinations(range(len(names)), 2):
        kw: dict[str, Any] = {
            "targets": (lambda t, a=a, b=b: (t.values[a], t.values[b])),
            "target_names": [names[a], names[b]],
        }
        plots[f"pareto_front_{names[a]}_vs_{names[b]}"] = (
            partial(vis.plot_pareto_front, **kw),
            partial(vm.plot_pareto_front, **kw),
        )
    on_metric = {"target": lambda t: t.values[i], "target_name": config.metric}
    plots.update(_single_objective_views(on_metric, _mo_metric_curve(i)))
    return plots


def _mo_metric_curve(i: int) -> Curve:
    def curve(t: FrozenTrial) -> dict[int, float]:

        return {step: v[i] for step, v in mo_curve_of(t).values.items()}

    return curve


def _curves(
    study: optuna.Study, curve: Curve | None = None
) -> list[tuple[int, bool, tuple[int, ...], tuple[float, ...]]]:
    out = []
    for t in study.get_trials(deepcopy=False):
        values_by_step = curve(t) if curve else t.intermediate_values
        if values_by_step:
            steps, values = zip(*sorted(values_by_step.items()), strict=True)
            out.append((t.number, t.state == TrialState.PRUNED, steps, values))
    if not out:
        raise ValueError("no trial reported intermediate values")
    return out


def _intermediate_html(study: optuna.Study, curve: Curve | None = None) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    for number, pruned, steps, values in _curves(study, curve):
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


def _intermediate_png(study: optuna.Study, curve: Curve | None = None) -> Any:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for _number, pruned, steps, values in _curves(study, curve):
        ax.plot(steps, values, color="tab:red" if pruned else "tab:blue", alpha=0.35 if pruned else 0.7, lw=1)
        if pruned:
            ax.scatter([steps[-1]], [values[-1]], marker="x", color="tab:red", s=25)
    ax.set_xlabel("step (boosting rounds, epochs or folds)")
    ax.set_ylabel("intermediate CV score")
    ax.set_title("Intermediate values (red x: pruned there)")
    return ax


def write_study_plots(study: optuna.Study, out_dir: Path, config: StudyConfig | None = None) -> list[Path]:
    """Write ``study_report.html`` (every interactive plot, plotly.js embedded once) and one ``<plot>.png``
    per plot that the study's trials allow; return the files (a plot needing more trials is skipped)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    html_parts: list[str] = []
    complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    for name, (html_fn, png_fn) in _optuna_plots(study, config).items():
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
