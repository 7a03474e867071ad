"""The Today view's speed, measured in the real app (a benchmark: it prints figures and asserts
only that each thing happened; `make bench` runs it, `pytest tests` does not collect it).

Each time is taken in the page with performance.now() (or Date.now() against the test's own
clock for activity from another process): from the key press the app receives to the frame
after the DOM shows the result.

    RETRACE_BIN_DIR=... .venv/bin/python -m pytest -q -s tests/desktop/bench_today.py
"""

from __future__ import annotations

import os
import statistics
import time

import pytest
from selenium.webdriver.common.keys import Keys

from tests.desktop.test_today import DAY, blocks, open_today, start_at
from tests.lsp import harness as lsp

# A press of `key` in the page, and the first frame after the `index`th element matching
# `selector` has data-`attr` equal to `value`: the milliseconds in between. The press is a real
# key event; the check is data, since the app's CSP refuses code made from strings.
MEASURE = """
const [key, selector, index, attr, value] = arguments;
const check = () => document.querySelectorAll(selector)[index]?.dataset[attr] === value;
let t0 = null;
const started = (e) => { if (e.key === key && t0 === null) t0 = performance.now(); };
window.addEventListener('keydown', started, {capture: true});
const obs = new MutationObserver(() => {
  if (t0 !== null && check()) {
    obs.disconnect();
    requestAnimationFrame(() => { window.removeEventListener('keydown', started, {capture: true});
                                  window.__took = performance.now() - t0; });
  }
});
obs.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
window.__took = null;
"""


def timed(app, key: str, done: tuple[str, int, str, str], send=None) -> float:
    # A person's pace: what the last action set off (the week strip, the palette, the live
    # refresh after the app's own write) is over before the next.
    time.sleep(0.4)
    app.js(MEASURE, key, *done)
    (send or (lambda: app.press(key)))()
    return app.wait(lambda: app.js("return window.__took"), what=f"{key} done")


WARM_UP = 3


def summary(name: str, samples: list[float], target: str):
    """The first presses warm the webview's JIT and the app's caches: shown, not counted."""
    print(f"\n{name}, in order: {', '.join(f'{s:.0f}' for s in samples)} (load average {os.getloadavg()[0]:.1f})")
    samples = sorted(samples[WARM_UP:])
    p90 = samples[min(len(samples) - 1, int(len(samples) * 0.9))]
    print(f"\n{name}: median {statistics.median(samples):.1f} ms, p90 {p90:.1f} ms, "
          f"min {samples[0]:.1f}, max {samples[-1]:.1f} over {len(samples)} (target {target})")


def realistic_day(dirs, date: str):
    for rng, label, category in (
        ("07:30-08:00", "email", "admin"), ("08:00-10:30", "retrace", "code"), ("10:30-11:00", "review", "code"),
        ("11:00-12:00", "meeting", "team"), ("13:00-15:00", "retrace", "code"), ("15:00-15:30", "email", "admin"),
        ("15:30-17:00", "shop", "code"), ("20:00-21:00", "reading", "learn"),
    ):
        blocks(dirs, "plan", rng, label, "--date", date, "--category", category, now=f"{date}T06:00:00Z")
    blocks(dirs, "did", "08:00-09:40", "retrace", "--date", date, now=f"{date}T23:00:00Z")


def test_switching_days(start_app, dirs):
    for d in ("2026-03-04", DAY, "2026-03-06"):
        realistic_day(dirs, d)
    app = start_at(start_app)
    open_today(app)
    samples = []
    for i in range(20 + WARM_UP):
        key, date = ("]", "2026-03-06") if i % 2 == 0 else ("[", DAY)
        samples.append(timed(app, key, ("[data-testid=today-grid]", 0, "date", date)))
    summary("switching days to the painted grid", samples, "under 100 ms")


def test_a_paint_committed_and_redrawn(start_app, dirs):
    realistic_day(dirs, DAY)
    app = start_at(start_app)
    open_today(app)
    samples = []
    for i in range(20 + WARM_UP):
        label = f"task {i}"
        app.js("document.querySelector('[data-testid=label-input]').focus()")
        app.press(label)
        done = ("[data-testid=planned]", 12, "label", label)
        samples.append(timed(app, "Enter", done, send=lambda: app.press(Keys.ENTER)))
    summary("a paint committed and redrawn", samples, "median under 50 ms")


@pytest.mark.parametrize("run", [1, 2, 3])
async def test_new_activity_to_the_actual_column(start_app, dirs, tmp_path, run):
    """One visit in a fresh day (each run its own app and data: a block shows one label)."""
    blocks(dirs, "config", "set", "wake", "00:00")
    app = start_app(TZ="UTC")
    open_today(app, date=None, count=144)
    ws = tmp_path / "shop"
    ws.mkdir()
    (ws / "a.txt").write_text("x\n" * 20)
    app.js("""window.__seenAt = null;
        const obs = new MutationObserver(() => {
          const cell = document.querySelector('.row.current [data-testid=actual]');
          if (cell && cell.dataset.label === 'shop') { window.__seenAt = Date.now(); obs.disconnect(); }
        });
        obs.observe(document.body, {subtree: true, attributes: true, childList: true});""")
    editor = await lsp.start(ws, dirs.data, options={"sendsVisits": True})
    try:
        editor.visit(ws / "a.txt", 3, "open")
        await editor.status()  # committed once answered
        committed = time.time() * 1000
        seen = app.wait(lambda: app.js("return window.__seenAt"), timeout=10, what="the visit shown")
    finally:
        await editor.close()
    print(f"\nnew activity to the actual column (run {run}): {seen - committed:.0f} ms after the commit (target under 2 s)")
