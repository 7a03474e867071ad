"""Two `blocks` processes, or `blocks` and another writer, on one database lose nothing."""

import sqlite3
import subprocess
import time

from .harness import Blocks


def test_processes_planning_at_once_all_land(tmp_path):
    b = Blocks(tmp_path)
    b.ok("plan", "07:00-07:10", "first")  # creates the database and the day's revision
    ranges = [f"{h:02d}:{m:02d}-{h:02d}:{m + 10:02d}" for h in range(9, 13) for m in (0, 20, 40)]
    procs = [b.start("plan", r, f"task {i}") for i, r in enumerate(ranges)]
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, f"{p.args}: {out}{err}"
    day = b.json("show", "--json")
    labels = {blk["planned"]["label"] for blk in day["blocks"] if blk["planned"]}
    assert labels == {"first"} | {f"task {i}" for i in range(len(ranges))}
    assert len(day["revisions"]) == 1


def test_a_paint_waits_for_another_writer_and_succeeds(tmp_path):
    b = Blocks(tmp_path)
    b.ok("plan", "07:00-07:10", "first")
    other = sqlite3.connect(b.db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO settings(key, value) VALUES ('join-gap', '5')")
    p = b.start("plan", "09:00-10:00", "deep work")
    time.sleep(1.0)
    assert p.poll() is None, "blocks waits while the other writer holds the lock"
    other.execute("COMMIT")
    other.close()
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert out.startswith("planned `deep work` 09:00-10:00")
    day = b.json("show", "--json")
    assert day["blocks"][12]["planned"]["label"] == "deep work"
    assert "join-gap   5" in b.ok("config"), "the other writer's change is kept too"
