"""Acceptance 5: ``mlflow models serve -m models:/<name>@champion`` answers raw JSON rows."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd

from model.fixtures import user_frame


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def test_served_champion_answers_raw_json_rows(trained_study, tmp_path: Path) -> None:
    port = _free_port()
    mlflow = Path(sys.executable).parent / "mlflow"
    env = {**os.environ, "MLFLOW_TRACKING_URI": trained_study.config.mlflow_uri}
    env["PATH"] = f"{mlflow.parent}{os.pathsep}{env.get('PATH', '')}"  # the server runs `uvicorn` by name
    cmd = [str(mlflow), "models", "serve", "-m", f"models:/{trained_study.name}@champion"]
    cmd += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 90
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            assert time.time() < deadline, "the model server did not answer /ping in 90 s"
            time.sleep(0.5)
        rows = user_frame(7, seed=21).drop(columns=["label"])
        rows.loc[0, "colour"] = "purple"  # an unseen category; blanks travel as JSON null
        split = json.loads(rows.to_json(orient="split", index=False))
        answer = _post(f"http://127.0.0.1:{port}/invocations", {"dataframe_split": split})
        predictions = pd.DataFrame(answer["predictions"])
        assert len(predictions) == 7
        assert set(predictions.columns) == {"prediction", "probability_no", "probability_yes"}
        assert predictions["prediction"].isin(["yes", "no"]).all()
        # the same rows through the Python API give the same answer
        import mlflow as mlflow_api

        from automl import tracking

        with tracking.global_uri(trained_study.config):
            local = mlflow_api.pyfunc.load_model(f"models:/{trained_study.name}@champion").predict(rows)
        assert list(local["prediction"]) == list(predictions["prediction"])
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
