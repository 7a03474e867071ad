"""Benchmarks of the desktop app's Navigation view, through the real app in a real webview
(the same harness as the end-to-end tests). Prints numbers; asserts nothing about time.

    RETRACE_BIN_DIR=<target>/release .venv/bin/python -m tests.desktop.bench

`make bench` runs it on the release build. What is measured, against the issue's targets:
- cold start: the app process's start to the first painted tree (< 1 s), as a person starts
  it (the app alone, its log's "first view painted" line) and under WebDriver (which adds
  the automation session's setup);
- a visit committed by retrace-lsp to its row count in the app (< 300 ms median, 50 visits);
- a 10,000-node tree: open to painted (< 200 ms), and frame times while it scrolls;
- idle CPU of the app's processes with nothing happening (< 1 %);
- a click to the editor's `window/showDocument` (< 50 ms median).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import os
import pathlib
import statistics
import tempfile
import time

from tests.conftest import binary
from tests.desktop.harness import App, Dirs, Display
from tests.lsp import harness as lsp

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def boot_time() -> float:
    for line in pathlib.Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise RuntimeError("no btime in /proc/stat")


def stat_fields(pid: int) -> list[str]:
    return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()


def group_pids(group: int) -> list[int]:
    pids = []
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(stat_fields(int(entry.name))[2]) == group:
                    pids.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError, IndexError):
                pass
    return pids


def app_pid(app: App) -> int:
    for pid in group_pids(app.driver_proc.pid):
        if pathlib.Path(f"/proc/{pid}/comm").read_text().strip().startswith("retrace-desktop"):
            return pid
    raise RuntimeError("the app's process was not found")


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            f = stat_fields(pid)
            total += int(f[11]) + int(f[12])  # utime, stime
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / CLOCK_TICKS


def painted_epoch_ms(app: App) -> float | None:
    return app.js(
        "const m = performance.getEntriesByName('nav:tree-painted');"
        "return m.length ? performance.timeOrigin + m[m.length - 1].startTime : null;"
    )


class TimedList(list):
    """A list that notes when each item arrived (epoch ms)."""

    def __init__(self):
        super().__init__()
        self.times: list[float] = []

    def append(self, item):
        self.times.append(time.time() * 1000)
        super().append(item)


def med(xs: list[float]) -> str:
    return (f"median {statistics.median(xs):.1f} ms, p90 {sorted(xs)[int(len(xs) * 0.9) - 1]:.1f} ms, "
            f"max {max(xs):.1f} ms (n={len(xs)}; load average {os.getloadavg()[0]:.1f})")


def make_files(ws: pathlib.Path, count: int) -> list[pathlib.Path]:
    files = []
    for i in range(count):
        p = ws / "src" / f"f{i:03d}.rs"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("".join(f"fn item_{j}() {{}}\n" for j in range(400)))
        files.append(p)
    return files


async def cold_history(root: pathlib.Path) -> Dirs:
    """A workspace history of 200 visits over 10 files, with no editor running."""
    dirs = Dirs(root / "cold")
    ws = root / "cold-ws"
    files = make_files(ws, 10)
    editor = await lsp.start(ws, dirs.data, options={"sendsVisits": True})
    for i in range(200):
        editor.visit(files[i % 10], (i * 7) % 400)
    await editor.status()
    await editor.close()
    return dirs


def cold_start_alone(display: Display, dirs: Dirs, runs: int = 5) -> list[float]:
    """The app started as a person starts it: its start to the log line its frontend asks for
    two frames after the first tree is rendered."""
    times = []
    env = dict(os.environ, DISPLAY=display.name, **dirs.env())
    for _ in range(runs):
        started = time.monotonic()
        proc = subprocess.Popen(
            [str(binary("retrace-desktop"))], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )
        try:
            assert proc.stderr is not None
            for line in proc.stderr:
                if "first view painted" in line:
                    times.append((time.monotonic() - started) * 1000)
                    break
            else:
                raise RuntimeError(f"the app ended (exit {proc.wait()}) before its first view was painted")
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        time.sleep(0.5)
    return times


def cold_start_driven(display: Display, dirs: Dirs, runs: int = 5) -> list[float]:
    """The app started by tauri-driver: its process's start to the painted tree's mark."""
    times = []
    for i in range(runs):
        app = App(display, dirs, f"bench-cold-{i}")
        try:
            pid = app_pid(app)
            started = boot_time() + int(stat_fields(pid)[19]) / CLOCK_TICKS
            painted = app.wait(lambda: painted_epoch_ms(app), what="the tree painted")
            times.append(painted - started * 1000)
        finally:
            app.quit()
    return times


async def live_visits(display: Display, root: pathlib.Path, visits: int = 50) -> list[float]:
    dirs = Dirs(root / "live")
    ws = root / "live-ws"
    files = make_files(ws, 10)
    editor = await lsp.start(ws, dirs.data, options={"sendsVisits": True})
    app = None
    try:
        editor.visit(files[0], 0, "open")
        await editor.status()
        app = App(display, dirs, "bench-live")
        app.wait(lambda: app.find("[data-testid=node]"), what="the tree")
        # The page notes when each node count first shows in the workspace list.
        app.js(
            "window.__seen = {};"
            "const meta = () => document.querySelector('[data-testid=workspace] .ws-meta');"
            "new MutationObserver(() => { const m = meta(); if (!m) return;"
            "  const n = parseInt(m.textContent); if (!(n in window.__seen))"
            "    window.__seen[n] = performance.timeOrigin + performance.now(); })"
            ".observe(document.body, {subtree: true, childList: true, characterData: true});"
        )
        latencies = []
        for k in range(visits):
            editor.visit(files[(k % 9) + 1], (k * 13) % 400 + 20)
            await editor.status()  # answered once the visit is committed
            committed = time.time() * 1000
            count = k + 2
            seen = await asyncio.to_thread(
                app.wait, lambda: app.js(f"return window.__seen[{count}] || null"), 10.0, "the new row count"
            )
            latencies.append(seen - committed)
            await asyncio.sleep(0.05)
        return latencies
    finally:
        if app:
            app.quit()
        await editor.close()


async def big_tree(display: Display, root: pathlib.Path, nodes: int = 10_000) -> dict[str, object]:
    dirs = Dirs(root / "big")
    ws = root / "big-ws"
    files = make_files(ws, 100)
    editor = await lsp.start(ws, dirs.data, options={"sendsVisits": True, "nodeLimit": nodes + 1000})
    socket_editor = editor
    # Branches as well as chains: every 8th visit goes back twice first.
    for i in range(nodes):
        if i % 8 == 7:
            await editor.back()
            await editor.back()
        editor.visit(files[i % 100], (i * 37) % 400)
        if i % 500 == 0:
            await editor.status()
    status = await editor.tree_json()
    result: dict[str, object] = {"nodes": len(status["nodes"])}
    app = App(display, dirs, "bench-big")
    try:
        app.wait(lambda: painted_epoch_ms(app), 30.0, "the first tree painted")
        opens, split = [], []
        for _ in range(5):
            # Open it again from the list, timed in the page: click to the painted frame.
            before = app.js("return performance.timeOrigin + performance.now()")
            app.js("document.querySelector('[data-testid=workspace]').click()")
            painted = app.wait(
                lambda: (p := painted_epoch_ms(app)) and p > before and p, 30.0, "the tree painted again"
            )
            opens.append(painted - before)
            # The split: the command's answer (backend, IPC, JSON) and the render after it.
            asked, answered = app.js(
                "const at = (n) => { const m = performance.getEntriesByName(n); return m[m.length - 1].startTime; };"
                "return [at('nav:open-asked'), at('nav:opened')];"
            )
            split.append((answered - asked, painted - (app.js("return performance.timeOrigin") + answered)))
        result["open"] = opens
        result["open_answer"] = [a for a, _ in split]
        result["open_render"] = [r for _, r in split]
        # Scroll through it: frame gaps while the list moves 240 px per frame for 300 frames.
        frames = app.driver.execute_async_script(
            "const done = arguments[0]; const v = document.querySelector('.viewport');"
            "const gaps = []; let last = performance.now(); let n = 0;"
            "function step(t) { gaps.push(t - last); last = t; v.scrollTop += 240;"
            "  if (++n < 300) requestAnimationFrame(step); else done(gaps); }"
            "requestAnimationFrame(step);"
        )
        result["frames"] = frames[1:]
        result["dom_rows"] = app.js("return document.querySelectorAll('[data-testid=node]').length")
        # Idle: nothing happens for 10 s.
        pids = group_pids(app.driver_proc.pid)
        app_pids = [p for p in pids if pathlib.Path(f"/proc/{p}/comm").read_text().strip() not in ("tauri-driver", "WebKitWebDriver")]
        await asyncio.sleep(2)
        cpu0, t0 = cpu_seconds(app_pids), time.monotonic()
        await asyncio.sleep(10)
        cpu1, t1 = cpu_seconds(app_pids), time.monotonic()
        result["idle_cpu_percent"] = 100 * (cpu1 - cpu0) / (t1 - t0)
        # Clicks to the editor: the click in the page to window/showDocument in the client,
        # each end timed where it happens (the page's clock and the client's are the host's).
        arrivals = TimedList()
        socket_editor.client.shown_documents = arrivals
        app.js("document.querySelector('.viewport').scrollTop = 0")
        # The rows at the top are drawn anew after the scroll: wait for them before taking any.
        app.wait(lambda: app.js("const r = document.querySelector('[data-testid=node]');"
                                "return r !== null && r.parentElement.style.top === '0px';"), 10.0, "the top rows")
        time.sleep(0.3)
        clicks = []
        for i in range(20):
            count = len(arrivals)
            # The row is found and clicked in one script: each jump moves the editor's cursor
            # mark, and rows redrawn between a WebDriver find and its click went stale.
            clicked = await asyncio.to_thread(
                app.js,
                "const row = document.querySelectorAll('[data-testid=node]')[arguments[0]];"
                "const t = performance.timeOrigin + performance.now(); row.click(); return t",
                i % 10,
            )
            while len(arrivals) == count:
                await asyncio.sleep(0.001)
            clicks.append(arrivals.times[-1] - clicked)
            await asyncio.sleep(0.05)
        result["clicks"] = clicks
        return result
    finally:
        app.quit()
        await editor.close()


async def main():
    display = Display()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = pathlib.Path(tmp)
            cold_dirs = await cold_history(root)
            alone = cold_start_alone(display, cold_dirs)
            print(f"cold start to the first painted tree, the app alone: {med(alone)}")
            cold = cold_start_driven(display, cold_dirs)
            print(f"cold start to the first painted tree, under WebDriver: {med(cold)}")
            live = await live_visits(display, root)
            print(f"a committed visit to the app: {med(live)}")
            big = await big_tree(display, root)
            print(f"{big['nodes']} nodes: open to painted {med(big['open'])}")  # type: ignore[arg-type]
            print(f"  of which the nav_open answer (backend, IPC, JSON): {med(big['open_answer'])}")  # type: ignore[arg-type]
            print(f"  and the render after it: {med(big['open_render'])}")  # type: ignore[arg-type]
            frames = big["frames"]
            print(f"  scrolling: frame gaps {med(frames)}; rows in the DOM: {big['dom_rows']}")  # type: ignore[arg-type]
            print(f"  idle CPU (app and its web processes, 10 s): {big['idle_cpu_percent']:.2f} %")
            print(f"  click to the editor's window/showDocument: {med(big['clicks'])}")  # type: ignore[arg-type]
    finally:
        display.close()


if __name__ == "__main__":
    asyncio.run(main())
