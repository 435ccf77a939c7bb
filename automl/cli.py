"""The ``automl`` command: run a study without Airflow, show a leaderboard, validate a config.

    automl validate CONFIG|DIR
    automl run CONFIG [--n-trials N] [--parallelism P] [--resume STUDY]
    automl leaderboard STUDY|CONFIG [--config CONFIG] [--storage URL] [--top K]
    automl studies CONFIG
    automl predict MODEL_URI INPUT -o OUTPUT [--tracking-uri URI] [--table NAME=PATH ...]

``run`` runs the pipeline the DAG runs (``automl.pipeline``) with the local runner: trial slots
as ``python -m automl.worker`` processes (``parallelism`` at a time) while this process plays
the pruning sensor (the central pruning rule, stale trials, the time budget) and draws a
progress bar.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from automl.config import ConfigError, StudyConfig, load_config, load_folder

# Each command imports what it needs inside its function: `automl validate` (and --help) stay quick,
# without the pandas/Optuna/MLflow imports that running or reading a study takes.
from automl.redact import redact


def _checked(path: Path, cfg: StudyConfig | ConfigError) -> StudyConfig | ConfigError:
    """The config after the checks that need the model families (its search-space overrides)."""
    if isinstance(cfg, StudyConfig) and (cfg.search_space or cfg.sampler_options or cfg.pruning.options):
        from automl.study import check_search_config

        try:
            check_search_config(cfg, str(path))
        except ConfigError as err:
            return err
    return cfg


def _validate(args: argparse.Namespace) -> int:
    """One config file, or every study config of a folder (as the DAG file loads them: names must be unique)."""
    if args.config.is_dir():
        results = {p: _checked(p, c) for p, c in load_folder(args.config).items()}
    else:
        try:
            results = {args.config: _checked(args.config, load_config(args.config))}
        except ConfigError as err:
            results = {args.config: err}
    for path, cfg in results.items():
        if isinstance(cfg, ConfigError):
            print(cfg, file=sys.stderr)
        else:
            print(
                f"{path}: valid study '{cfg.name}' ({cfg.task}, {cfg.metric}, models {', '.join(cfg.model_space)}, "
                f"{cfg.budget.n_trials} trials)"
            )
    bad = sum(isinstance(c, ConfigError) for c in results.values())
    if args.config.is_dir():
        print(f"{args.config}: {len(results) - bad} valid, {bad} invalid study config(s)")
    return 2 if bad or not results else 0


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    # per command: `automl validate` stays quick (the runner brings pandas, Optuna and MLflow)
    from automl.pipeline import LocalRunner, PassReport, SelectedFeatures
    from automl.pipeline.search import SearchIncomplete
    from automl.report import run_summary
    from automl.storage import StorageError
    from automl.study import prepare_resume

    try:
        cfg = load_config(args.config)
        overrides = {
            k: v
            for k, v in (("n_trials", args.n_trials), ("parallelism", args.parallelism), ("total_s", args.total_s))
            if v
        }
        cfg = cfg.with_overrides(overrides) if overrides else cfg
        if args.resume:  # the same study (and MLflow parent run): n_trials more trials
            cfg = prepare_resume(cfg, args.resume, args.n_trials)
    except (ConfigError, StorageError) as err:
        print(err, file=sys.stderr)
        return 2
    bar = tqdm(total=cfg.budget.n_trials, unit="trial", disable=args.quiet, dynamic_ncols=True)

    def show(p: PassReport) -> None:
        bar.n = p.finished
        best = "-" if p.best_value is None else f"{p.best_value:.5f}"
        bar.set_postfix_str(f"pruned {p.pruned}, failed {p.failed}, running {p.running}, best {best}")
        bar.refresh()

    # a lively bar: pass at least every 2 s (the sensor's poke interval is for a scheduler)
    run_id = ("resume__" if args.resume else "cli__") + datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%S")
    runner = LocalRunner(
        cfg,
        run_id,
        runner="automl-cli",
        on_progress=show,
        poke_s=min(cfg.pruning.poke_interval_s, 2),
        study_name=args.resume or None,
    )
    print(f"study {runner.ctx.study_name}")
    try:
        result = runner.run()
    except SearchIncomplete as err:  # the watcher: the run did not do the work it would report
        bar.close()
        print(f"error: {err}", file=sys.stderr)
        return 1
    bar.close()
    if result.search.slots_failed:
        print(
            f"warning: trial slot(s) {result.search.slots_failed} exited with an error "
            f"(logs: {runner.ctx.out / 'slot_logs'})",
            file=sys.stderr,
        )
    selected = result.outputs["select_features"]
    assert isinstance(selected, SelectedFeatures)
    print(f"features: {selected.n_generated} generated, {selected.n_selected} kept")
    print(run_summary(cfg, result.study_name))
    return 0


def _study_names(config: StudyConfig) -> list[str]:
    """The config's studies in the storage, oldest first."""
    import optuna

    from automl.storage import get_storage

    summaries = optuna.get_all_study_summaries(get_storage(config.storage_url), include_best_trial=False)
    # by the config stored with the study: a name prefix would also match config 'a__b' for config 'a'
    return [s.study_name for s in summaries if (s.user_attrs.get("config") or {}).get("name") == config.name]


