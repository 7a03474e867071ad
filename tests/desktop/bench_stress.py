"""The Stress tests view's speed, measured in the real app with real batches in QEMU (TCG): a
benchmark, it prints figures and asserts only that each thing happened; `make bench` runs it,
`pytest tests` does not collect it.

- an iteration's end to its cell: each finished cell notes the wall-clock time it was first
  painted (`data-shown-ms`, StressCells). The iteration's end is taken as the moment its row
  is committed to the results (a thread of this benchmark reads the database every 2 ms):
  nothing can show a result before snaprun records it. Shown apart: the iteration's QEMU
  exit (seen in /proc every 2 ms) to that commit (snaprun's own cleanup), the app's backend
  event (`data-sent-ms`) to the paint, and what older figures took as the end,
  `start_ms + duration_ms`: `start_ms` is taken before the VM starts and `duration_ms` only
  counts from the job's start, so that sum falls before the real end by the VM's start and
  its warm state's restore (about a second and a half under TCG), which no cell can beat;
- the batch list of a workspace with 1,000 batches: from the click on the workspace to the
  frame after its newest batch's row is in the DOM (performance.now() in the page);
- iterations per minute of the same batch started from the app and from `snaprun run`,
  side by side (snaprun's recorded start and end of each batch).

    RETRACE_BIN_DIR=... .venv/bin/python -m pytest -q -s tests/desktop/bench_stress.py
"""

from __future__ import annotations

import os
import pathlib
import re
import sqlite3
import statistics
import subprocess
import threading
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


def phases(report: dict) -> str:
    """Where a batch's time went, medians per iteration: the VM's start and restore (`boot_ms`),
    the command (`duration_ms`), and the rest of the iteration's wall time (overlay, VM stop,
    recording), wall time being from its start to the next start on the same slot."""
    its = sorted(report["iterations"], key=lambda i: i["start_ms"])
    starts = [i["start_ms"] for i in its]
    walls = [b - a for a, b in zip(starts, starts[JOBS:])]
    med = lambda xs: statistics.median(xs) if xs else float("nan")  # noqa: E731
    return (f"boot {med([i.get('boot_ms') or 0 for i in its]):.0f} ms, command {med([i['duration_ms'] for i in its]):.0f} ms, "
            f"wall per slot {med(walls):.0f} ms")


def cli_batch(dirs, ws) -> dict:
    # The same recorder runs as during the app's batch, so both pay for it alike.
    recorder = Recorder(store_of(dirs))
    recorder.start()
    try:
        out = subprocess.run(
            [str(binary("snaprun")), "run", "-n", str(ITERATIONS), "-j", str(JOBS), "--accel", "tcg", "--warm",
             "-C", str(ws), "--", "./stress.sh"],
            env=dict(os.environ, **dirs.env()), capture_output=True, text=True, stdin=subprocess.DEVNULL,
        )
    finally:
        recorder.stop.set()
        recorder.join()
    assert out.returncode in (0, 1), out.stderr
    return show(dirs)


# Whether every cell is finished and painted, in one call: polling each cell's attributes over
# WebDriver every 50 ms (as the end-to-end tests do) keeps the web process, WebKitWebDriver and
# tauri-driver busy enough to slow the batch's VMs on two cores, which is the bench's cost,
# not the app's.
CELLS_DONE = """
const final = new Set(['pass', 'fail', 'timeout', 'crashed', 'infra-error', 'interrupted']);
const cells = [...document.querySelectorAll('[data-testid=stress-cell]')];
return cells.length === arguments[0] && cells.every((c) => final.has(c.dataset.state) && c.dataset.shownMs);
"""


