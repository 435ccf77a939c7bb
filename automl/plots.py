"""Study plots for people: one self-contained HTML report and PNG images.

Optuna's visualization module draws them (plotly for the interactive HTML,
its matplotlib twin for the PNGs); the intermediate-value curves are drawn here
so that pruned trials are marked where they were stopped.

Multi-objective studies get the Pareto front as 2-D projections (one plot per pair
of objectives; infeasible trials greyed by Optuna's constraints support), and the
single-objective plots drawn for the study metric.
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

log = logging.getLogger("automl.plots")


def _optuna_plots(config: StudyConfig | None) -> dict[str, tuple[Callable[..., Any] | None, Callable[..., Any]]]:
    import optuna.visualization as vis
    import optuna.visualization.matplotlib as vm

    if config is None or not config.is_multi_objective:
        return {
            "optimization_history": (vis.plot_optimization_history, vm.plot_optimization_history),
            "param_importances": (vis.plot_param_importances, vm.plot_param_importances),
            "parallel_coordinate": (vis.plot_parallel_coordinate, vm.plot_parallel_coordinate),
            "intermediate_values": (vis.plot_intermediate_values, _intermediate_png),
        }
    names = config.objective_names
    i = names.index(config.metric)
    on_metric: dict[str, Any] = {"target": lambda t: t.values[i], "target_name": config.metric}
    plots: dict[str, tuple[Callable[..., Any] | None, Callable[..., Any]]] = {}
    for a, b in itertools.combinations(range(len(names)), 2):
        kw: dict[str, Any] = {
            "targets": (lambda t, a=a, b=b: (t.values[a], t.values[b])),
            "target_names": [names[a], names[b]],
        }
        plots[f"pareto_front_{names[a]}_vs_{names[b]}"] = (
            partial(vis.plot_pareto_front, **kw),
            partial(vm.plot_pareto_front, **kw),
        )
    plots.update(
        {
            "optimization_history": (
                partial(vis.plot_optimization_history, **on_metric),
                partial(vm.plot_optimization_history, **on_metric),
            ),
            "param_importances": (
                partial(vis.plot_param_importances, **on_metric),
                partial(vm.plot_param_importances, **on_metric),
            ),
            "parallel_coordinate": (
                partial(vis.plot_parallel_coordinate, **on_metric),
                partial(vm.plot_parallel_coordinate, **on_metric),
            ),
            "intermediate_values": (None, partial(_intermediate_png, metric_of=_mo_metric_curve(i))),
        }
    )
    return plots


def _mo_metric_curve(i: int) -> Callable[[FrozenTrial], dict[int, float]]:
    def curve(t: FrozenTrial) -> dict[int, float]:
        from automl.pruning.control import mo_curve_of

        return {step: v[i] for step, v in mo_curve_of(t).values.items()}

    return curve


def _intermediate_png(study: optuna.Study, metric_of: Callable[[FrozenTrial], dict[int, float]] | None = None) -> Any:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for t in study.get_trials(deepcopy=False):
        curve = metric_of(t) if metric_of else t.intermediate_values
        if not curve:
            continue
        steps, values = zip(*sorted(curve.items()), strict=True)
        pruned = t.state == TrialState.PRUNED
        ax.plot(steps, values, color="tab:red" if pruned else "tab:blue", alpha=0.35 if pruned else 0.7, lw=1)
        if pruned:
            ax.scatter([steps[-1]], [values[-1]], marker="x", color="tab:red", s=25)
    ax.set_xlabel("step (boosting rounds, epochs or folds)")
    ax.set_ylabel("intermediate CV score")
    ax.set_title("Intermediate values (red x: pruned there)")
    return ax


def write_study_plots(study: optuna.Study, out_dir: Path, config: StudyConfig | None = None) -> list[Path]:
    """Write ``study_report.html`` (all interactive plots) and one PNG per plot; return the files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    html_parts: list[str] = []
    complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    for name, (html_fn, png_fn) in _optuna_plots(config).items():
        if name == "param_importances" and complete < 2:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                if html_fn is not None:
                    fig = html_fn(study)
                    html_parts.append(
                        f"<h2>{name.replace('_', ' ')}</h2>"
                        + fig.to_html(full_html=False, include_plotlyjs=not html_parts)
                    )
                ax = png_fn(study)
                figure = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
                png = out_dir / f"{name}.png"
                figure.savefig(png, dpi=110, bbox_inches="tight")
                plt.close(figure)
                written.append(png)
            except (ValueError, RuntimeError, ZeroDivisionError) as err:  # e.g. too few trials for a plot
                log.warning("plot %s skipped: %s", name, err)
    if html_parts:
        report = out_dir / "study_report.html"
        report.write_text(
            f"<html><head><meta charset='utf-8'><title>{study.study_name}</title></head><body>"
            f"<h1>Study {study.study_name}</h1>{''.join(html_parts)}</body></html>"
        )
        written.insert(0, report)
    return written
