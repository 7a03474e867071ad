"""The Today view, used as a person uses it: the real app in a real webview, painting with the
mouse and the keyboard, with `blocks` (the planner's CLI) run on the same database to check
that what the app paints is what the planner stores, and the other way round. Activity comes
from a real retrace-lsp driven by a real LSP client.

The app's "now" is fixed with RETRACE_NOW (as `blocks` takes BLOCKS_NOW) and its zone with
TZ, so each day is the same on every run; the live-activity test uses the real clock."""

from __future__ import annotations

import json
import os
import pathlib
import sqlite3
import subprocess
import threading
import time

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from tests.conftest import binary
from tests.desktop.harness import App, Dirs, update_docs_screenshot
from tests.lsp import harness as lsp

DAY = "2026-03-05"
NINE_OH_FIVE = "2026-03-05T09:05:00Z"


def blocks(dirs: Dirs, *args: str, now: str | None = None, tz: str = "UTC", check: bool = True) -> subprocess.CompletedProcess:
    """`blocks` on the app's database (the same XDG_DATA_HOME)."""
    env = dict(os.environ, **dirs.env(), TZ=tz, NO_COLOR="1")
    env.pop("BLOCKS_DB", None)
    if now:
        env["BLOCKS_NOW"] = now
    else:
        env.pop("BLOCKS_NOW", None)
    return subprocess.run([str(binary("blocks")), *args], env=env, capture_output=True, text=True, check=check, timeout=60)


def shown(dirs: Dirs, date: str = DAY, *extra: str, tz: str = "UTC") -> dict:
    return json.loads(blocks(dirs, "show", date, "--json", *extra, tz=tz).stdout)


def planned_labels(day: dict) -> list[str]:
    return [(b["planned"] or {}).get("label", "") for b in day["blocks"]]


def open_today(app: App, date: str | None = DAY, count: int = 102):
    app.press("2")
    grid = app.one("[data-testid=today-grid]")
    if date:
        app.wait(lambda: grid.get_attribute("data-date") == date, what=f"{date} shown")
    app.wait(lambda: len(app.find("[data-testid=today-row]")) == count, what=f"{count} rows")
    return grid


def cells(app: App, column: str = "planned"):
    return app.find(f"[data-testid={column}]")


def labels(app: App, column: str = "planned") -> list[str]:
    return app.js(f"return [...document.querySelectorAll('[data-testid={column}]')].map(e => e.dataset.label)")


def drag(app: App, first: int, last: int):
    """Presses the mouse on block `first`'s planned cell, moves to `last`'s, releases."""
    c = cells(app)
    ActionChains(app.driver).click_and_hold(c[first]).move_to_element(c[last]).release().perform()


def paint(app: App, first: int, last: int, label: str):
    drag(app, first, last)
    app.wait(lambda: app.js("return document.activeElement.dataset.testid") == "label-input", what="the label field focused")
    app.press(label, Keys.ENTER)


def extend(app: App, by: int):
    """Shift+arrow `by` times: the selection grows from the cursor."""
    chain = ActionChains(app.driver).key_down(Keys.SHIFT)
    for _ in range(abs(by)):
        chain.send_keys(Keys.ARROW_DOWN if by > 0 else Keys.ARROW_UP)
    chain.key_up(Keys.SHIFT).perform()


def error_line(app: App) -> str:
    return app.text("[data-testid=error-line]")


def start_at(start_app, now: str = NINE_OH_FIVE, tz: str = "UTC", **env: str) -> App:
    return start_app(RETRACE_NOW=now, TZ=tz, **env)


