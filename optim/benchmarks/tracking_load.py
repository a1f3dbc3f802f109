"""Tracking under load: rounds per minute and tracking latency for 1, 4 and 16
concurrent campaign jobs logging to one tracking server (PostgreSQL backend).

    python -m optim.benchmarks.tracking_load                     # starts its own server
    python -m optim.benchmarks.tracking_load --jobs 1 4 16 --rounds 4
    python -m optim.benchmarks.tracking_load --uri http://team-server:5000   # an existing one

Each job is a separate process running an unattended closed loop on a simulated lab
(alternately oxychloride and interlayer; ``strategy=random`` by default, so that the
model's compute does not hide what tracking costs), its own ledger, its own mlflow
experiment. The jobs start together (after their imports). Per setting it prints:
rounds per minute over all jobs, the wall seconds per round a job spent in tracking
calls (``log_round``: runs, params, metrics, the figures rendered to PNG and
uploaded; ``log_measurements``; ``decisions``;
median and 90th percentile over all rounds), the job's process CPU seconds per round,
and the server's CPU seconds (its process group, from /proc) per round.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import socket
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

CAMPAIGNS = ("oxychloride", "interlayer")
TIMED = ("log_round", "log_measurements", "decisions", "mark_decisions")


class _Timed:
    """A tracker whose calls are timed (wall seconds per method, per round)."""

    def __init__(self, tracker) -> None:
        self._tracker = tracker
        self.seconds: list[float] = []  # per round: tracking wall seconds
        self._current = 0.0

    def __getattr__(self, name: str):
        attr = getattr(self._tracker, name)
        if name not in TIMED or not callable(attr):
            return attr

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                self._current += time.perf_counter() - start
        return timed

    def close_round(self) -> None:
        self.seconds.append(self._current)
        self._current = 0.0


def _job(index: int, uri: str, runs: str, rounds: int, strategy: str, tag: str,
         barrier) -> dict:
    """One job: compose, wait for the others, run the loop; its timings."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from optim.campaign import Campaign

    name = CAMPAIGNS[index % len(CAMPAIGNS)]
    campaign = Campaign.from_config(name, [
        f"paths.runs={runs}/{tag}/job{index}", f"tracking.uri={uri}",
        f"tracking.experiment=load-{tag}-job{index}", f"strategy={strategy}",
        "lab=simulated", f"seed={index}", "tracking.http_max_retries=2"])
    timed = _Timed(campaign.tracker)
    campaign.tracker = timed
    barrier.wait()
    start, cpu = time.time(), time.process_time()
    # the measurements of round r are logged by round r's record step; a round's
    # tracking time is what its propose and record steps spent in tracking calls
    campaign.run(rounds=rounds, on_round=lambda _step: timed.close_round())
    return {"start": start, "end": time.time(), "cpu": time.process_time() - cpu,
            "tracking": timed.seconds, "rounds": rounds,
            "failures": campaign.tracking_failures}


def _group_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process group's processes, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pid:  # pgrp
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _setting(n: int, uri: str, runs: str, rounds: int, strategy: str,
             server_pid: int | None) -> dict:
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager, ProcessPoolExecutor(n, mp_context=ctx) as pool:
        barrier = manager.Barrier(n + 1)
        futures = [pool.submit(_job, i, uri, runs, rounds, strategy, f"{n}jobs", barrier)
                   for i in range(n)]
        barrier.wait(timeout=600)
        server_before = _group_cpu(server_pid) if server_pid else float("nan")
        jobs = [f.result() for f in futures]
        server_cpu = (_group_cpu(server_pid) - server_before) if server_pid else float("nan")
    wall = max(j["end"] for j in jobs) - min(j["start"] for j in jobs)
    total = sum(j["rounds"] for j in jobs)
    tracking = sorted(s for j in jobs for s in j["tracking"])
    return {"jobs": n, "rounds": total, "wall_s": wall, "per_min": 60 * total / wall,
            "track_median": statistics.median(tracking),
            "track_p90": tracking[min(len(tracking) - 1, int(0.9 * len(tracking)))],
            "cpu_per_round": sum(j["cpu"] for j in jobs) / total,
            "server_cpu_per_round": server_cpu / total,
            "failures": sum(j["failures"] for j in jobs)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The benchmark's options."""
    parser = argparse.ArgumentParser(prog="python -m optim.benchmarks.tracking_load",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--rounds", type=int, default=4, help="rounds per job (4)")
    parser.add_argument("--strategy", default="random",
                        help="strategy config of the jobs (random; qlognehvi_gp adds "
                             "model fitting to every round)")
    parser.add_argument("--uri", default=None, help="an existing server (else one is "
                        "started in a temporary folder)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> list[dict]:
    """Run every setting; print the table; return its rows."""
    from optim.server.server import TrackingServer

    args = parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="tracking-load-") as tmp:
        server = None
        uri, pid = args.uri, None
        try:
            if uri is None:
                server = TrackingServer(Path(tmp) / "server", port=_free_port(),
                                        db_port=_free_port())
                uri = server.start()
                pid = server.state()["pid"]
            print(f"server {uri}; {os.cpu_count()} CPU(s); {args.rounds} rounds per job, "
                  f"strategy={args.strategy}")
            print(f"{'jobs':>4} {'rounds':>6} {'wall s':>7} {'rounds/min':>10} "
                  f"{'tracking s/round median [p90]':>30} {'job CPU-s/round':>15} "
                  f"{'server CPU-s/round':>18} {'failed calls':>12}")
            for n in args.jobs:
                row = _setting(n, uri, str(Path(tmp) / "runs"), args.rounds, args.strategy,
                               pid)
                rows.append(row)
                print(f"{row['jobs']:>4} {row['rounds']:>6} {row['wall_s']:>7.1f} "
                      f"{row['per_min']:>10.1f} "
                      f"{row['track_median']:>20.2f} [{row['track_p90']:.2f}]      "
                      f"{row['cpu_per_round']:>15.2f} {row['server_cpu_per_round']:>18.2f} "
                      f"{row['failures']:>12}", flush=True)
        finally:
            if server is not None:
                server.destroy()  # its database too (as root it lives outside tmp)
    return rows


if __name__ == "__main__":
    main()
