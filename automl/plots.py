"""Study plots for people: one self-contained HTML report and PNG images.

Optuna's visualization module draws them (plotly for the interactive HTML,
its matplotlib twin for the PNGs); the intermediate-value curves are drawn here
so that pruned trials are marked where they were stopped.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

log = logging.getLogger("automl.plots")


def _optuna_plots() -> dict[str, tuple[Callable[..., Any], Callable[..., Any]]]:
    import optuna.visualization as vis
    import optuna.visualization.matplotlib as vm

    return {
        "optimization_history": (vis.plot_optimization_history, vm.plot_optimization_history),
        "param_importances": (vis.plot_param_importances, vm.plot_param_importances),
        "parallel_coordinate": (vis.plot_parallel_coordinate, vm.plot_parallel_coordinate),
        "intermediate_values": (vis.plot_intermediate_values, _intermediate_png),
    }


def _intermediate_png(study: optuna.Study) -> Any:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for t in study.get_trials(deepcopy=False):
        if not t.intermediate_values:
            continue
        steps, values = zip(*sorted(t.intermediate_values.items()), strict=True)
        pruned = t.state == TrialState.PRUNED
        ax.plot(steps, values, color="tab:red" if pruned else "tab:blue", alpha=0.35 if pruned else 0.7, lw=1)
        if pruned:
            ax.scatter([steps[-1]], [values[-1]], marker="x", color="tab:red", s=25)
    ax.set_xlabel("step (boosting rounds, epochs or folds)")
    ax.set_ylabel("intermediate CV score")
    ax.set_title("Intermediate values (red x: pruned there)")
    return ax


def write_study_plots(study: optuna.Study, out_dir: Path) -> list[Path]:
    """Write ``study_report.html`` (all interactive plots) and one PNG per plot; return the files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    html_parts: list[str] = []
    complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    for name, (html_fn, png_fn) in _optuna_plots().items():
        if name == "param_importances" and complete < 2:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fig = html_fn(study)
                html_parts.append(
                    f"<h2>{name.replace('_', ' ')}</h2>" + fig.to_html(full_html=False, include_plotlyjs=not html_parts)
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
