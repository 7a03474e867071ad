"""The Stress tests view's speed, measured in the real app with real batches in QEMU (TCG): a
benchmark, it prints figures and asserts only that each thing happened; `make bench` runs it,
`pytest tests` does not collect it.

- an iteration's end to its cell: each finished cell notes the wall-clock time it was first
  painted (`data-shown-ms`, StressCells); the iteration's end is what snaprun recorded
  (`start_ms + duration_ms` in `snaprun show --json`), so the figure includes snaprun's own
  work after the VM stopped (collecting the output, recording the row) as well as the app's;
  the app's own part, from its backend's event (`data-sent-ms`) to the paint, is shown apart;
- the batch list of a workspace with 1,000 batches: from the click on the workspace to the
  frame after its newest batch's row is in the DOM (performance.now() in the page);
- iterations per minute of the same batch started from the app and from `snaprun run`,
  side by side (snaprun's recorded start and end of each batch).

    RETRACE_BIN_DIR=... .venv/bin/python -m pytest -q -s tests/desktop/bench_stress.py
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import subprocess
import time

from tests.conftest import binary
from tests.desktop.stress import (
    app_env,
    fill_store,
    flaky_workspace,
    image_cache,
    open_folder,
    open_view,
    show,
    start_batch,
    store_of,
    wait_cells_done,
)

ITERATIONS = int(os.environ.get("RETRACE_BENCH_ITERATIONS", "16"))
JOBS = 2


def stats(name: str, samples: list[float], target: str):
    samples = sorted(samples)
    p90 = samples[min(len(samples) - 1, int(len(samples) * 0.9))]
    print(f"\n{name}: median {statistics.median(samples):.1f} ms, p90 {p90:.1f} ms, min {samples[0]:.1f}, "
          f"max {samples[-1]:.1f} over {len(samples)} (target {target}; load average {os.getloadavg()[0]:.1f})")


def per_minute(report: dict) -> float:
    batch = report["batch"]
    return len(report["iterations"]) / ((batch["end_ms"] - batch["start_ms"]) / 60_000)


def cli_batch(dirs, ws) -> dict:
    out = subprocess.run(
        [str(binary("snaprun")), "run", "-n", str(ITERATIONS), "-j", str(JOBS), "--accel", "tcg", "--warm",
         "-C", str(ws), "--", "./stress.sh"],
        env=dict(os.environ, **dirs.env()), capture_output=True, text=True, stdin=subprocess.DEVNULL,
    )
    assert out.returncode in (0, 1), out.stderr
    return show(dirs)


def test_iteration_end_to_cell_and_iterations_per_minute(start_app, dirs, tmp_path):
    fill_store(dirs, image_cache())
    ws = flaky_workspace(tmp_path)
    # The CLI before and after the app's batch, so neither order nor a change of load favours one.
    cli_before = cli_batch(dirs, ws)
    app = start_app(**app_env())
    open_view(app)
    open_folder(app, ws)
    start_batch(app, "./stress.sh", iterations=ITERATIONS, jobs=JOBS)
    wait_cells_done(app, ITERATIONS, 900)
    app.wait(lambda: app.find("[data-testid=stress-cell]:not([data-shown-ms])") == [], 10, "every cell painted")
    shown = {int(c.get_attribute("data-n")): int(c.get_attribute("data-shown-ms"))
             for c in app.find("[data-testid=stress-cell]")}
    from_app = show(dirs)
    lags = [shown[it["iteration"]] - (it["start_ms"] + it["duration_ms"]) for it in from_app["iterations"]]
    assert len(lags) == ITERATIONS
    stats("an iteration's end (recorded by snaprun) to its cell painted", [float(x) for x in lags], "< 200 ms median")
    sent = {int(c.get_attribute("data-n")): int(c.get_attribute("data-sent-ms") or 0)
            for c in app.find("[data-testid=stress-cell]")}
    assert all(sent.values()), "every result came live"
    stats("the app's part: its backend's event (the library reported the iteration) to the cell painted",
          [float(shown[n] - sent[n]) for n in shown], "< 200 ms median")

    cli_after = cli_batch(dirs, ws)
    assert len({cli_before["batch"]["id"], from_app["batch"]["id"], cli_after["batch"]["id"]}) == 3
    print(f"\niterations/min, {ITERATIONS} iterations -j {JOBS} under TCG: CLI {per_minute(cli_before):.1f}, "
          f"then the app {per_minute(from_app):.1f}, then CLI {per_minute(cli_after):.1f} "
          f"(load average {os.getloadavg()[0]:.1f})")


# A click on the workspace titled `target`, and the first frame after the first row of the
# batch list is `batch`: the milliseconds in between.
MEASURE = """
const [target, batch] = arguments;
const check = () => document.querySelector('[data-testid=stress-batch]')?.dataset.batch === batch;
let t0 = null;
const started = (e) => { if (t0 === null && e.target.closest('[title="' + target + '"]')) t0 = performance.now(); };
window.addEventListener('click', started, {capture: true});
const obs = new MutationObserver(() => {
  if (t0 !== null && check()) {
    obs.disconnect();
    requestAnimationFrame(() => { window.removeEventListener('click', started, {capture: true});
                                  window.__took = performance.now() - t0; });
  }
});
obs.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
window.__took = null;
"""


def copies(db: str, batch_id: str, workspace: str, count: int) -> str:
    """`count` copies of a real batch and its iterations under `workspace`, a minute apart, older
    than it (bench data only: snaprun has no way to import batches). Returns the newest id."""
    con = sqlite3.connect(db)
    cols = [r[1] for r in con.execute("PRAGMA table_info(batches)") if r[1] not in ("revision",)]
    icols = [r[1] for r in con.execute("PRAGMA table_info(iterations)") if r[1] not in ("revision",)]
    newest = ""
    with con:
        for k in range(count):
            new = f"bench-{k:05d}"
            newest = newest or new
            sel = ", ".join({"id": "?", "workspace": "?", "start_ms": "start_ms - ?", "end_ms": "end_ms - ?"}.get(c, c)
                            for c in cols)
            con.execute(f"INSERT INTO batches ({', '.join(cols)}) SELECT {sel} FROM batches WHERE id = ?",
                        _args(cols, new, workspace, 60_000 * (k + 1), batch_id))
            isel = ", ".join("?" if c == "batch_id" else c for c in icols)
            con.execute(f"INSERT INTO iterations ({', '.join(icols)}) SELECT {isel} FROM iterations WHERE batch_id = ?",
                        (new, batch_id))
    con.close()
    return newest


def _args(cols: list[str], new: str, workspace: str, back: int, source: str) -> tuple:
    values = {"id": new, "workspace": workspace, "start_ms": back, "end_ms": back}
    return (*[values[c] for c in cols if c in values], source)


def test_a_list_of_1000_batches(start_app, dirs, tmp_path):
    fill_store(dirs, image_cache())
    small = flaky_workspace(tmp_path, "small")
    big = flaky_workspace(tmp_path, "big")
    subprocess.run(
        [str(binary("snaprun")), "run", "-n", "4", "-j", "2", "--accel", "tcg", "--warm", "-C", str(small), "--",
         "./stress.sh"],
        env=dict(os.environ, **dirs.env()), capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False,
    )
    source = show(dirs)["batch"]["id"]
    newest_big = copies(str(store_of(dirs) / "results.db"), source, str(big), 1000)
    app = start_app(**app_env())
    open_view(app)
    open_folder(app, small)
    app.wait(lambda: app.find(f"[title='{big}']"), 30, "the big workspace listed")
    samples = []
    for _ in range(12):
        app.js(MEASURE, str(big), newest_big)
        app.one(f"[data-testid=stress-workspace][title='{big}']").click()
        samples.append(app.wait(lambda: app.js("return window.__took"), 30, "1,000 batches shown"))
        app.one(f"[data-testid=stress-workspace][title='{small}']").click()
        app.wait(lambda: app.find(f"[data-testid=stress-batch][data-batch='{source}']"), 30, "back to the small one")
        time.sleep(0.4)
    assert "1000 batches" in " ".join(
        b.get_attribute("textContent") for b in app.find("[data-testid=stress-workspace]"))
    print(f"\n1,000 batches, in order: {', '.join(f'{s:.0f}' for s in samples)}")
    # The backend's share: the command alone (reading and summarising the 1,000 batches), as
    # the view calls it, without drawing anything.
    backend = [app.driver.execute_async_script(
        """const [ws, done] = arguments; const t0 = performance.now();
           window.__TAURI_INTERNALS__.invoke('stress_batches', {workspace: ws})
             .then((page) => done(page.batches.length === 1000 ? performance.now() - t0 : -1), () => done(-1));""",
        str(big)) for _ in range(8)]
    assert all(b >= 0 for b in backend), backend
    stats("of which the stress_batches command alone (1,000 batches read and summarised)", backend[2:],
          "(part of the above)")
    stats("the batch list of a workspace with 1,000 batches, click to rows painted", samples[2:],
          "< 200 ms (first two shown, not counted: they warm the webview)")
