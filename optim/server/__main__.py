"""The team's tracking server: mlflow on PostgreSQL, on 127.0.0.1.

    python -m optim.server                      # start; prints the tracking.uri to use
    python -m optim.server start --auth         # reviewers and jobs sign in
    python -m optim.server user alice --campaign oxychloride   # an editor of a campaign
    python -m optim.server user optim-jobs                      # the jobs' service account
    python -m optim.server status
    python -m optim.server stop

State, logs and artifacts live in ``--folder`` (default ``runs/server``).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import warnings
from pathlib import Path

from optim.server.postgres import ServerError
from optim.server.server import ADMIN, TrackingServer

PERMISSIONS = ("READ", "EDIT", "MANAGE")


def _server(args: argparse.Namespace) -> TrackingServer:
    state = TrackingServer(Path(args.folder)).state()
    port = args.port or state.get("port", 5000)
    db_port = args.db_port or state.get("db_port", 5433)
    host = args.host or state.get("host", "127.0.0.1")
    auth = args.auth or bool(state.get("auth")) if args.command == "start" else \
        bool(state.get("auth"))
    return TrackingServer(Path(args.folder), port=port, db_port=db_port, host=host,
                          auth=auth, allowed_hosts=args.allowed_hosts,
                          cors_origins=args.cors_allowed_origins)


def _start(server: TrackingServer) -> None:
    uri = server.start()
    print(f"tracking server at {uri} (PostgreSQL on 127.0.0.1:{server.db_port}, "
          f"artifacts in {server.folder / 'artifacts'})")
    print(f"  campaigns: python -m optim campaign=oxychloride tracking.uri={uri}")
    print(f"        or: export MLFLOW_TRACKING_URI={uri}")
    if server.auth:
        print(f"  sign-in required; admin password in {server.folder / 'admin.json'}")
        print("  accounts: python -m optim.server user <name> [--campaign <campaign> ...]"
              " (EDIT on those campaigns; everyone else reads)")
        print("  jobs log as a service account: export MLFLOW_TRACKING_USERNAME=<name> "
              "MLFLOW_TRACKING_PASSWORD=<password>")
    print("  stop: python -m optim.server stop" + (
        f" --folder {server.folder}" if server.folder != Path("runs/server").resolve() else ""))


def _user(server: TrackingServer, args: argparse.Namespace) -> None:
    """Create (or update the password of) an account and grant it campaigns."""
    from mlflow.exceptions import MlflowException, RestException
    from mlflow.server.auth.client import AuthServiceClient
    from mlflow.tracking import MlflowClient

    if not server.state().get("auth"):
        raise ServerError("accounts need the server started with --auth. Fix: python -m "
                          f"optim.server stop --folder {server.folder}; then start --auth")
    if not server.healthy():
        raise ServerError(f"the server is not running at {server.uri}. Fix: python -m "
                          f"optim.server start --auth --folder {server.folder}")
    if args.name == ADMIN:
        raise ServerError(f"{ADMIN} is the server's own account (its password is in "
                          f"{server.folder / 'admin.json'}). Fix: name another account.")
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_USERNAME",
                                            "MLFLOW_TRACKING_PASSWORD")}
    os.environ["MLFLOW_TRACKING_USERNAME"] = ADMIN
    os.environ["MLFLOW_TRACKING_PASSWORD"] = server.admin_password
    try:
        tracking = MlflowClient(tracking_uri=server.uri)
        experiments = {}
        for campaign in args.campaign:
            exp = tracking.get_experiment_by_name(campaign)
            if exp is None:
                # created here it would belong to the admin, and the jobs' account could
                # not log into it: the campaign's first round creates it
                raise ServerError(
                    f"the server has no experiment {campaign!r} yet. Fix: plan the "
                    "campaign's first round as the jobs' service account (it creates the "
                    "experiment), then grant it: python -m optim.server user "
                    f"{args.name} --campaign {campaign}")
            experiments[campaign] = exp.experiment_id
        users = AuthServiceClient(server.uri)
        try:
            users.get_user(args.name)
            exists = True
        except RestException:
            exists = False
        if not exists or args.reset_password:
            password = os.environ.get("OPTIM_USER_PASSWORD") or getpass.getpass(
                f"password for {args.name}: ")
            if len(password) < 12:
                raise ServerError("the password is shorter than 12 characters (mlflow's "
                                  "minimum). Fix: a longer one (or OPTIM_USER_PASSWORD in "
                                  "the environment).")
            if exists:
                users.update_user_password(args.name, password)
                print(f"account {args.name}: password updated")
            else:
                users.create_user(args.name, password)
                print(f"created account {args.name}")
        for campaign, exp_id in experiments.items():
            try:
                users.grant_user_permission(args.name, "experiment", exp_id, args.permission)
            except MlflowException:
                users.revoke_user_permission(args.name, "experiment", exp_id)
                users.grant_user_permission(args.name, "experiment", exp_id, args.permission)
            print(f"{args.name}: {args.permission} on {campaign}")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command and its options."""
    parser = argparse.ArgumentParser(prog="python -m optim.server",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("command", nargs="?", default="start",
                        choices=("start", "stop", "status", "user"))
    parser.add_argument("name", nargs="?", help="user: the account's name")
    parser.add_argument("--folder", default="runs/server",
                        help="state, logs, artifacts (default runs/server)")
    parser.add_argument("--port", type=int, default=None, help="mlflow's port (5000)")
    parser.add_argument("--db-port", type=int, default=None, help="PostgreSQL's (5433)")
    parser.add_argument("--host", default=None,
                        help="interface to bind (127.0.0.1; another needs --auth)")
    parser.add_argument("--auth", action="store_true",
                        help="start: sign-in required (mlflow basic-auth)")
    parser.add_argument("--allowed-hosts", default=None,
                        help="start: host names besides localhost and private addresses "
                             "(tracking-host:5000), for jobs on other machines")
    parser.add_argument("--cors-allowed-origins", default=None,
                        help="start: browser origins that may write, e.g. the TLS proxy's "
                             "https://mlflow.lab.example")
    parser.add_argument("--reset-password", action="store_true",
                        help="user: set a new password for an existing account")
    parser.add_argument("--campaign", action="append", default=[],
                        help="user: grant this campaign's experiment (repeatable)")
    parser.add_argument("--permission", default="EDIT", type=str.upper,
                        choices=PERMISSIONS, help="user: on those campaigns (EDIT)")
    parser.add_argument("--keep-database", action="store_true",
                        help="stop: leave PostgreSQL running")
    args = parser.parse_args(argv)
    if args.command == "user" and not args.name:
        parser.error("user needs a name: python -m optim.server user alice")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the command; errors print one line and return 2."""
    warnings.filterwarnings("ignore", "starlette.middleware.wsgi is deprecated")
    args = parse_args(argv)
    try:
        server = _server(args)
        if args.command == "start":
            _start(server)
        elif args.command == "stop":
            server.stop(database=not args.keep_database)
            print("stopped" + (" (PostgreSQL still running)" if args.keep_database else ""))
        elif args.command == "status":
            print(server.status())
        else:
            _user(server, args)
    except ServerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Exception as err:
        from mlflow.exceptions import MlflowException

        if not isinstance(err, MlflowException):
            raise
        print(f"error: the server refused: {err.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