def wait_cells_painted(app, count: int, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.js(CELLS_DONE, count):
            return
        time.sleep(1)
    raise AssertionError(f"the {count} cells not finished within {timeout}s")


def running_qemu(pid: int) -> bool:
    """Whether `pid` is still a QEMU that has not exited (a zombie has no command line)."""
    try:
        return b"qemu-system" in pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


class Recorder(threading.Thread):
    """Notes, every 2 ms, when each iteration's row first shows in the results database and
    when each iteration's QEMU (`runs/<batch>/iter-<n>...` on its command line) has exited:
    epoch ms by (batch, n)."""

    def __init__(self, store: pathlib.Path):
        super().__init__(daemon=True)
        self.db = store / "results.db"
        self.runs = str(store / "runs")
        self.committed: dict[tuple[str, int], float] = {}
        self.qemu_exit: dict[tuple[str, int], float] = {}
        self.alive: dict[int, tuple[str, int]] = {}
        self.stop = threading.Event()

    def qemus(self) -> dict[int, tuple[str, int]]:
        found = {}
        for proc in pathlib.Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            pid = int(proc.name)
            if pid in self.alive:
                found[pid] = self.alive[pid]
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            m = re.search(re.escape(self.runs) + r"/([^/ ]+)/iter-(\d+)\.", cmdline)
            if "qemu-system" in cmdline and m:
                found[pid] = (m.group(1), int(m.group(2)))
        return found

    def run(self):
        con = None
        scanned = 0.0
        while not self.stop.is_set():
            now = time.time() * 1000
            # New QEMUs are looked for every 50 ms (only their exit needs to be timed closely);
            # the known ones are checked every round.
            if now - scanned > 50:
                alive = self.qemus()
                scanned = now
            else:
                alive = {pid: key for pid, key in self.alive.items() if running_qemu(pid)}
            for pid, key in self.alive.items():
                if pid not in alive and key not in self.qemu_exit:
                    self.qemu_exit[key] = now
            self.alive = alive
            try:
                con = con or sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=0.1)
                for batch, n in con.execute("SELECT batch_id, iteration FROM iterations"):
                    self.committed.setdefault((batch, n), now)
            except sqlite3.Error:
                con = None
            time.sleep(0.002)


def test_iteration_end_to_cell_and_iterations_per_minute(start_app, dirs, tmp_path):
    fill_store(dirs, image_cache())
    ws = flaky_workspace(tmp_path)
    # The CLI before and after the app's batch, so neither order nor a change of load favours one.
    cli_before = cli_batch(dirs, ws)
    app = start_app(**app_env())
    open_view(app)
    open_folder(app, ws)
    recorder = Recorder(store_of(dirs))
    recorder.start()
    try:
        start_batch(app, "./stress.sh", iterations=ITERATIONS, jobs=JOBS)
        wait_cells_painted(app, ITERATIONS, 900)
    finally:
        recorder.stop.set()
        recorder.join()
    shown = {int(c.get_attribute("data-n")): int(c.get_attribute("data-shown-ms"))
             for c in app.find("[data-testid=stress-cell]")}
    from_app = show(dirs)
    batch_id = from_app["batch"]["id"]
    its = from_app["iterations"]
    assert len(its) == ITERATIONS
    committed = {n: recorder.committed[(batch_id, n)] for n in shown}
    stats("an iteration's end (its row committed by snaprun) to its cell painted",
          [shown[n] - committed[n] for n in shown], "< 200 ms median")
    exits = {n: t for (b, n), t in recorder.qemu_exit.items() if b == batch_id}
    if exits:
        stats("  before it, snaprun's own: the iteration's QEMU exited to its row committed",
              [committed[n] - exits[n] for n in exits], "(snaprun, not the app)")
    stats("  the older reference, start_ms + duration_ms (before the real end: see the module) to the cell",
          [float(shown[it["iteration"]] - (it["start_ms"] + it["duration_ms"])) for it in its], "(not the target)")
    sent = {int(c.get_attribute("data-n")): int(c.get_attribute("data-sent-ms") or 0)
            for c in app.find("[data-testid=stress-cell]")}
    assert all(sent.values()), "every result came live"
    stats("  the app's part: its backend's event (the library reported the iteration) to the cell painted",
          [float(shown[n] - sent[n]) for n in shown], "< 200 ms median")

    cli_after = cli_batch(dirs, ws)
    assert len({cli_before["batch"]["id"], from_app["batch"]["id"], cli_after["batch"]["id"]}) == 3
    print(f"\niterations/min, {ITERATIONS} iterations -j {JOBS} under TCG: CLI {per_minute(cli_before):.1f}, "
          f"then the app {per_minute(from_app):.1f}, then CLI {per_minute(cli_after):.1f} "
          f"(load average {os.getloadavg()[0]:.1f})")
    for name, report in (("CLI", cli_before), ("app", from_app), ("CLI", cli_after)):
        print(f"  {name}: {phases(report)}")


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
