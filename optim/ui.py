"""Open the review screen: the mlflow UI on a campaign store, bound to 127.0.0.1.

    python -m optim.ui                                  # store under ./runs
    python -m optim.ui --runs /data/campaigns --port 5001
    python -m optim.ui --backend-store-uri sqlite:////abs/runs/mlflow.db

It prints each campaign's runs page (mlflow 3.17 opens experiments in a GenAI view; the
links open the runs table in the classic layout, with the review columns), then replaces
itself with ``mlflow ui`` (one worker, background job execution off: 2 processes instead
of 9), so its pid is the server's.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

HOST = "127.0.0.1"
PORT = 5000
# The review view that the tracker saves on each campaign experiment (an mlflow 3.17
# saved view: experiment tag ``mlflow.sharedViewState.<id>``), and the experiment tag
# that holds it. ``workflowType=machine_learning`` opens mlflow 3.17's classic
# "Model training" layout: its UI takes the layout from this URL parameter (or the
# browser's last choice), not from the experiment's ``mlflow.experimentKind`` tag.
REVIEW_VIEW = "optim-review"
VIEW_TAG = f"mlflow.sharedViewState.{REVIEW_VIEW}"


def runs_page(experiment_id: str, tags: dict[str, str] | None = None) -> str:
    """The URL fragment of an experiment's runs table in the classic layout, with the
    review view's columns when the experiment has that view."""
    query = f"viewStateShareKey={REVIEW_VIEW}&" if VIEW_TAG in (tags or {}) else ""
    return f"#/experiments/{experiment_id}/runs?{query}workflowType=machine_learning"


def command(uri: str) -> str:
    """The ``python -m optim.ui`` command that opens the store at ``uri``.

    The default store, ``<runs>/mlflow.db``, by ``--runs <runs>`` (relative to the
    working directory when under it); any other store by ``--backend-store-uri``.
    """
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///")).resolve()
        if path.name == "mlflow.db":
            runs = path.parent
            if runs.is_relative_to(Path.cwd()):
                runs = runs.relative_to(Path.cwd())
            return f"python -m optim.ui --runs {shlex.quote(str(runs))}"
    return f"python -m optim.ui --backend-store-uri {shlex.quote(uri)}"


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, print the campaigns' review links, exec the mlflow UI."""
    parser = argparse.ArgumentParser(prog="python -m optim.ui", description=__doc__.split(
        "\n")[0])
    parser.add_argument("--runs", default="runs", help="the campaigns' runs folder")
    parser.add_argument("--backend-store-uri", default=None,
                        help="tracking store (default sqlite:///<runs>/mlflow.db)")
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, default=PORT)
    args = parser.parse_args(argv)
    uri = args.backend_store_uri or f"sqlite:///{Path(args.runs).resolve()}/mlflow.db"
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        sys.exit(f"error: no tracking store at {uri}. Fix: plan a round first "
                 "(python -m optim campaign=...), or pass --runs/--backend-store-uri.")
    from mlflow.tracking import MlflowClient

    base = f"http://{args.host}:{args.port}"
    for exp in MlflowClient(uri).search_experiments():
        if exp.name != "Default":
            print(f"{exp.name}: {base}/{runs_page(exp.experiment_id, exp.tags)}")
    print(f"Starting the mlflow UI on {base} (Ctrl-C stops it)", flush=True)
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    os.execve(sys.executable, [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri",
                               uri, "--host", args.host, "--port", str(args.port),
                               "--workers", "1"], env)


if __name__ == "__main__":
    main()
