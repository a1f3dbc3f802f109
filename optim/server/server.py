"""The team's tracking server: mlflow on a PostgreSQL backend, artifacts served by it.

``TrackingServer(folder).start()`` starts (creating on first use) a PostgreSQL cluster
of its own (:class:`~optim.server.postgres.LocalPostgres`), databases ``mlflow`` (runs)
and ``mlflow_auth`` (users, with ``auth=True``), and ``mlflow server`` in the
background with ``--artifacts-destination <folder>/artifacts``, so jobs on other
machines upload artifacts through the server instead of writing a shared folder.

Everything lives in the folder: ``server.json`` (pid, URI, ports), ``mlflow.log``, and,
readable by their owner only, ``postgres.json`` (the database password),
``flask-secret`` and, with authentication, ``auth.ini`` and ``admin.json`` (the admin
password).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from optim.server.postgres import LocalPostgres, ServerError

__all__ = ["ADMIN", "LOOPBACK", "TrackingServer"]

ADMIN = "admin"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (credentials)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode otherwise
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


@dataclass
class TrackingServer:
    """One tracking server and its database, in ``folder``.

    Args:
        folder: Where its state, logs, database (unless run as root) and artifacts live.
        port: The mlflow server's port.
        db_port: PostgreSQL's port (127.0.0.1 only).
        host: The interface mlflow binds to: loopback unless ``auth`` (README
            "Scaling out" says how to expose it safely).
        auth: Run mlflow's authentication app (``--app-name optim-auth``).
        allowed_hosts: Host names the server answers to besides localhost and private
            addresses (mlflow's ``--allowed-hosts``; e.g. ``tracking-host:5000`` for
            jobs on other machines), comma-separated.
        cors_origins: Browser origins allowed to write (mlflow's
            ``--cors-allowed-origins``; e.g. ``https://mlflow.lab.example`` behind a
            TLS proxy), comma-separated.
    """

    folder: Path
    port: int = 5000
    db_port: int = 5433
    host: str = "127.0.0.1"
    auth: bool = False
    allowed_hosts: str | None = None
    cors_origins: str | None = None
    postgres: LocalPostgres = field(init=False)

    def __post_init__(self) -> None:
        self._proc: subprocess.Popen | None = None  # the server, when this object started it
        self.folder = Path(self.folder).resolve()
        self.postgres = LocalPostgres(self.folder, self.db_port)
        if self.host not in LOOPBACK and not self.auth:
            raise ServerError(f"--host {self.host} would let anyone on the network set the "
                              "decision tags the next round applies. Fix: add --auth "
                              "(reviewers sign in), or keep 127.0.0.1 and reach it through "
                              "an SSH tunnel (README 'Scaling out').")

    @property
    def uri(self) -> str:
        """The ``tracking.uri`` of this server."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def _state_file(self) -> Path:
        return self.folder / "server.json"

    def state(self) -> dict:
        """What ``server.json`` says (empty when never started)."""
        if not self._state_file.is_file():
            return {}
        return json.loads(self._state_file.read_text())

    @property
    def admin_password(self) -> str:
        """The admin account's password (``admin.json``; created with the first start
        with authentication)."""
        path = self.folder / "admin.json"
        if not path.is_file():
            raise ServerError(f"{path} is missing: the server was never started with "
                              "--auth in this folder. Fix: python -m optim.server start "
                              f"--auth --folder {self.folder}")
        return json.loads(path.read_text())["password"]

    def _pid_alive(self) -> int | None:
        """The recorded server's pid while that process is an mlflow server (a pid
        reused after a reboot is not ours to stop)."""
        pid = self.state().get("pid")
        if not pid:
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        return pid if b"mlflow" in cmdline and b"server" in cmdline else None

    def healthy(self, timeout_s: float = 2.0) -> bool:
        """Whether the server answers ``/health``."""
        try:
            with urllib.request.urlopen(f"{self.uri}/health", timeout=timeout_s) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _auth_config(self) -> Path:
        """``auth.ini``: mlflow's auth settings, its user store in PostgreSQL; the admin
        password created once (``admin.json``), handed to mlflow by the environment."""
        self.postgres.ensure_database("mlflow_auth")
        admin = self.folder / "admin.json"
        if not admin.is_file():
            _write_private(admin, json.dumps({"username": ADMIN,
                                              "password": secrets.token_urlsafe(18)}))
        ini = self.folder / "auth.ini"
        _write_private(ini, "\n".join([
            "[mlflow]",
            # every signed-in user may read every campaign; editing (decision tags) is
            # granted per campaign: python -m optim.server user <name> --campaign ...
            "default_permission = READ",
            f"database_uri = {self.postgres.uri('mlflow_auth')}",
            f"admin_username = {ADMIN}",
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth",
            "grant_default_workspace_access = false", ""]))
        return ini

    def _secret_key(self) -> str:
        """The Flask secret (CSRF of the sign-up form), stable across restarts."""
        path = self.folder / "flask-secret"
        if not path.is_file():
            _write_private(path, secrets.token_hex(32))
        return path.read_text().strip()

    def start(self, timeout_s: float = 120.0) -> str:
        """Start PostgreSQL and the mlflow server (no-op when both run).

        Returns:
            The tracking URI.

        Raises:
            ServerError: Something did not start (with the log's tail and a fix).
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        self.postgres.start()
        self.postgres.ensure_database("mlflow")
        if self._pid_alive():
            running = self.state()
            wanted = {"port": self.port, "host": self.host, "auth": self.auth}
            differ = {k: (running.get(k), v) for k, v in wanted.items()
                      if running.get(k) != v}
            if differ:
                raise ServerError(
                    f"the server in {self.folder} already runs (pid {running['pid']}) with "
                    + ", ".join(f"{k}={old} (asked {new})" for k, (old, new) in
                                differ.items())
                    + f". Fix: python -m optim.server stop --folder {self.folder}, then "
                    "start with the new options.")
            if not self.healthy(timeout_s=10):
                raise ServerError(f"the server process {running['pid']} is alive but does "
                                  f"not answer on {self.uri} (see {self.folder}/mlflow.log)."
                                  f" Fix: python -m optim.server stop --folder "
                                  f"{self.folder}, then start.")
            return self.uri
        env = {**os.environ,
               # the database password reaches mlflow by the environment, not argv (ps)
               "MLFLOW_BACKEND_STORE_URI": self.postgres.uri("mlflow"),
               "MLFLOW_FLASK_SERVER_SECRET_KEY": self._secret_key()}
        cmd = [sys.executable, "-m", "mlflow", "server", "--host", self.host,
               "--port", str(self.port), "--workers", "2",
               "--artifacts-destination", str(self.folder / "artifacts")]
        if self.allowed_hosts:
            cmd += ["--allowed-hosts", self.allowed_hosts]
        if self.cors_origins:
            cmd += ["--cors-allowed-origins", self.cors_origins]
        if self.auth:
            env["MLFLOW_AUTH_CONFIG_PATH"] = str(self._auth_config())
            env["MLFLOW_AUTH_ADMIN_PASSWORD"] = self.admin_password
            cmd += ["--app-name", "optim-auth"]
        for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD",
                    "MLFLOW_TRACKING_URI"):
            env.pop(key, None)
        log = self.folder / "mlflow.log"
        self._prepare_stores(env)
        if self.auth:
            # mlflow's private flag: the admin exists, workers need not race to create it
            env["_MLFLOW_AUTH_ADMIN_BOOTSTRAPPED"] = "true"
        offset = log.stat().st_size if log.is_file() else 0
        with open(log, "ab") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                    stdin=subprocess.DEVNULL, start_new_session=True,
                                    cwd=self.folder)
        self._proc = proc
        self._state_file.write_text(json.dumps({
            "pid": proc.pid, "uri": self.uri, "host": self.host, "port": self.port,
            "db_port": self.db_port, "auth": self.auth}, indent=1))
        deadline = time.monotonic() + timeout_s
        while not self.healthy():
            # uvicorn's supervisor outlives workers that failed to load the app
            failed = "Traceback" in log.read_text(errors="replace")[offset:]
            if failed or proc.poll() is not None or time.monotonic() > deadline:
                self._kill(proc.pid)
                proc.wait(timeout=30)
                self._proc = None
                tail = log.read_text(errors="replace")[-2000:]
                raise ServerError(f"the mlflow server did not come up on {self.uri}:\n"
                                  f"{tail.strip()}\nFix: if the port is taken, pass "
                                  "another (--port).")
            time.sleep(0.5)
        return self.uri

    def _prepare_stores(self, env: dict[str, str]) -> None:
        """Create or migrate the databases' tables (and the admin account) once, before
        the server's workers start: each worker would otherwise migrate the same empty
        database at once, and all but one crash on the duplicate tables."""
        code = ("import os\n"
                "from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore\n"
                "SqlAlchemyStore(os.environ['MLFLOW_BACKEND_STORE_URI'], "
                f"{str(self.folder / 'artifacts')!r})\n")
        if self.auth:
            code += ("from mlflow.server.auth import bootstrap_admin_user\n"
                     "bootstrap_admin_user()\n")
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, cwd=self.folder, timeout=300, check=False)
        if done.returncode != 0:
            raise ServerError("the tracking databases could not be prepared:\n"
                              f"{done.stderr.strip()[-2000:]}")

    @staticmethod
    def _kill(pid: int, timeout_s: float = 20.0) -> None:
        """Stop the server's process group: SIGTERM, then SIGKILL."""
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            try:  # reap it when it is our child
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.2)
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def stop(self, database: bool = True) -> None:
        """Stop the mlflow server and (``database``) PostgreSQL. Nothing is deleted."""
        pid = self._pid_alive()
        if pid:
            self._kill(pid)
        if self._proc is not None:  # reap our child
            self._proc.wait(timeout=30)
            self._proc = None
        if database:
            self.postgres.stop()

    def destroy(self) -> None:
        """Stop everything and delete the database cluster and the folder (temporary
        servers: tests, benchmarks). Not reachable from the command line."""
        import shutil

        self.stop()
        data = self.postgres.data
        if data.exists():
            shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(self.folder, ignore_errors=True)

    def status(self) -> str:
        """One line per part: running or not, and where."""
        up = self.healthy()
        return "\n".join([
            f"mlflow server: {'running at ' + self.uri if up else 'not running'}"
            f"{' (sign-in required)' if up and self.state().get('auth') else ''}",
            f"PostgreSQL: {'running' if self.postgres.running else 'not running'} on "
            f"127.0.0.1:{self.db_port}, data in {self.postgres.data}",
            f"artifacts: {self.folder / 'artifacts'}"])
