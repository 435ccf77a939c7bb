"""Optuna's RDB storage with the hot per-trial calls written as SQLAlchemy Core statements.

Where Optuna falls short: ``RDBStorage`` builds every trial read and every small write through the
ORM (load the trial object, check its state, load the child row, flush, commit). A worker calls these
on every report and every ask/tell, and a storage proxy serves them for every worker: measured on
PostgreSQL here, one ``get_trial`` cost 1.1 ms of CPU and one ``set_trial_intermediate_value`` 0.5 ms,
about 6x and 3x what the same statements cost through Core. :class:`FastRDBStorage` keeps Optuna's
schema, its semantics (``KeyError`` for an unknown trial, ``UpdateFinishedTrialError`` for a finished
one, NaN and infinite values, local-time datetimes, parameter distribution checks) and everything else
(study calls, trials created from a template, heartbeats, migrations) from Optuna;
it overrides only:

- ``get_trial`` and ``get_trials_since`` (what ``get_all_trials`` and Optuna's read cache call): one
  statement for the trial rows and one UNION ALL statement for all their child rows;
- ``set_trial_intermediate_value``, ``set_trial_user_attr``, ``set_trial_system_attr`` and
  ``write_trial_param`` (what ``set_trial_param`` and Optuna's read cache call): the trial's state
  checked and the row written in one short transaction;
- ``set_trial_state_values`` (row lock, values upserted, state and times set) and ``insert_trial``
  (what ``create_new_trial`` calls) without a template (study row lock, insert, number = trials
  before it), as Optuna does them.

The hooks ``get_trials_since``, ``write_trial_param`` and ``insert_trial`` are Optuna's private
methods, reached through :class:`automl.storage.compat.RDBStorageBase`.

``tests/storage/test_fast_rdb.py`` replays the same operations on both storages (SQLite and PostgreSQL)
and asserts identical trials and errors.
"""

from __future__ import annotations

import datetime
import functools
import json
import random
import time
from collections.abc import Container, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
import sqlalchemy.dialects.postgresql
import sqlalchemy.dialects.sqlite
from optuna import distributions
from optuna.trial import FrozenTrial, TrialState

from automl.storage.compat import RDBStorageBase, models

_T = models.TrialModel.__table__
_P = models.TrialParamModel.__table__
_V = models.TrialValueModel.__table__
_I = models.TrialIntermediateValueModel.__table__
_U = models.TrialUserAttributeModel.__table__
_S = models.TrialSystemAttributeModel.__table__
_VT = models.TrialValueModel.TrialValueType
_IVT = models.TrialIntermediateValueModel.TrialIntermediateValueType


def _local(utc: datetime.datetime | None) -> datetime.datetime | None:
    """Optuna stores naive UTC and hands out naive local time (``TrialModel.datetime_start``)."""
    if utc is None:
        return None
    return utc.replace(tzinfo=datetime.UTC).astimezone().replace(tzinfo=None)


def _children(trial_ids: Any) -> sa.CompoundSelect:
    """Every child row of the given trials as (trial_id, kind, key, num, fval, sval)."""
    s, i, f = sa.String, sa.Integer, sa.Float

    def row(table: sa.Table, kind: str, key: Any, num: Any, fval: Any, sval: Any, order: Any) -> sa.Select:
        return sa.select(
            table.c.trial_id,
            sa.literal(kind, s).label("kind"),
            sa.cast(key, s).label("key") if key is not None else sa.cast(sa.null(), s).label("key"),
            sa.cast(num, i).label("num") if num is not None else sa.cast(sa.null(), i).label("num"),
            sa.cast(fval, f).label("fval") if fval is not None else sa.cast(sa.null(), f).label("fval"),
            sa.cast(sval, s).label("sval") if sval is not None else sa.cast(sa.null(), s).label("sval"),
            sa.cast(order, i).label("ord"),
        ).where(table.c.trial_id.in_(trial_ids) if trial_ids is not None else table.c.trial_id == sa.bindparam("tid"))

    return sa.union_all(
        row(_P, "p", _P.c.param_name, None, _P.c.param_value, _P.c.distribution_json, _P.c.param_id),
        row(_V, "v", _V.c.value_type, _V.c.objective, _V.c.value, None, _V.c.trial_value_id),
        row(
            _I,
            "i",
            _I.c.intermediate_value_type,
            _I.c.step,
            _I.c.intermediate_value,
            None,
            _I.c.trial_intermediate_value_id,
        ),
        row(_U, "u", _U.c.key, None, None, _U.c.value_json, _U.c.trial_user_attribute_id),
        row(_S, "s", _S.c.key, None, None, _S.c.value_json, _S.c.trial_system_attribute_id),
    )


