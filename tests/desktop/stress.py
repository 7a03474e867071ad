"""What the Stress tests view's end-to-end tests share: a snaprun store holding the built-in
image (built and warmed once per machine, then hard-linked into each test's store, as
snaprun's own tests do), the real `snaprun` command on that same store, a workspace with the
bundled flaky example, and the view driven as a person drives it."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import time

from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from tests.conftest import REPO, bin_dir, binary
from tests.desktop.harness import App, Dirs

FLAKY = REPO / "examples" / "flaky"


def image_cache() -> pathlib.Path:
    """A store with the built-in image `default`, warm under TCG. Made on first use (about a
    minute and a half here) and kept beside the binaries; snaprun rebuilds it only when the
    agent, kernel or busybox changed, and keeps a warm state that is still valid."""
    cache = bin_dir().parent / "tmp" / "desktop-snaprun-image-cache"
    for args in (["image", "build-default"], ["image", "warm", "default", "--accel", "tcg"]):
        out = subprocess.run([str(binary("snaprun")), "--store", str(cache), *args], capture_output=True, text=True)
        assert out.returncode == 0, f"snaprun {' '.join(args)} failed:\n{out.stdout}{out.stderr}"
    return cache


def store_of(dirs: Dirs) -> pathlib.Path:
    """The store the app and `snaprun` both use for this test's user."""
    return dirs.data / "snaprun"


def fill_store(dirs: Dirs, cache: pathlib.Path) -> pathlib.Path:
    """The test's store with the cache's images, hard-linked (nothing is copied)."""
    store = store_of(dirs)
    objects = store / "images" / "objects"
    objects.mkdir(parents=True)
    for obj in (cache / "images" / "objects").iterdir():
        os.link(obj, objects / obj.name)
    for manifest in (cache / "images").glob("*.json"):
        shutil.copyfile(manifest, store / "images" / manifest.name)
    # The hashes of the image's ingredients, so a batch need not hash them again.
    shutil.copyfile(cache / "build-default.cache.json", store / "build-default.cache.json")
    return store


def flaky_workspace(root: pathlib.Path, name: str = "flaky") -> pathlib.Path:
    ws = root / name
    shutil.copytree(FLAKY, ws)
    return ws.resolve()


def snaprun(dirs: Dirs, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """The real `snaprun`, as this test's user runs it (same XDG_DATA_HOME: the same store)."""
    out = subprocess.run(
        [str(binary("snaprun")), *args],
        env=dict(os.environ, **dirs.env()),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if check:
        assert out.returncode in (0, 1), f"snaprun {' '.join(args)} exited {out.returncode}:\n{out.stdout}{out.stderr}"
    return out


def show(dirs: Dirs, batch: str = "last") -> dict:
    return json.loads(snaprun(dirs, "show", batch, "--json").stdout)


def qemu_pids(store: pathlib.Path) -> list[int]:
    """Live QEMU processes working on `store`."""
    pids = []
    for proc in pathlib.Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "qemu-system" in cmdline and str(store) in cmdline:
            pids.append(int(proc.name))
    return pids


def run_files(store: pathlib.Path) -> list[pathlib.Path]:
    """What is left under the store's runs/ (overlays, logs, code slots)."""
    runs = store / "runs"
    return sorted(p for p in runs.rglob("*") if p.is_file()) if runs.exists() else []


def app_env() -> dict[str, str]:
    """The app's environment: `snaprun` on PATH, for the repro command a terminal runs."""
    return {"PATH": f"{bin_dir()}:{os.environ.get('PATH', '')}"}


# --- driving the view ---------------------------------------------------------------------


def open_view(app: App):
    app.one("[data-view=stress]").click()
    app.one(".stress")


def type_into(app: App, css: str, text: str):
    field = app.one(css)
    field.click()
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.DELETE)
    if text:
        field.send_keys(text)


def open_folder(app: App, folder: pathlib.Path):
    type_into(app, "[data-testid=stress-folder]", str(folder))
    app.one("[data-testid=stress-folder]").send_keys(Keys.ENTER)
    app.wait(
        lambda: any(str(folder) in (h.get_attribute("textContent") or "") for h in app.find("header")),
        what="the workspace opened",
    )


def fill_form(app: App, command: str, iterations: int = 4, jobs: int = 2, image: str = "default"):
    if not app.find("[data-testid=stress-form]"):
        app.one("[data-testid=stress-new]").click()
    type_into(app, "[data-testid=stress-command]", command)
    type_into(app, "[data-testid=stress-iterations]", str(iterations))
    type_into(app, "[data-testid=stress-jobs]", str(jobs))
    type_into(app, "[data-testid=stress-image]", image)
    Select(app.one("[data-testid=stress-accel]")).select_by_value("tcg")


def start_batch(app: App, command: str, iterations: int = 4, jobs: int = 2, image: str = "default"):
    fill_form(app, command, iterations, jobs, image)
    app.one("[data-testid=stress-start]").click()


def cell_states(app: App) -> list[str]:
    return [c.get_attribute("data-state") for c in app.find("[data-testid=stress-cell]")]


def wait_cells_done(app: App, count: int, timeout: float) -> list[str]:
    final = {"pass", "fail", "timeout", "crashed", "infra-error", "interrupted"}
    return app.wait(
        lambda: (s := cell_states(app)) and len(s) == count and all(x in final for x in s) and s,
        timeout,
        "every cell finished",
    )


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} not met within {timeout}s")
