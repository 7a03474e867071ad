"""Servers started together on a workspace whose history does not exist yet: each gets the
one history, none runs its session without it (the schema is made once, by one of them)."""

from __future__ import annotations

import pathlib

from .harness import RawServer, request, uri


def test_servers_starting_together_on_a_new_workspace_all_get_the_history(tmp_path: pathlib.Path):
    failures = []
    for trial in range(25):
        ws = tmp_path / f"ws{trial}"
        ws.mkdir()
        (ws / "a.rs").write_text("x\n" * 10)
        data = tmp_path / f"data{trial}"
        servers = [RawServer(ws, data, initialize=False) for _ in range(4)]
        try:
            # All ask at once: each server opens (and, if need be, creates) the database.
            for s in servers:
                s.send(request(0, "initialize", {"capabilities": {}, "rootUri": uri(ws)}))
            for s in servers:
                assert "result" in s.reply_to(0)
                s.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
            for i, s in enumerate(servers):
                reply = s.command(1, "retrace.visit",
                                  {"uri": uri(ws / "a.rs"), "position": {"line": i * 2, "character": 0}})
                if "error" in reply:
                    failures.append((trial, i, reply["error"]["message"]))
            for s in servers:
                s.close()
        finally:
            for s in servers:
                s.kill()
    assert failures == [], f"{len(failures)} of 100 servers had no history: {failures[:3]}"