def _state(value: Any) -> TrialState:
    return value if isinstance(value, TrialState) else TrialState[str(value)]


def _build(trial_row: Any, rows: Sequence[Any]) -> FrozenTrial:
    params: list[tuple[int, str, float, str]] = []
    values: dict[int, float] = {}
    inter: dict[int, float] = {}
    user: list[tuple[int, str, str]] = []
    system: list[tuple[int, str, str]] = []
    for r in rows:
        if r.kind == "p":
            params.append((r.ord, r.key, r.fval, r.sval))
        elif r.kind == "v":
            values[r.num] = models.TrialValueModel.stored_repr_to_value(r.fval, _VT.__members__[r.key])
        elif r.kind == "i":
            inter[r.num] = models.TrialIntermediateValueModel.stored_repr_to_intermediate_value(
                r.fval, _IVT.__members__[r.key]
            )
        elif r.kind == "u":
            user.append((r.ord, r.key, r.sval))
        else:
            system.append((r.ord, r.key, r.sval))
    params.sort()
    dists = {name: distributions.json_to_distribution(dj) for _, name, _, dj in params}
    return FrozenTrial(
        number=trial_row.number,
        state=_state(trial_row.state),
        value=None,
        values=[values[k] for k in sorted(values)] if values else None,
        datetime_start=_local(trial_row.datetime_start),
        datetime_complete=_local(trial_row.datetime_complete),
        params={name: dists[name].to_external_repr(v) for _, name, v, _ in params},
        distributions=dists,
        user_attrs={k: json.loads(v) for _, k, v in sorted(user)},
        system_attrs={k: json.loads(v) for _, k, v in sorted(system)},
        intermediate_values=dict(sorted(inter.items())),
        trial_id=trial_row.trial_id,
    )


_TRIAL_COLS = (_T.c.trial_id, _T.c.number, _T.c.state, _T.c.datetime_start, _T.c.datetime_complete)
# built once: statement construction is a good part of a small query's cost in SQLAlchemy
_ONE_TRIAL = sa.select(*_TRIAL_COLS).where(_T.c.trial_id == sa.bindparam("tid"))
_ONE_TRIAL_CHILDREN = _children(None)
_STATE = sa.select(_T.c.state, _T.c.study_id).where(_T.c.trial_id == sa.bindparam("tid"))
_STUDY = sa.select(models.StudyModel.__table__.c.study_id).where(
    models.StudyModel.__table__.c.study_id == sa.bindparam("sid")
)


def _many(with_states: bool) -> tuple[sa.Select, sa.CompoundSelect]:
    where = [
        _T.c.study_id == sa.bindparam("sid"),
        sa.or_(_T.c.trial_id.in_(sa.bindparam("inc", expanding=True)), _T.c.trial_id > sa.bindparam("gt")),
    ]
    if with_states:
        where.append(sa.cast(_T.c.state, sa.String).in_(sa.bindparam("states", expanding=True)))
    return (
        sa.select(*_TRIAL_COLS).where(*where).order_by(_T.c.trial_id),
        _children(sa.select(_T.c.trial_id).where(*where)),
    )


_MANY = {False: _many(False), True: _many(True)}


@functools.cache
def _upsert_statement(dialect: str, table: sa.Table, keys: tuple[str, ...], values: tuple[str, ...]) -> Any:
    insert = sqlalchemy.dialects.postgresql.insert if dialect == "postgresql" else sqlalchemy.dialects.sqlite.insert
    stmt = insert(table).values({c: sa.bindparam(c) for c in keys + values})
    return stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in values})


_STATE_FOR_UPDATE = sa.select(_T.c.state).where(_T.c.trial_id == sa.bindparam("tid")).with_for_update()
_STUDY_FOR_UPDATE = _STUDY.with_for_update()
_COUNT_BEFORE = (
    sa.select(sa.func.count())
    .select_from(_T)
    .where(_T.c.study_id == sa.bindparam("sid"), _T.c.trial_id < sa.bindparam("tid"))
)