def test_a_range_painted_by_dragging_is_what_blocks_sees(start_app, dirs):
    app = start_at(start_app)
    open_today(app)
    assert app.one(".row.current").get_attribute("data-local") == "09:00"
    app.one("[data-testid=now-line]")
    paint(app, 12, 17, "deep work")
    app.wait(lambda: labels(app)[12:18] == ["deep work"] * 6, what="the painted range shown")
    assert labels(app)[11] == "" and labels(app)[18] == ""
    day = shown(dirs)
    assert planned_labels(day)[12:18] == ["deep work"] * 6
    assert planned_labels(day)[11] == "" and planned_labels(day)[18] == ""
    app.screenshot("painted")

    # The other way round: what blocks plans appears in the open app, without a reload.
    blocks(dirs, "plan", "14:00-15:00", "review", "--date", DAY, "--category", "code", now=NINE_OH_FIVE)
    app.wait(lambda: labels(app)[42:48] == ["review"] * 6, what="the CLI's plan shown live")

    # Resize by dragging the bottom edge two blocks down, then move by the label.
    end = app.find("[data-testid=edge-end]")[0]
    ActionChains(app.driver).click_and_hold(end).move_to_element(cells(app)[19]).release().perform()
    app.wait(lambda: labels(app)[12:20] == ["deep work"] * 8, what="the run resized")
    grip = app.find("[data-testid=run-label]")[0]
    ActionChains(app.driver).click_and_hold(grip).move_to_element(cells(app)[14]).release().perform()
    app.wait(lambda: labels(app)[14:22] == ["deep work"] * 8 and labels(app)[12] == "", what="the run moved")
    assert planned_labels(shown(dirs))[14:22] == ["deep work"] * 8
    app.screenshot("moved")

    # Keyboard only: the cursor, shift+arrows, Delete. (A click selects a block and offers
    # its label field; Escape leaves it.)
    app.one("[data-testid=today-grid]").click()
    app.press(Keys.ESCAPE, "c")
    extend(app, 4)
    app.wait(lambda: app.text("[data-testid=selection]") == "09:00–09:50", what="five blocks selected")
    app.press(Keys.DELETE)
    app.wait(lambda: labels(app)[12:17] == ["", "", "", "", ""] and labels(app)[17] == "deep work", what="two blocks cleared")
    assert planned_labels(shown(dirs))[14:17] == ["", "", ""]

    # "I did email from 09:00 to 09:20": Ctrl+Enter records it as actual time.
    app.press("c")
    extend(app, 1)
    app.press(Keys.ENTER, "email")
    ActionChains(app.driver).key_down(Keys.CONTROL).send_keys(Keys.ENTER).key_up(Keys.CONTROL).perform()
    app.wait(lambda: labels(app, "actual")[12:14] == ["email", "email"], what="the time recorded")
    assert app.find("[data-testid=actual]")[12].get_attribute("data-source") == "manual"
    actual = [(b["actual"] or {}).get("label", "") for b in shown(dirs)["blocks"]]
    assert actual[12:15] == ["email", "email", ""]

    # Alt+arrows move the run under the cursor, Alt+Shift+arrows resize it.
    app.press("c", *[Keys.ARROW_DOWN] * 5)
    ActionChains(app.driver).key_down(Keys.ALT).send_keys(Keys.ARROW_DOWN).key_up(Keys.ALT).perform()
    app.wait(lambda: labels(app)[17] == "" and labels(app)[18:23] == ["deep work"] * 5, what="the run moved by a block")
    ActionChains(app.driver).key_down(Keys.ALT).key_down(Keys.SHIFT).send_keys(Keys.ARROW_DOWN).key_up(Keys.SHIFT).key_up(Keys.ALT).perform()
    app.wait(lambda: labels(app)[18:24] == ["deep work"] * 6, what="the run a block longer")
    assert planned_labels(shown(dirs))[17:25] == [""] + ["deep work"] * 6 + [""]


def test_a_template_saved_from_one_day_applies_to_another(start_app, dirs):
    for rng, label in (("09:00-11:00", "deep work"), ("11:00-11:30", "email"), ("13:00-14:00", "review")):
        blocks(dirs, "plan", rng, label, "--date", DAY, now="2026-03-05T07:00:00Z")
    app = start_at(start_app)
    open_today(app)
    app.wait(lambda: labels(app)[12] == "deep work", what="the day's plan")
    app.press("s")
    app.press("focus day", Keys.ENTER)
    app.wait(lambda: "Saved focus day" in app.text("[data-testid=today-status]"), what="the template saved")
    app.press("]")
    grid = app.one("[data-testid=today-grid]")
    app.wait(lambda: grid.get_attribute("data-date") == "2026-03-06", what="the next day")
    assert set(labels(app)) == {""}
    app.press("a")
    app.wait(lambda: labels(app)[12] == "deep work" and labels(app)[24] == "email", what="the template applied")
    assert planned_labels(shown(dirs, "2026-03-06")) == planned_labels(shown(dirs, DAY))
    app.screenshot("template-applied")
    # The day as a calendar file, read back by the planner's own parser (a re-import).
    out = dirs.home / "march-6.ics"
    field = app.one("[data-testid=file-path]")
    field.send_keys(str(out), Keys.ESCAPE)
    app.press("e")
    app.wait(lambda: f"to {out}" in app.text("[data-testid=today-status]"), what="the day exported")
    text = out.read_text()
    assert text.count("BEGIN:VEVENT") == 3 and "SUMMARY:deep work" in text


