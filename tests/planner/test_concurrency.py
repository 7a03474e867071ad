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


def ten_minutes(start: int) -> str:
    end = start + 10
    return f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"


def test_twenty_processes_on_a_brand_new_database_all_succeed(tmp_path):
    # The first use of a database creates its schema; processes starting together must not
    # trip over each other doing it ("table settings already exists").
    failures = []
    for round_ in range(5):
        b = Blocks(tmp_path / f"round{round_}")
        (tmp_path / f"round{round_}").mkdir()
        procs = [b.start("plan", ten_minutes(9 * 60 + 10 * i), f"t{i}") for i in range(20)]
        for i, p in enumerate(procs):
            out, err = p.communicate(timeout=120)
            if p.returncode != 0:
                failures.append((round_, i, p.returncode, err.strip()[:300]))
        if not failures:
            day = b.json("show", "--json")
            labels = {blk["planned"]["label"] for blk in day["blocks"] if blk["planned"]}
            assert labels == {f"t{i}" for i in range(20)}
    assert not failures, f"{len(failures)} of 100 failed: {failures[:3]}"

