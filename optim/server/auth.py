"""mlflow's basic-auth app, plus who decided: the server signs every ``decision`` tag.

Served as ``mlflow server --app-name optim-auth`` (an ``mlflow.app`` entry point of this
package). It is mlflow's own authentication app (``basic-auth``: users, passwords and
per-experiment permissions in its database; setting a run's tag needs EDIT on the
run's experiment), with two rules of its own on tag requests:

- a ``decision`` tag that the server accepted gets the tags ``decision_by`` (the signed-in
  user) and ``decision_at`` (UTC, ISO 8601), written by the server itself; the next
  round copies them into the ledger's ``decided_by`` and ``decided_at``;
- nobody sets or deletes ``decision_by`` / ``decision_at`` through the API (403): a
  signature cannot be forged or removed by a reviewer, admins included.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["SIGNATURE_TAGS", "create_app"]

DECISION_TAG = "decision"
SIGNATURE_TAGS = ("decision_by", "decision_at")


def _tag_keys(path: str, body: dict) -> list[tuple[str, str]]:
    """(key, value) of the tags a tag-writing request sets or deletes."""
    if path.endswith("/runs/set-tag") or path.endswith("/runs/delete-tag"):
        return [(str(body.get("key", "")), str(body.get("value", "")))]
    if path.endswith("/runs/log-batch"):
        return [(str(t.get("key", "")), str(t.get("value", "")))
                for t in body.get("tags", []) or []]
    return []


def _body() -> dict:
    from flask import request

    body = request.get_json(silent=True, cache=True)
    return body if isinstance(body, dict) else {}


def _refuse_signatures():
    """Before a request (after mlflow's own checks): refuse writing the signature."""
    from flask import make_response, request

    if request.method != "POST":
        return None
    keys = {k for k, _ in _tag_keys(request.path, _body())}
    bad = sorted(keys & set(SIGNATURE_TAGS))
    if bad:
        return make_response({
            "error_code": "PERMISSION_DENIED",
            "message": f"tags {bad} are written by the server when a 'decision' tag is set; "
                       "set 'decision' (approve or reject) instead."}, 403)
    return None


def _sign_decisions(response):
    """After an accepted request that set ``decision``: sign it."""
    from flask import g, request

    if request.method != "POST" or response.status_code != 200:
        return response
    body = _body()
    if not any(k == DECISION_TAG for k, _ in _tag_keys(request.path, body)) \
            or request.path.endswith("/runs/delete-tag"):
        return response
    run_id = body.get("run_id") or body.get("run_uuid")
    user = getattr(g, "mlflow_authenticated_user", None)
    if not run_id or not user:
        return response
    from mlflow.entities import RunTag
    from mlflow.server.handlers import _get_tracking_store

    stamp = datetime.now(UTC).replace(microsecond=0).isoformat()  # as the ledger writes
    _get_tracking_store().log_batch(run_id, metrics=[], params=[], tags=[
        RunTag("decision_by", str(user)), RunTag("decision_at", stamp)])
    return response


def create_app(app=None):
    """mlflow's basic-auth app with the decision signature (see the module docstring).

    Our hooks are registered after mlflow's: its authentication and permission check
    runs first, so an unauthenticated (401) or read-only (403) request never reaches
    them, and a refused decision is never signed.
    """
    from mlflow.server import app as flask_app
    from mlflow.server.auth import create_app as basic_auth

    app = flask_app if app is None else app
    served = basic_auth(app)
    app.before_request(_refuse_signatures)
    app.after_request(_sign_decisions)
    return served