def _leaderboard(args: argparse.Namespace) -> int:
    """``STUDY`` is a study name (its config is read from the study itself unless ``--config`` names it),
    or a config file (its latest study)."""
    import optuna

    from automl.config import default_storage_url
    from automl.storage import StorageError, get_storage
    from automl.study import format_leaderboard, leaderboard, open_study, study_config

    try:
        config = load_config(args.config) if args.config else None
        name = args.study
        if name.endswith((".yaml", ".yml")) and Path(name).is_file():
            config = load_config(name)
            names = _study_names(config)
            if not names:
                raise StorageError(f"no study of config '{config.name}' in {redact(config.storage_url)}; run one first")
            name = names[-1]
            print(f"latest study of {args.study}: {name}", file=sys.stderr)
        if config is None:
            url = args.storage or default_storage_url()
            try:
                stored = optuna.load_study(study_name=name, storage=get_storage(url))
            except KeyError:
                raise StorageError(f"study {name!r} does not exist in {redact(url)}") from None
            config = study_config(stored)
        study = open_study(config, name)
    except (ConfigError, StorageError) as err:
        print(err, file=sys.stderr)
        return 2
    print(format_leaderboard(leaderboard(study, top=args.top), config.metric))
    return 0


def _latest(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args.config)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    print("\n".join(_study_names(cfg)[-args.top :]))
    return 0


def _predict(args: argparse.Namespace) -> int:
    """Score a CSV/Parquet file with a registered model (``models:/automl-<study>@champion``)."""
    import os

    from mlflow.exceptions import MlflowException

    from automl.model.scoring import ScoringError, score_file
    from automl.paths import state_dir

    uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{state_dir() / 'mlflow.db'}"
    params = {}
    for item in args.table or []:
        table, sep, path = item.partition("=")
        if not sep or not table or not path:
            print(f"error: --table takes NAME=PATH, not {item!r}", file=sys.stderr)
            return 2
        params[f"table_{table}"] = path
    try:
        result = score_file(args.model_uri, args.input, args.output, tracking_uri=uri, params=params or None)
    except ScoringError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except MlflowException as err:  # an unknown model, alias or version
        print(f"error: {redact(str(err).splitlines()[0])}", file=sys.stderr)
        return 2
    version = f" version {result.model_version}" if result.model_version else ""
    print(f"{result.rows} rows scored by {args.model_uri}{version} -> {result.output} ({result.seconds:.1f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="automl", description="AutoML studies without Airflow.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("validate", help="check a study config; exit 2 with the errors")
    p.add_argument("config", type=Path)
    p.set_defaults(fn=_validate)
    p = sub.add_parser("run", help="run a study end to end locally")
    p.add_argument("config", type=Path)
    p.add_argument("--n-trials", type=int)
    p.add_argument("--parallelism", type=int)
    p.add_argument(
        "--total-s",
        type=int,
        metavar="SECONDS",
        help="end-to-end budget (budget.total_s): from reading the data to the fitted final model",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--resume",
        metavar="STUDY",
        help="add trials (--n-trials, default the config's n_trials) to this existing study and its MLflow parent run",
    )
    p.set_defaults(fn=_run)
    p = sub.add_parser("leaderboard", help="the top trials of a study")
    p.add_argument("study", help="a study name (see `automl studies CONFIG`), or a config file: its latest study")
    p.add_argument("--config", type=Path, help="the study's config (default: the one stored with the study)")
    p.add_argument("--storage", help="study storage URL (default: $AUTOML_STORAGE or .automl/optuna.db)")
    p.add_argument("--top", type=int, default=10)
    p.set_defaults(fn=_leaderboard)
    p = sub.add_parser("studies", help="the latest studies of a config")
    p.add_argument("config", type=Path)
    p.add_argument("--top", type=int, default=10)
    p.set_defaults(fn=_latest)
    p = sub.add_parser("predict", help="score a CSV/Parquet file of raw rows with a registered model")
    p.add_argument("model_uri", help="e.g. models:/automl-<study>@champion, models:/NAME/3, runs:/RUN_ID/model")
    p.add_argument("input", type=Path, help="rows to score (.csv or .parquet), the training data's columns")
    p.add_argument(
        "-o", "--output", type=Path, required=True, help="predictions (.csv or .parquet), written atomically"
    )
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or .automl/mlflow.db)")
    p.add_argument(
        "--table",
        action="append",
        metavar="NAME=PATH",
        help="relational models: read the related table NAME from PATH (default: the training config's path)",
    )
    p.set_defaults(fn=_predict)
    args = parser.parse_args(argv)
    return int(args.fn(args))


if __name__ == "__main__":
    sys.exit(main())