def test_replan_from_now_keeps_the_earlier_revision(start_app, dirs):
    blocks(dirs, "plan", "09:00-12:00", "deep work", "--date", DAY, now="2026-03-05T07:00:00Z")
    app = start_at(start_app, now="2026-03-05T10:43:00Z")
    open_today(app)
    app.wait(lambda: labels(app)[12] == "deep work", what="the first plan")
    app.press("r")
    app.wait(lambda: "Revision 2 from 10:40" in app.text("[data-testid=today-status]"), what="the re-plan")
    # The cursor is on now's block (10:40); paint the rest of the morning as review.
    app.press("c")
    extend(app, 7)
    app.press(Keys.ENTER)
    app.press("review", Keys.ENTER)
    app.wait(lambda: labels(app)[22:30] == ["review"] * 8, what="the new revision painted")
    assert labels(app)[21] == "deep work"
    grid = app.one("[data-testid=today-grid]")
    assert grid.get_attribute("data-revision") == "2"
    app.screenshot("revision-2")
    app.press(",")
    app.wait(lambda: grid.get_attribute("data-revision") == "1", what="revision 1 shown")
    assert labels(app)[22:30] == ["deep work"] * 8
    assert "revision 2 is in force" in app.text("[data-testid=old-revision]")
    app.screenshot("revision-1")
    first = shown(dirs, DAY, "--revision", "1")
    assert planned_labels(first)[22:30] == ["deep work"] * 8
    assert planned_labels(shown(dirs))[22:30] == ["review"] * 8
    # The picker lists both and goes back to the one in force.
    options = app.find("[data-testid=revision-picker] option")
    assert [o.text for o in options][1].endswith("(in force)")
    app.press(".")
    app.wait(lambda: grid.get_attribute("data-revision") == "2", what="revision 2 again")


async def test_a_visit_in_an_editor_becomes_actual_time_within_seconds(start_app, dirs, tmp_path):
    # The real clock: the visit is made now. A day from 00:00 holds any hour of the test run.
    blocks(dirs, "config", "set", "wake", "00:00")
    ws = tmp_path / "shop"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "main.rs").write_text("fn main() {}\n" * 40)
    app = start_app(TZ="UTC")
    open_today(app, date=None, count=144)
    current = int(app.one(".row.current").get_attribute("data-index"))
    before = app.js("return performance.now()")
    assert labels(app, "actual")[current] == ""
    app.js(
        """const i = arguments[0];
        window.__actualAt = null;
        new MutationObserver((_, obs) => {
          const cell = document.querySelectorAll('[data-testid=actual]')[i];
          if (cell && cell.dataset.label) { window.__actualAt = performance.now(); obs.disconnect(); }
        }).observe(document.querySelector('[data-testid=today-grid]'), {subtree: true, attributes: true, childList: true});""",
        current,
    )
    editor = await lsp.start(ws, dirs.data, options={"sendsVisits": True})
    try:
        editor.visit(ws / "src/main.rs", 3, "open")
        await editor.status()  # committed once this is answered
        committed = app.js("return performance.now()")
        app.wait(lambda: app.js("return window.__actualAt"), timeout=5, what="the visit shown as actual time")
        seen = app.js("return window.__actualAt")
        print(f"\nnew activity to the actual column: {seen - committed:.0f} ms after the commit ({seen - before:.0f} ms after the editor started)")
        cell = app.find("[data-testid=actual]")[current]
        assert cell.get_attribute("data-label") == "shop"
        assert cell.get_attribute("data-source") == "lsp"
        app.screenshot("actual-from-editor")
        # Idle, the view stays idle: its own reads of the histories are not changes.
        app.js("""const inner = window.__TAURI_INTERNALS__.invoke;
            window.__loads = 0;
            window.__TAURI_INTERNALS__.invoke = (cmd, ...rest) => {
              if (cmd === 'today_day') window.__loads += 1;
              return inner(cmd, ...rest);
            };""")
        time.sleep(3)
        assert app.js("return window.__loads") <= 1
    finally:
        await editor.close()


