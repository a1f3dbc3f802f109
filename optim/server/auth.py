"""mlflow's basic-auth app, plus who decided: the server signs every ``decision`` tag.

Served as ``mlflow server --app-name optim-auth`` (an ``mlflow.app`` entry point of this
package). It is mlflow's own authentication app (``basic-auth``: users, passwords and
per-experiment permissions in its database; writing a run's tags needs EDIT on the
run's experiment), with rules of its own on requests that write run tags
(``runs/set-tag``, ``runs/delete-tag``, ``runs/log-batch``, ``runs/create``, under
``/api/`` and ``/ajax-api/``), checked after mlflow's own authentication and permission
check:

- ``runs/set-tag`` of ``decision`` is written by the server itself, in one write with
  ``decision_by`` (the signed-in account) and ``decision_at`` (UTC, ISO 8601): a round
  never reads a decision without its signature. A ``decision`` in a ``log-batch`` (the
  jobs' account applying a command-line decision) is signed right after it.
  ``delete-tag`` of ``decision`` removes the signature too.
- nobody sets or deletes ``decision_by`` / ``decision_at`` through the API, admins
  included (403), and a new run cannot carry a ``decision``;
- the tags that make a run one of the campaign's proposals (``kind``, ``ledger_id``,
  ``round``, ``decision_applied``) are written only by accounts that MANAGE the
  experiment (the jobs' account, which created it) or admins: a reviewer (EDIT) cannot
  make a run of their own pass for a proposal, or move a decision to another one.

This reads two private helpers of mlflow 3.17's auth module (``_get_experiment_permission``,
``sender_is_admin``); the version is pinned below 3.18 in pyproject.toml.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

__all__ = ["DECISION_TAG", "SIGNATURE_TAGS", "STRUCTURE_TAGS", "create_app"]

DECISION_TAG = "decision"
SIGNATURE_TAGS = ("decision_by", "decision_at")
STRUCTURE_TAGS = ("kind", "ledger_id", "round", "decision_applied")
_ENDPOINTS = ("/runs/set-tag", "/runs/delete-tag", "/runs/log-batch", "/runs/create",
              "/runs/create-promptlab-run")


def _endpoint(path: str) -> str | None:
    return next((e for e in _ENDPOINTS if path.endswith(e)), None)


def _body() -> dict | None:
    """The request's JSON, decoded as mlflow's handlers decode it (a JSON string holding
    JSON is decoded again); ``None`` when it is not an object."""
    from flask import request

    body = request.get_json(silent=True, cache=True)
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except json.JSONDecodeError:
            return None
    return body if isinstance(body, dict) else None


def _tags(endpoint: str, body: dict) -> list[tuple[str, str]]:
    """(key, value) of the tags a request writes or deletes."""
    if endpoint in ("/runs/set-tag", "/runs/delete-tag"):
        return [(str(body.get("key", "")), str(body.get("value", "")))]
    return [(str(t.get("key", "")), str(t.get("value", "")))
            for t in body.get("tags", []) or [] if isinstance(t, dict)]


def _denied(message: str, status: int = 403):
    from flask import make_response

    return make_response({"error_code": "PERMISSION_DENIED", "message": message}, status)


def _experiment_of(endpoint: str, body: dict) -> str | None:
    from mlflow.server.handlers import _get_tracking_store

    if endpoint.startswith("/runs/create"):
        return str(body.get("experiment_id", "")) or None
    run_id = body.get("run_id") or body.get("run_uuid")
    try:
        return _get_tracking_store().get_run(run_id).info.experiment_id
    except Exception:  # noqa: BLE001 - an unknown run: mlflow's handler answers
        return None


def _manages(experiment_id: str | None) -> bool:
    from flask import g
    from mlflow.server.auth import _get_experiment_permission, sender_is_admin

    if sender_is_admin():
        return True
    user = getattr(g, "mlflow_authenticated_user", None)
    return bool(user and experiment_id
                and _get_experiment_permission(experiment_id, user).can_manage)


def _stamp() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()  # as the ledger writes


def _guard():
    """Before a request (after mlflow's own checks): the rules of the module docstring.
    Returns a response to answer with, or ``None`` to let mlflow handle the request."""
    from flask import g, request

    endpoint = _endpoint(request.path)
    if request.method != "POST" or endpoint is None:
        return None
    body = _body()
    if body is None:
        return _denied("the request body is not a JSON object")
    keys = {k for k, _ in _tags(endpoint, body)}
    if keys & set(SIGNATURE_TAGS):
        return _denied(f"tags {sorted(keys & set(SIGNATURE_TAGS))} are written by the "
                       "server when a 'decision' tag is set; set 'decision' (approve or "
                       "reject) instead.")
    if endpoint.startswith("/runs/create") and DECISION_TAG in keys:
        return _denied("a new run cannot carry a 'decision': set it on a proposal's run")
    if keys & set(STRUCTURE_TAGS) and not _manages(_experiment_of(endpoint, body)):
        return _denied(f"tags {sorted(keys & set(STRUCTURE_TAGS))} are the campaign's own "
                       "(written by the account that manages its experiment); a reviewer "
                       "sets 'decision' only.")
    if endpoint == "/runs/set-tag" and body.get("key") == DECISION_TAG:
        return _set_signed(body, str(getattr(g, "mlflow_authenticated_user", "")))
    return None


def _set_signed(body: dict, user: str):
    """Write a decision and its signature in one ``log_batch``; answer as SetTag does."""
    from flask import make_response
    from mlflow.entities import RunTag
    from mlflow.exceptions import MlflowException
    from mlflow.server.handlers import _get_tracking_store

    run_id = body.get("run_id") or body.get("run_uuid")
    try:
        _get_tracking_store().log_batch(str(run_id), metrics=[], params=[], tags=[
            RunTag(DECISION_TAG, str(body.get("value", ""))), RunTag("decision_by", user),
            RunTag("decision_at", _stamp())])
    except MlflowException as err:
        return make_response(json.loads(err.serialize_as_json()), err.get_http_status_code())
    return make_response({}, 200)


def _after(response):
    """After an accepted ``log-batch`` with a decision: sign it. After ``delete-tag`` of
    the decision: remove its signature."""
    from flask import g, request
    from mlflow.entities import RunTag
    from mlflow.server.handlers import _get_tracking_store

    endpoint = _endpoint(request.path)
    if request.method != "POST" or response.status_code != 200 or endpoint not in (
            "/runs/log-batch", "/runs/delete-tag"):
        return response
    body = _body() or {}
    if DECISION_TAG not in {k for k, _ in _tags(endpoint, body)}:
        return response
    run_id = str(body.get("run_id") or body.get("run_uuid"))
    store = _get_tracking_store()
    if endpoint == "/runs/delete-tag":
        tags = store.get_run(run_id).data.tags
        for key in SIGNATURE_TAGS:
            if key in tags:
                store.delete_tag(run_id, key)
    else:
        store.log_batch(run_id, metrics=[], params=[], tags=[
            RunTag("decision_by", str(getattr(g, "mlflow_authenticated_user", ""))),
            RunTag("decision_at", _stamp())])
    return response


def create_app(app=None):
    """mlflow's basic-auth app with the rules of the module docstring.

    Our hooks are registered after mlflow's: its authentication and permission check
    runs first, so an unauthenticated (401) or read-only (403) request never reaches
    them, and a refused decision is never signed.
    """
    from mlflow.server import app as flask_app
    from mlflow.server.auth import create_app as basic_auth

    app = flask_app if app is None else app
    served = basic_auth(app)
    app.before_request(_guard)
    app.after_request(_after)
    return served
