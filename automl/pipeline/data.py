"""Stage ``load_data``: validate the dataset, split off the untouched holdout, write Parquet."""

from __future__ import annotations

import hashlib
import logging
import time

import pandas as pd

from automl.data import load_relational, read_dataset, split_holdout, summarize, validate
from automl.meta.features import meta_features
from automl.pipeline.artifacts import LoadedData, RunContext, write_json
from automl.study import check_search_config

log = logging.getLogger("automl.pipeline")


def load_data(ctx: RunContext) -> LoadedData:
    """Validate the dataset, split off the untouched holdout, write Parquet.

    Relational data: the target table's rows are split; every table's schema is
    checked here, so a missing column fails before anything is written.
    """
    clock_started_at = time.time()  # budget.total_s counts from here: reading the data is part of the run
    config = ctx.config
    check_search_config(config)  # the overrides against the families' parameters, before anything is read
    if config.dataset.relational:
        tables = load_relational(config)  # checks every table, column and relationship
        frame = validate(tables[str(config.dataset.target_table)].frame, config)
        fingerprint = data_fingerprint(frame, *(t.frame for t in tables.values()))
    else:
        frame = validate(read_dataset(config.dataset.source or ""), config)  # fails before anything is written
        fingerprint = data_fingerprint(frame)
    ctx.save_config()
    out = ctx.out
    split, summary = split_holdout(frame, config, out), summarize(frame, config)
    started = time.perf_counter()
    train = pd.read_parquet(split.train_path)
    if config.dataset.relational:  # ids and times say nothing about the data's nature
        t = config.dataset.tables[str(config.dataset.target_table)]
        train = train.drop(columns=[c for c in (t.index, t.time_index, config.dataset.cutoff_time) if c])
    meta = meta_features(train, config.dataset.target, config.task, config.seed)
    log.info("meta-features (training rows only, %.1f s): %s", time.perf_counter() - started, meta)
    write_json(out / "dataset_summary.json", {"summary": summary, "meta": meta})
    log.info(
        "dataset %s: %d train rows, %d holdout rows, %d columns",
        config.dataset.label,
        split.n_train,
        split.n_holdout,
        split.n_columns,
    )
    return LoadedData(
        study_name=ctx.study_name,
        config_path=ctx.config_path,
        train=str(split.train_path),
        holdout=str(split.holdout_path),
        summary=summary,
        meta=meta,
        fingerprint=fingerprint,
        started_at=clock_started_at,
    )


def data_fingerprint(*frames: pd.DataFrame) -> str:
    """A hash of the rows, columns and types of the data (a re-run on changed data must not reuse a study)."""
    h = hashlib.sha256()
    for frame in frames:
        h.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
        try:
            h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
        except TypeError:  # cells pandas cannot hash (lists, dicts): their text
            h.update(frame.to_csv(index=False).encode())
    return h.hexdigest()[:32]
