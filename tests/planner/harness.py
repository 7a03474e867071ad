"""Runs the real `blocks` binary on a temporary database."""

import json
import os
import subprocess
from dataclasses import dataclass

from tests.conftest import binary


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


class Blocks:
    def __init__(self, tmp_path, tz="UTC", now="2026-03-05T08:00:00Z"):
        self.dir = tmp_path
        self.db = tmp_path / "planner.sqlite3"
        self.tz = tz
        self.now = now

    def env(self) -> dict:
        env = dict(os.environ)
        # The activity sources (retrace-lsp, snaprun) read under XDG_DATA_HOME: the test's own,
        # never the user's.
        env.update(
            BLOCKS_DB=str(self.db),
            TZ=self.tz,
            BLOCKS_NOW=self.now,
            NO_COLOR="1",
            XDG_DATA_HOME=str(self.dir / "data"),
        )
        return env

    def run(self, *args) -> Result:
        p = subprocess.run(
            [str(binary("blocks")), *map(str, args)],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=30,
        )
        return Result(p.returncode, p.stdout, p.stderr)

    def start(self, *args) -> subprocess.Popen:
        """Starts `blocks` without waiting for it (the caller collects it with communicate)."""
        return subprocess.Popen(
            [str(binary("blocks")), *map(str, args)],
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def ok(self, *args) -> str:
        r = self.run(*args)
        assert r.code == 0, f"blocks {args} failed ({r.code}):\n{r.stdout}{r.stderr}"
        return r.stdout

    def json(self, *args):
        return json.loads(self.ok(*args))
