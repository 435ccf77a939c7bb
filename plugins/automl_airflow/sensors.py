"""The pruning sensor: the central pruning manager, beside the mapped trial slots.

Every poll it runs one pass of ``automl.pipeline.search.pruning_pass`` (the same pass the local
runner makes) on the study
storage (fail stale-heartbeat trials and retry their parameters once, stop
running trials when the time budget is spent, apply the pruning rule and write
stop signals), logs progress, and succeeds when every trial slot has ended.
With ``executor.kind: kubernetes`` it also enforces: a trial still running
``pruning.stop_grace_s`` after its stop signal is ended PRUNED and its pod is
deleted (``automl_airflow.k8s_pods.TrialPodReaper``).
In ``reschedule`` mode it holds no worker slot while it waits.
"""

from __future__ import annotations

import time
from typing import Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from automl_airflow.mlflow_links import MLFLOW_LINKS

ENDED = {"success", "failed", "skipped", "upstream_failed", "removed"}


class StudyProgressSensor(BaseSensorOperator):
    """Prune and watch an AutoML study until every trial slot has ended.

    :param study: the ``create_study`` result (study name, config path, slots).
    :param trial_task_id: the mapped task whose instances are the trial slots.
    """

    template_fields = ("study",)
    ui_color = "#f0e4ff"
    operator_extra_links = MLFLOW_LINKS

    def __init__(self, *, study: Any, trial_task_id: str = "run_trial", **kwargs: Any) -> None:
        kwargs.setdefault("mode", "reschedule")
        super().__init__(**kwargs)
        self.study = study
        self.trial_task_id = trial_task_id

    def _slot_states(self, context: Any) -> list[str]:
        ti = context["ti"]
        states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id], task_ids=[self.trial_task_id])
        per_run = states.get(ti.run_id, {})
        return [str(s) for key, s in per_run.items() if key.startswith(self.trial_task_id)]

    def poke(self, context: Any) -> PokeReturnValue:
        from automl.pipeline import RunContext
        from automl.pipeline.search import pruning_pass
        from automl.storage import is_transient
        from automl_airflow.connections import apply_connections

        ctx = RunContext(self.study["config_path"], self.study["study_name"])
        config = ctx.config
        apply_connections(config)
        reaper = None
        if config.executor.kind == "kubernetes":
            from automl_airflow.k8s_pods import TrialPodReaper

            reaper = TrialPodReaper(config, self.study["study_name"])
        try:
            progress = pruning_pass(ctx, stop_process=reaper).to_xcom()
        except Exception as err:
            if not is_transient(err):
                raise
            # the storage restarting is not the sensor's failure: the workers retry, so does the next poke
            self.log.warning("study storage unavailable (%s: %s); looking again next poke", type(err).__name__, err)
            return PokeReturnValue(is_done=False)
        states = self._slot_states(context)
        n_slots = len(self.study["slots"])
        ended = sum(s in ENDED for s in states)
        self.log.info("study %s: %s; slots ended %d/%d", self.study["study_name"], progress["line"], ended, n_slots)
        done = len(states) >= n_slots and ended >= n_slots
        if done and progress["running"]:
            # a slot ended (e.g. killed) while its trial is still marked running: not lost, reported
            self.log.warning("%d trial(s) still marked running after every slot ended", progress["running"])
        return PokeReturnValue(is_done=done, xcom_value={**progress, "slots_ended": ended, "checked_at": time.time()})
