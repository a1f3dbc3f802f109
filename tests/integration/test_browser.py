"""The review screen in a real browser: Debian Chromium driven by Playwright.

Starts ``python -m optim.ui`` on a store made by a real two-round campaign, checks that
the rounds, proposals and plots are there (each plot opened in the artifact viewer, its
image loaded and shown at a readable width), rejects a proposal through the UI's own tag
dialog, stops the UI by its pid, and checks that the next round honours the decision.
Screenshots go to ``$OPTIM_SCREENSHOTS`` (default: the test's tmp folder).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from optim.labs import OxychlorideTruth
from tests.helpers import ROOT, SMOKE, cli

CHROMIUM = Path("/usr/bin/chromium")
CLASSIC = "?workflowType=machine_learning"  # mlflow's "Model training" layout, as printed
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"),
                       reason="needs Debian's chromium at /usr/bin/chromium "
                              "(apt-get install chromium); required in CI"),
]


FIGURES = ("pareto_front.png", "composition_map.png", "progress.png", "inputs.png")


def _loaded_image(page, previous: str | None) -> dict:
    """The artifact viewer's image once a new one (``src`` other than ``previous``)
    has loaded: its ``src``, natural and displayed width, whether it is complete and
    visible. The viewer shows a PNG as an ``<img>`` with a ``blob:`` URL."""
    handle = page.wait_for_function(
        """(previous) => {
            const img = document.querySelector("img[src^='blob:']");
            return img && img.src !== previous && img.complete && img.naturalWidth > 0
                ? img : null;
        }""", arg=previous)
    return page.evaluate(
        """(img) => ({src: img.src, complete: img.complete, natural: img.naturalWidth,
                     width: img.getBoundingClientRect().width,
                     visible: img.offsetParent !== null
                              && img.getBoundingClientRect().height > 0})""",
        handle.as_element())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120,
                  ) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the UI exited early: {log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(1)
    pytest.fail(f"the UI did not answer {url}/health within {timeout} s")


@pytest.fixture
def campaign_store(tmp_path: Path) -> Path:
    """A store made by a real two-round oxychloride campaign through the CLI."""
    runs = tmp_path / "runs"
    cli(runs, *SMOKE)
    ledger = runs / "oxychloride" / "ledger.csv"
    frame = pd.read_csv(ledger)
    results = OxychlorideTruth()(frame).round(4)
    results.insert(0, "id", frame["id"])
    results.to_csv(tmp_path / "results.csv", index=False)
    cli(runs, f"record={tmp_path / 'results.csv'}")
    out = cli(runs, *SMOKE).stdout
    (tmp_path / "printed_link.txt").write_text(out.split("then open ")[-1].split()[0])
    cli(runs, *SMOKE, campaign="interlayer")  # a categorical input: seed_metal
    return runs


def test_review_screen_and_rejection_in_chromium(campaign_store, tmp_path):
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ.get("OPTIM_SCREENSHOTS", tmp_path / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    runs = campaign_store
    client = MlflowClient(f"sqlite:///{runs}/mlflow.db")
    exp_id = client.get_experiment_by_name("oxychloride").experiment_id
    round2 = next(r for r in client.search_runs([exp_id], "tags.kind = 'round'")
                  if r.info.run_name == "round-002")
    target = next(r for r in client.search_runs([exp_id], "tags.kind = 'proposal'")
                  if r.data.tags["ledger_id"] == "oxy-0010")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "ui.log").open("w")
    ui = subprocess.Popen(
        [sys.executable, "-m", "optim.ui", "--runs", str(runs), "--port", str(port)],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the server and its workers
    )
    try:
        _wait_healthy(base, ui, tmp_path / "ui.log")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                        args=FLAGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(60_000)
            # the campaign's runs table, opened by the link the round printed: both
            # rounds, the classic layout, the columns a reviewer compares without setup
            printed = (tmp_path / "printed_link.txt").read_text()
            assert printed.startswith(f"http://127.0.0.1:5000/#/experiments/{exp_id}/runs")
            page.goto(base + printed.removeprefix("http://127.0.0.1:5000"),
                      wait_until="domcontentloaded")
            page.get_by_text("round-002").first.wait_for()
            assert page.get_by_text("round-001").first.is_visible()
            close = page.get_by_role("button", name="Close")  # mlflow's assistant panel
            if close.count():
                close.first.click()
            for column in ("best_conductivity_mS_cm", "hypervolume_measured", "n_measured"):
                page.get_by_text(column).first.wait_for(state="visible")
            assert not page.get_by_text("Evaluation runs").count()  # not the GenAI layout
            page.screenshot(path=shots / "runs_table.png")
            # a round: its description, its proposals as child runs
            page.goto(f"{base}/#/experiments/{exp_id}/runs/{round2.info.run_id}{CLASSIC}",
                      wait_until="domcontentloaded")
            page.get_by_text("4 proposal(s) by probability of beating every threshold"
                             ).first.wait_for()
            for ident in ("oxy-0009", "oxy-0010", "oxy-0011", "oxy-0012"):
                # the child-run links render after the description: wait, do not poll once
                page.get_by_role("link", name=ident).first.wait_for(state="visible")
            page.screenshot(path=shots / "round_overview.png", full_page=True)
            # the round's artifacts: the proposal table and the plots
            page.goto(f"{base}/#/experiments/{exp_id}/runs/{round2.info.run_id}/artifacts"
                      f"{CLASSIC}",
                      wait_until="domcontentloaded")
            page.get_by_text("batch.json").first.wait_for()
            page.get_by_text("batch.json").first.click()
            page.get_by_text("oxy-0011").first.wait_for()  # the table renders
            page.screenshot(path=shots / "batch_table.png")
            page.get_by_text("plots", exact=True).first.click()
            for name in ("pareto_front.png", "composition_map.png", "model_check.png",
                         "progress.png", "inputs.png"):
                page.get_by_text(name).first.wait_for()
            # each figure renders in the artifact viewer: its <img> has loaded and is
            # shown at a readable width (the figures are sized for this pane)
            previous = None
            for name in FIGURES:
                page.get_by_text(name).first.click()
                shown = _loaded_image(page, previous)
                previous = shown["src"]
                page.screenshot(path=shots / name)
                assert shown["complete"] and shown["visible"], (name, shown)
                assert 500 < shown["natural"] <= 1000, (name, shown)
                assert shown["width"] >= min(500, shown["natural"]) * 0.9, (name, shown)
                assert shown["width"] <= shown["natural"] * 1.01, (name, shown)
            # reject a proposal the way a reviewer does: Edit tags on its run
            page.goto(f"{base}/#/experiments/{exp_id}/runs/{target.info.run_id}{CLASSIC}",
                      wait_until="domcontentloaded")
            page.get_by_role("button", name="Edit tags").click()
            dialog = page.get_by_role("dialog")
            key = dialog.locator("input").first
            key.click()
            key.fill("decision")
            page.keyboard.press("Enter")
            dialog.get_by_label("Value").fill("reject")
            dialog.get_by_role("button", name="Add tag").click()
            dialog.get_by_text("decision").first.wait_for()
            page.screenshot(path=shots / "reject_dialog.png")
            dialog.get_by_role("button", name="Save tags").click()
            dialog.wait_for(state="hidden")
            # inputs read as the scientist writes them: a whole-number milling speed
            # (550, not 550.0) on this proposal, a seed metal by name on an interlayer one
            rpm = target.data.params["milling_speed_rpm"]
            assert rpm.isdigit() and int(rpm) % 50 == 0, rpm
            page.get_by_text("milling_speed_rpm", exact=True).first.wait_for()
            assert page.get_by_text(rpm, exact=True).count()
            il_exp = client.get_experiment_by_name("interlayer").experiment_id
            seeded = next(r for r in client.search_runs([il_exp], "tags.kind = 'proposal'")
                          if r.data.tags["ledger_id"] == "ifl-0001")
            metal = seeded.data.params["seed_metal"]
            assert metal in ("Mg", "Sn", "Au", "none"), metal
            page.goto(f"{base}/#/experiments/{il_exp}/runs/{seeded.info.run_id}{CLASSIC}",
                      wait_until="domcontentloaded")
            page.get_by_text("seed_metal", exact=True).first.wait_for()
            page.get_by_text(metal, exact=True).first.wait_for(state="visible")
            page.screenshot(path=shots / "categorical_params.png", full_page=True)
            browser.close()
    finally:
        os.killpg(ui.pid, signal.SIGTERM)  # the UI we started, by its pid (its group)
        try:
            ui.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(ui.pid, signal.SIGKILL)
            ui.wait(timeout=30)
        log.close()
    assert ui.returncode is not None
    assert client.get_run(target.info.run_id).data.tags["decision"] == "reject"
    nxt = cli(runs, *SMOKE)
    assert "applied reviewers' decisions from mlflow to oxy-0010" in nxt.stdout
    frame = pd.read_csv(runs / "oxychloride" / "ledger.csv")
    assert frame.set_index("id").loc["oxy-0010", "status"] == "rejected"
    for shot in ("runs_table", "round_overview", "batch_table", *FIGURES, "reject_dialog"):
        assert (shots / (shot if shot.endswith(".png") else f"{shot}.png")
                ).stat().st_size > 10_000