class FastRDBStorage(RDBStorageBase):
    """``optuna.storages.RDBStorage`` with Core fast paths for the per-trial calls (see the module doc)."""

    # ------------------------------------------------------------------ reads
    def get_trial(self, trial_id: int) -> FrozenTrial:
        with self.engine.connect() as conn:
            row = conn.execute(_ONE_TRIAL, {"tid": trial_id}).one_or_none()
            if row is None:
                raise KeyError(models.NOT_FOUND_MSG)
            children = conn.execute(_ONE_TRIAL_CHILDREN, {"tid": trial_id}).all()
        return _build(row, children)

    def get_trials_since(
        self,
        study_id: int,
        states: Container[TrialState] | None,
        included_trial_ids: set[int],
        trial_id_greater_than: int,
    ) -> list[FrozenTrial]:
        # Optuna's read cache calls this on every get_all_trials: the trials it has not seen finish
        # (included) and every newer one; prebuilt statements with expanding parameters
        included = sorted(t for t in included_trial_ids if t <= trial_id_greater_than)
        params: dict[str, Any] = {"sid": study_id, "inc": included, "gt": trial_id_greater_than}
        if states is not None:
            assert isinstance(states, Iterable)
            params["states"] = [TrialState(s).name for s in states]
        trials_stmt, children_stmt = _MANY[states is not None]
        with self.engine.connect() as conn:
            if conn.execute(_STUDY, {"sid": study_id}).one_or_none() is None:
                raise KeyError(models.NOT_FOUND_MSG)
            try:
                trials = conn.execute(trials_stmt, params).all()
                children = conn.execute(children_stmt, params).all() if trials else []
            except sa.exc.OperationalError:  # too many ids for one IN (SQLite's variable limit): filter here
                conn.rollback()
                wide = params | {"inc": [], "gt": -1}
                keep = set(included)
                trials = [
                    t
                    for t in conn.execute(trials_stmt, wide).all()
                    if t.trial_id in keep or t.trial_id > trial_id_greater_than
                ]
                children = conn.execute(children_stmt, wide).all() if trials else []
        by_trial: dict[int, list[Any]] = {t.trial_id: [] for t in trials}
        for r in children:
            if r.trial_id in by_trial:  # not a trial that entered the filter between the two statements
                by_trial[r.trial_id].append(r)
        return [_build(t, by_trial[t.trial_id]) for t in trials]

    # ------------------------------------------------------------------ writes
    def _check_updatable(self, conn: sa.Connection, trial_id: int) -> int:
        """The trial's study id; ``KeyError`` / ``UpdateFinishedTrialError`` as Optuna raises them."""
        row = conn.execute(_STATE, {"tid": trial_id}).one_or_none()
        if row is None:
            raise KeyError(models.NOT_FOUND_MSG)
        self.check_trial_is_updatable(trial_id, _state(row.state))
        return int(row.study_id)

    def _upsert(self, conn: sa.Connection, table: sa.Table, keys: dict[str, Any], values: dict[str, Any]) -> None:
        if self.engine.name in ("postgresql", "sqlite"):
            conn.execute(_upsert_statement(self.engine.name, table, tuple(keys), tuple(values)), keys | values)
            return
        updated = conn.execute(
            table.update().where(*[table.c[k] == v for k, v in keys.items()]).values(**values)
        ).rowcount
        if not updated:
            conn.execute(table.insert().values(**keys, **values))

    def set_trial_intermediate_value(self, trial_id: int, step: int, intermediate_value: float) -> None:
        stored, kind = models.TrialIntermediateValueModel.intermediate_value_to_stored_repr(intermediate_value)
        with self.engine.begin() as conn:
            self._check_updatable(conn, trial_id)
            self._upsert(
                conn,
                _I,
                {"trial_id": trial_id, "step": step},
                {"intermediate_value": stored, "intermediate_value_type": kind},
            )

    def _set_attr(self, table: sa.Table, trial_id: int, key: str, value: Any) -> None:
        with self.engine.begin() as conn:
            self._check_updatable(conn, trial_id)
            self._upsert(conn, table, {"trial_id": trial_id, "key": key}, {"value_json": json.dumps(value)})

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._set_attr(_U, trial_id, key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._set_attr(_S, trial_id, key, value)

    def write_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: distributions.BaseDistribution,
        previous_distribution: distributions.BaseDistribution | None,
    ) -> None:
        # Optuna's read cache calls this one (with the distribution it has seen for the name), the
        # public set_trial_param calls it with None, as in RDBStorage
        with self.engine.begin() as conn:
            study_id = self._check_updatable(conn, trial_id)
            if previous_distribution is not None:
                distributions.check_distribution_compatibility(previous_distribution, distribution)
            else:
                previous = conn.execute(
                    sa.select(_P.c.distribution_json)
                    .join(_T, _T.c.trial_id == _P.c.trial_id)
                    .where(_T.c.study_id == study_id, _P.c.param_name == param_name)
                    .limit(1)
                ).scalar_one_or_none()
                if previous is not None:
                    distributions.check_distribution_compatibility(
                        distributions.json_to_distribution(previous), distribution
                    )
            conn.execute(
                _P.insert().values(
                    trial_id=trial_id,
                    param_name=param_name,
                    param_value=param_value_internal,
                    distribution_json=distributions.distribution_to_json(distribution),
                )
            )

    def insert_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> FrozenTrial:
        if template_trial is not None:  # enqueued / copied trials: Optuna's path
            return super().insert_trial(study_id, template_trial)
        for attempt in range(1, 6):  # as Optuna: retry a deadlock a few times
            try:
                with self.engine.begin() as conn:
                    # the study row lock serializes numbering, as in Optuna
                    if conn.execute(_STUDY_FOR_UPDATE, {"sid": study_id}).one_or_none() is None:
                        raise KeyError(models.NOT_FOUND_MSG)
                    start = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
                    trial_id = conn.execute(
                        _T.insert()
                        .values(study_id=study_id, number=None, state=TrialState.RUNNING, datetime_start=start)
                        .returning(_T.c.trial_id)
                    ).scalar_one()
                    number = conn.execute(_COUNT_BEFORE, {"sid": study_id, "tid": trial_id}).scalar_one()
                    conn.execute(_T.update().where(_T.c.trial_id == trial_id).values(number=number))
            except sa.exc.OperationalError:
                if attempt == 5:
                    raise
                time.sleep(random.random() * 2.0)
                continue
            return FrozenTrial(
                number=number,
                state=TrialState.RUNNING,
                value=None,
                values=None,
                datetime_start=_local(start),
                datetime_complete=None,
                params={},
                distributions={},
                user_attrs={},
                system_attrs={},
                intermediate_values={},
                trial_id=trial_id,
            )
        raise AssertionError("not reached")

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Any = None) -> bool:
        if state == TrialState.RUNNING and not values:
            return self._claim_waiting(trial_id)
        try:
            with self.engine.begin() as conn:
                row = conn.execute(_STATE_FOR_UPDATE, {"tid": trial_id}).one_or_none()
                if row is None:
                    raise KeyError(models.NOT_FOUND_MSG)
                current = _state(row.state)
                self.check_trial_is_updatable(trial_id, current)
                for objective, v in enumerate(values if values is not None else []):
                    stored, kind = models.TrialValueModel.value_to_stored_repr(v)
                    self._upsert(
                        conn, _V, {"trial_id": trial_id, "objective": objective}, {"value": stored, "value_type": kind}
                    )
                if state == TrialState.RUNNING and current != TrialState.WAITING:
                    return False  # values written above are kept, as in Optuna
                now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
                update: dict[str, Any] = {"state": state}
                if state == TrialState.RUNNING:
                    update["datetime_start"] = now
                if state.is_finished():
                    update["datetime_complete"] = now
                conn.execute(_T.update().where(_T.c.trial_id == trial_id).values(**update))
        except sa.exc.IntegrityError:
            return False
        return True

    def _claim_waiting(self, trial_id: int) -> bool:
        """WAITING -> RUNNING in one conditional UPDATE: of two workers popping the same enqueued trial, exactly
        one gets it. (A SELECT ... FOR UPDATE then UPDATE is not enough on SQLite: its driver runs the SELECT
        outside the transaction and there is no row lock, so both saw WAITING and both ran the trial; found when
        the portfolio enqueued trials for two slots at once.)"""
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        with self.engine.begin() as conn:
            claimed = conn.execute(
                _T.update()
                .where(_T.c.trial_id == trial_id, _T.c.state == TrialState.WAITING)
                .values(state=TrialState.RUNNING, datetime_start=now)
            ).rowcount
            if claimed == 1:
                return True
            row = conn.execute(_STATE_FOR_UPDATE, {"tid": trial_id}).one_or_none()
        if row is None:
            raise KeyError(models.NOT_FOUND_MSG)
        self.check_trial_is_updatable(trial_id, _state(row.state))  # a finished trial: Optuna's error
        return False  # another worker took it, or it runs already
