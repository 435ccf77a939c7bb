"""`make demo`: run the demo study DAG end to end on an embedded Airflow and print the results."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))

from automl_airflow.local import configure  # noqa: E402  (sets env before Airflow is imported)

configure(ROOT / ".airflow", ROOT / "dags", ROOT / ".automl")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--study", default="demo_breast_cancer", help="study config name in dags/studies/")
    parser.add_argument("--n-trials", type=int, default=None, help="override the config's n_trials")
    args = parser.parse_args()

    from automl_airflow.factory import dag_id_for
    from automl_airflow.local import load_dags, migrate_db, run_dag_test_quietly

    started = time.time()
    print("== initializing the embedded Airflow metadata DB (SQLite) ...", flush=True)
    migrate_db()
    dags = load_dags(ROOT / "dags" / "automl_studies.py")
    dag_id = dag_id_for(args.study)
    if dag_id not in dags:
        print(f"no DAG {dag_id}; known: {sorted(dags)}", file=sys.stderr)
        return 2
    conf = {"n_trials": args.n_trials} if args.n_trials else None
    log_path = ROOT / ".airflow" / "demo.log"
    print(f"== running DAG {dag_id} with dag.test() (Airflow's log: {log_path.relative_to(ROOT)})", flush=True)
    dr = run_dag_test_quietly(dags[dag_id], log_path, conf)
    state = str(dr.state)
    print(f"== DAG run {dr.run_id}: {state} in {time.time() - started:.0f} s")
    if state != "success":
        return 1

    from automl.config import load_config
    from automl.pipeline import study_name_for
    from automl.report import run_summary

    config = load_config(ROOT / "dags" / "studies" / f"{args.study}.yaml")
    print()
    print(run_summary(config, study_name_for(config, dr.run_id)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