def test_a_clock_change_day_has_108_rows_and_the_repeated_hour_is_told_apart(start_app, dirs):
    # A span that holds the change (01:00-18:00 is 17 hours on the clock, 18 real ones).
    blocks(dirs, "config", "set", "wake", "01:00")
    blocks(dirs, "config", "set", "sleep", "18:00")
    app = start_at(start_app, now="2026-11-01T14:00:00Z", tz="America/New_York")
    open_today(app, date="2026-11-01", count=108)
    rows = app.find("[data-testid=today-row]")
    repeated = [r for r in rows if r.get_attribute("data-repeated") == "true"]
    assert len(repeated) == 12
    times = [" ".join(r.find_element("css selector", ".time").text.split()) for r in repeated]
    assert len(set(times)) == 12
    assert "01:00 -04:00" in times and "01:00 -05:00" in times
    # The first of each repeated time is before the second, in order.
    assert times.index("01:00 -04:00") < times.index("01:00 -05:00")
    app.screenshot("clock-change-day")
    # The planner agrees, block for block.
    day = shown(dirs, "2026-11-01", tz="America/New_York")
    assert len(day["blocks"]) == 108
    assert [b["local"] for b in day["blocks"]] == [r.get_attribute("data-local") for r in rows]


CALENDAR = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
    "UID:standup@example.com\r\nDTSTAMP:20260301T000000Z\r\n"
    "DTSTART:20260305T110000Z\r\nDTEND:20260305T113000Z\r\nSUMMARY:standup\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
)


def import_file(app: App, path: pathlib.Path):
    field = app.one("[data-testid=file-path]")
    field.clear()
    field.send_keys(str(path), Keys.ENTER)


def test_a_paint_over_a_calendar_block_is_refused_with_the_planners_message(start_app, dirs, tmp_path):
    ics = tmp_path / "standup.ics"
    ics.write_text(CALENDAR)
    app = start_at(start_app)
    open_today(app)
    import_file(app, ics)
    app.wait(lambda: labels(app)[24:27] == ["standup"] * 3, what="the calendar's event shown")
    assert app.find("[data-testid=planned]")[24].get_attribute("data-fixed") == "true"
    assert "Imported 1 event from" in app.text("[data-testid=today-status]")
    paint(app, 23, 25, "email")
    message = error_line(app)
    assert "meets `standup` at 11:00-11:20, a fixed block from a calendar event" in message, message
    assert "import it again, or pick other blocks" in message
    app.screenshot("fixed-refused")
    assert labels(app)[23] == ""
    assert planned_labels(shown(dirs))[23:27] == ["", "standup", "standup", "standup"]


def test_an_ics_the_planner_rejects_shows_the_planners_error(start_app, dirs, tmp_path):
    bad = tmp_path / "broken.ics"
    bad.write_text("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nDTSTART:not a time\r\nEND:VCALENDAR\r\n")
    cli = blocks(dirs, "import", str(bad), check=False)
    assert cli.returncode != 0
    # The terminal gets the message on one line, its line breaks shown as \n (blocks
    # sanitises what it prints); the app shows the same message with its line breaks.
    said = cli.stderr.strip().removeprefix("blocks: ").removeprefix("error: ").replace("\\n", "\n")
    app = start_at(start_app)
    open_today(app)
    import_file(app, bad)
    message = error_line(app)
    assert str(bad) in message
    assert said.splitlines()[0] in message, (said, message)
    app.screenshot("bad-ics")
    assert set(labels(app)) == {""}


