"""The Stress tests view, used as a person uses it: the real app in a real webview, real
batches of the bundled flaky example in real QEMU (TCG) on the built-in image, and the real
`snaprun` command on the same store, to check what the app shows and to run batches of its own.
VM time is kept small: a few iterations, two VMs at a time, restored from a warm state."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pathlib
import subprocess
import time

import pytest
from selenium.webdriver.common.keys import Keys

from tests.conftest import binary
from tests.desktop.harness import update_docs_screenshot
from tests.desktop.stress import (
    app_env,
    cell_states,
    fill_form,
    fill_store,
    flaky_workspace,
    image_cache,
    open_folder,
    open_view,
    qemu_pids,
    run_files,
    show,
    snaprun,
    start_batch,
    store_of,
    type_into,
    wait_cells_done,
    wait_for,
)


@pytest.fixture(scope="module")
def cache():
    return image_cache()


@pytest.fixture
def flaky(start_app, dirs, cache, tmp_path):
    """The store filled from the cache, a copy of examples/flaky, and the app open on it:
    (app, store, workspace)."""
    store = fill_store(dirs, cache)
    ws = flaky_workspace(tmp_path)
    app = start_app(**app_env())
    open_view(app)
    open_folder(app, ws)
    return app, store, ws


def rows(app) -> list[dict]:
    return [
        {"id": r.get_attribute("data-batch"), "status": r.get_attribute("data-status")}
        for r in app.find("[data-testid=stress-batch]")
    ]


def text(app, css: str) -> str:
    """An element's whole text (textContent: WebDriver's visible text skips clipped spans)."""
    return " ".join((app.one(css).get_attribute("textContent") or "").split())


def test_a_batch_started_from_the_app_fills_its_cells_as_snaprun_records_them(flaky, dirs, tmp_path):
    app, store, ws = flaky
    start_batch(app, "./stress.sh")
    app.wait(lambda: len(cell_states(app)) == 4, 120, "four cells")
    app.wait(lambda: any(s != "waiting" for s in cell_states(app)), 120, "a cell running or done")
    # The README's picture: some cells done while others still run (if the moment is caught).
    with contextlib.suppress(AssertionError):
        wait_for(lambda: {"running", "pass"} <= set(cell_states(app)) or "fail" in cell_states(app), 60, "mid-batch")
    shot = app.screenshot("running")
    states = wait_cells_done(app, 4, 400)
    app.wait(lambda: rows(app) and rows(app)[0]["status"] == "finished", 60, "the batch finished")
    app.screenshot("finished")

    # What the app shows is what snaprun recorded.
    report = show(dirs)
    iterations = sorted(report["iterations"], key=lambda i: i["iteration"])
    assert [it["status"] for it in iterations] == states
    assert rows(app)[0]["id"] == report["batch"]["id"]
    rate = report["summary"]["failure_rate"]
    assert f"({rate['failures']}/{rate['trials']})" in text(app, "[data-testid=stress-rate]")
    assert str(report["batch"]["seed"]) == text(app, "[data-testid=stress-batch-seed]"), "the seed, exactly"

    # One iteration: its output, its exact seed, and the repro command to copy.
    app.one("[data-testid=stress-cell][data-n='3']").click()
    app.wait(lambda: "Iteration 3" in text(app, "[data-testid=stress-iteration]"), what="iteration 3 shown")
    assert text(app, "[data-testid=stress-seed-value]") == str(iterations[2]["seed"])
    log = snaprun(dirs, "logs", report["batch"]["id"], "3").stdout
    assert text(app, "[data-testid=stress-output]") == " ".join(log.split())
    repro = app.one("[data-testid=stress-repro]").get_attribute("value")
    assert repro == f"snaprun repro {report['batch']['id']} 3"
    assert app.one("[data-testid=stress-open-terminal]").get_attribute("disabled") is not None, "no terminal set"
    update_docs_screenshot(shot, "desktop-stress.png")

    # With a terminal set, the button runs the repro command in it. The terminal here is a
    # stand-in for `x-terminal-emulator -e` that runs its command without a window.
    out = tmp_path / "terminal.out"
    term = tmp_path / "term"
    term.write_text(f'#!/bin/sh\n[ "$1" = -e ] && shift\nexec "$@" >{out} 2>&1\n')
    term.chmod(0o755)
    type_into(app, "[data-testid=stress-terminal]", f"{term} -e")
    app.one("[data-testid=stress-terminal]").send_keys(Keys.ENTER)
    button = app.one("[data-testid=stress-open-terminal]")
    app.wait(lambda: button.get_attribute("disabled") is None, what="the terminal button enabled")
    button.click()
    wait_for(lambda: out.exists() and "snaprun repro exited with status" in out.read_text(), 300, "the repro ran")
    assert "exited with status 2" not in out.read_text(), out.read_text()
    prefs = json.loads((dirs.config / "dev.retrace.desktop" / "prefs.json").read_text())
    assert prefs["terminal"] == f"{term} -e"
    assert qemu_pids(store_of(dirs)) == []


def test_stopping_a_running_batch_leaves_no_vm_and_no_overlay(flaky, dirs, tmp_path):
    app, store, ws = flaky
    start_batch(app, "sleep 600")
    app.wait(lambda: cell_states(app).count("running") == 2, 180, "two iterations running")
    wait_for(lambda: len(qemu_pids(store)) == 2, 120, "two QEMUs")
    app.screenshot("two-running")
    app.one("[data-testid=stress-stop]").click()
    app.wait(lambda: rows(app)[0]["status"] == "interrupted", 60, "the batch interrupted")
    app.screenshot("stopped")
    assert qemu_pids(store) == []
    assert run_files(store) == [], "overlays left behind"
    report = show(dirs)
    assert report["batch"]["status"] == "interrupted"
    assert sorted(i["status"] for i in report["iterations"]) == ["interrupted", "interrupted"]
    assert cell_states(app) == ["interrupted", "interrupted", "waiting", "waiting"]


def test_a_batch_started_by_the_cli_shows_live(flaky, dirs, tmp_path):
    app, store, ws = flaky
    app.one("[data-testid=stress-list-empty]")
    cli = subprocess.Popen(
        [str(binary("snaprun")), "run", "-n", "4", "-j", "2", "--accel", "tcg", "--warm", "-C", str(ws), "--", "./stress.sh"],
        env=dict(os.environ, **dirs.env()),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        app.wait(lambda: rows(app) and rows(app)[0]["status"] == "running", 120, "the CLI's batch shown running")
        app.wait(lambda: len(cell_states(app)) == 4, 60, "its cells")
        app.wait(lambda: any(s in ("pass", "fail") for s in cell_states(app)), 300, "a cell filled live")
        app.screenshot("cli-batch-live")
        out, _ = cli.communicate(timeout=600)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert cli.returncode in (0, 1), out
    states = wait_cells_done(app, 4, 60)
    app.wait(lambda: rows(app)[0]["status"] == "finished", 30, "the CLI's batch finished")
    report = show(dirs)
    assert rows(app)[0]["id"] == report["batch"]["id"]
    assert [i["status"] for i in sorted(report["iterations"], key=lambda i: i["iteration"])] == states
    app.wait(lambda: "1 batch" in text(app, "[data-testid=stress-workspace]"), what="the workspace's count")
    assert qemu_pids(store) == []


def test_an_empty_store_leads_to_building_the_default_image(start_app, dirs):
    """Builds and warms a real image from an empty store: about a minute and a half on this
    (loaded, TCG-only) machine: 15 s to build, the rest to boot it once and save its state."""
    app = start_app(**app_env())
    open_view(app)
    box = app.one("[data-testid=stress-no-image]")
    assert "There is no default image yet" in box.text
    app.screenshot("no-image")
    began = time.monotonic()
    app.one("[data-testid=stress-build-default]").click()
    app.wait(lambda: app.find("[data-testid=stress-image-progress] li"), 120, "progress shown")
    app.screenshot("building")
    row = app.wait(lambda: app.find("[data-testid=stress-image-row][data-image=default]"), 900, "the image listed")
    took = time.monotonic() - began
    warm = app.one("[data-testid=stress-image-row][data-image=default] [data-testid=stress-image-warm]")
    assert warm.text.startswith("warm:"), warm.text
    app.screenshot("built")
    print(f"\nbuilding and warming the default image from the app took {took:.0f} s")
    listed = json.loads(snaprun(dirs, "image", "ls", "--json").stdout)
    images = listed["images"] if isinstance(listed, dict) else listed
    default = next(i for i in images if i["name"] == "default")
    assert default.get("warm"), "snaprun sees the warm state the app saved"
    assert row


def test_a_command_missing_in_the_guest_fails_with_the_guest_s_message(flaky, dirs, tmp_path):
    app, store, ws = flaky
    start_batch(app, "no-such-command --now", iterations=2)
    assert wait_cells_done(app, 2, 300) == ["fail", "fail"]
    app.wait(lambda: app.find("[data-testid=stress-iteration]"), 30, "the first failure opened")
    output = text(app, "[data-testid=stress-output]")
    assert "no-such-command: not found" in output, output
    assert "no-such-command: not found" in snaprun(dirs, "logs", "last", "1").stdout
    app.screenshot("command-not-found")


def test_a_missing_or_modified_image_is_refused_with_snaprun_s_message(start_app, dirs, cache, tmp_path):
    store = fill_store(dirs, cache)
    ws = flaky_workspace(tmp_path)
    disk = tmp_path / "tiny.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
    snaprun(dirs, "image", "add", "tiny", str(disk))
    manifest = json.loads((store / "images" / "tiny.json").read_text())
    obj = store / "images" / "objects" / manifest["disk"]["sha256"]
    obj.chmod(0o644)
    with open(obj, "ab") as f:
        f.write(b"changed behind snaprun's back")
    tampered = hashlib.sha256(obj.read_bytes()).hexdigest()

    app = start_app(**app_env())
    open_view(app)
    open_folder(app, ws)
    start_batch(app, "./stress.sh", image="nope")
    error = app.one("[data-testid=stress-start-error]", timeout=60)
    cli = snaprun(dirs, "run", "--image", "nope", "-C", str(ws), "--", "true", check=False).stderr
    assert "image `nope` not found; add it with `snaprun image add nope DISK.qcow2`" in error.text
    assert "image `nope` not found" in cli, "the CLI says the same"
    app.screenshot("missing-image")

    start_batch(app, "./stress.sh", image="tiny")
    app.wait(lambda: "was modified behind snaprun's back" in text(app, "[data-testid=stress-start-error]"), 60,
             what="the modified image refused")
    assert "image `tiny` was modified behind snaprun's back" in text(app, "[data-testid=stress-start-error]")
    app.screenshot("modified-image")
    # Nothing was recorded or changed: no batch, the image as it was, the form as typed.
    assert json.loads(snaprun(dirs, "ls", "--json").stdout) == []
    assert hashlib.sha256(obj.read_bytes()).hexdigest() == tampered
    assert app.one("[data-testid=stress-command]").get_attribute("value") == "./stress.sh"


def test_a_corrupt_results_database_is_shown_left_alone_and_recovered_from(start_app, dirs):
    store = store_of(dirs)
    store.mkdir(parents=True)
    db = store / "results.db"
    junk = b"these are not the results you are looking for\n" * 200
    db.write_bytes(junk)
    app = start_app(**app_env())
    open_view(app)
    box = app.one("[data-testid=stress-error]")
    cli = snaprun(dirs, "ls", check=False)
    assert cli.returncode == 2
    assert f"results database {db} is unreadable" in box.text
    assert "move it aside and snaprun starts a new one" in box.text
    app.screenshot("corrupt-results")
    assert db.read_bytes() == junk
    # Moved aside as the message says: the view recovers by itself, the file is as it was.
    aside = store / "results.db.broken"
    db.rename(aside)
    app.wait(lambda: not app.find("[data-testid=stress-error]"), 30, "the error gone")
    app.screenshot("recovered")
    assert aside.read_bytes() == junk


def test_watch_mode_runs_a_batch_per_change_and_says_if_it_got_better_or_worse(flaky, dirs, tmp_path):
    app, store, ws = flaky
    fill_form(app, "./stress.sh", iterations=2)
    app.one("[data-testid=stress-watch-start]").click()
    app.one("[data-testid=stress-watch-panel]", timeout=30)
    app.wait(lambda: [r["status"] for r in rows(app)] == ["finished"], 300, "the first batch")
    app.wait(lambda: "waiting for the code to change" in text(app, "[data-testid=stress-watch-panel]"), 60,
             what="watching")
    with open(ws / "stress.sh", "a") as f:
        f.write("# a change\n")
    app.wait(lambda: [r["status"] for r in rows(app)] == ["finished", "finished"], 300, "a batch for the change")
    verdict = app.one("[data-testid=stress-watch-verdict]", timeout=30)
    newer, older = (r["id"] for r in rows(app))
    compared = json.loads(snaprun(dirs, "compare", older, newer, "--json").stdout)
    assert compared["verdict"][0] in verdict.text
    app.screenshot("watch-verdict")
    assert "1 changed: stress.sh" in text(app, f"[data-testid=stress-batch][data-batch='{newer}']")

    app.one("[data-testid=stress-watch]").click()
    app.wait(lambda: "Watching" not in app.one("[data-testid=stress-watch]").text, 60, "watch mode off")
    assert qemu_pids(store) == []

    # Compare the newest batch with the one before it (c): snaprun's verdict, in plain words.
    app.one(f"[data-testid=stress-batch][data-batch='{newer}']").click()
    app.press("c")
    lines = [li.text for li in app.one("[data-testid=stress-compare-verdict]").find_elements("css selector", "li")]
    assert lines == compared["verdict"]
    assert text(app, "[data-testid=stress-compare-headline]")
    app.screenshot("compare")


def test_the_view_s_keys_are_listed(start_app):
    app = start_app()
    app.press("3")
    app.one(".stress")
    app.press("?")
    dialog = app.one("[role=dialog]")
    for does in ("Stop the selected batch", "Watch mode on or off", "Copy the iteration's repro command"):
        assert does in dialog.text
    app.screenshot("keys")