def test_a_database_locked_by_another_writer_waits_and_keeps_the_paint(start_app, dirs):
    blocks(dirs, "plan", "07:00-07:10", "wake up", "--date", DAY, now="2026-03-05T06:00:00Z")
    db = dirs.data / "retrace" / "planner.sqlite3"
    app = start_at(start_app)
    open_today(app)
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    released = threading.Event()

    def release():
        time.sleep(2)
        holder.execute("COMMIT")
        released.set()

    threading.Thread(target=release, daemon=True).start()
    started = time.monotonic()
    paint(app, 12, 14, "deep work")
    app.wait(lambda: labels(app)[12:15] == ["deep work"] * 3, timeout=15, what="the paint after the lock")
    assert released.is_set() and time.monotonic() - started >= 1.5
    assert not app.find("[data-testid=error-line]")
    holder.close()
    assert planned_labels(shown(dirs))[12:15] == ["deep work"] * 3


def test_keys_are_listed_and_days_change_by_key(start_app, dirs):
    app = start_at(start_app)
    open_today(app)
    app.press("?")
    dialog = app.one("[role=dialog]")
    for does in ("Extend the selection down", "Re-plan from now", "Previous day", "Clear the plan of the selection",
                 "Apply the template", "Notifications at the start of planned blocks"):
        assert does in dialog.text
    app.screenshot("keys")
    app.press(Keys.ESCAPE)
    app.wait(lambda: not app.find("[role=dialog]"), what="the list closed")
    grid = app.one("[data-testid=today-grid]")
    app.press("[")
    app.wait(lambda: grid.get_attribute("data-date") == "2026-03-04", what="the day before")
    app.press("t")
    app.wait(lambda: grid.get_attribute("data-date") == DAY, what="today again")


def window_titles(display: str) -> str:
    return subprocess.run(["xwininfo", "-root", "-tree", "-display", display], capture_output=True, text=True).stdout


def test_the_title_names_the_current_block_and_its_start_is_announced(start_app, dirs):
    app = start_at(start_app)
    open_today(app)
    display = app.display
    app.press("n")
    prefs = dirs.config / "dev.retrace.desktop" / "prefs.json"
    app.wait(lambda: prefs.exists() and json.loads(prefs.read_text()).get("notifyBlocks") is True, what="the setting saved")
    paint(app, 12, 15, "deep work")
    app.wait(lambda: "deep work (09:00) · Retrace" in window_titles(display), what="the window titled")
    app.wait(lambda: b"notification: deep work starts at 09:00" in app.log_path.read_bytes(), what="the start announced")
    app.screenshot("title")


def test_the_readme_screenshot_a_painted_day_with_its_actual_time(start_app, dirs):
    now = "2026-03-05T11:25:00Z"
    for rng, label, category, color in (
        ("08:30-09:00", "email", "admin", "orange"),
        ("09:00-11:00", "retrace", "code", "blue"),
        ("11:00-11:30", "review", "code", "purple"),
        ("12:00-13:00", "lunch", "break", "green"),
        ("13:00-15:00", "shop", "code", "teal"),
    ):
        blocks(dirs, "plan", rng, label, "--date", DAY, "--category", category, "--fill", color, now="2026-03-05T07:00:00Z")
    for rng, label, category in (
        ("08:30-08:50", "email", "admin"),
        ("08:50-10:40", "retrace", "code"),
        ("10:40-11:20", "shop", "code"),
    ):
        blocks(dirs, "did", rng, label, "--date", DAY, "--category", category, now=now)
    ics = dirs.root / "calendar.ics"
    ics.write_text(CALENDAR.replace("110000Z", "113000Z").replace("113000Z\r\nSUMMARY", "120000Z\r\nSUMMARY"))
    blocks(dirs, "import", str(ics), now="2026-03-05T07:00:00Z")
    app = start_at(start_app, now=now)
    app.driver.set_window_size(1180, 760)
    open_today(app)
    app.wait(lambda: labels(app, "actual")[16] == "retrace", what="the actual time shown")
    app.wait(lambda: len(app.find("[data-testid=week-day]")) == 7, what="the week strip")
    assert labels(app)[27:30] == ["standup"] * 3
    shot = app.screenshot("readme")
    update_docs_screenshot(shot, "desktop-today.png")
