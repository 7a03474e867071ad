#!/usr/bin/env python3
"""A scripted LSP session against retrace-lsp, over this repository's own sources.

It plays an editor: jumps through the code, goes back, branches, and prints the tree.
The history goes to a temporary data directory, so your own history is left alone.
"""

import asyncio
import os
import pathlib
import shutil
import sys
import tempfile

from lsprotocol import types
from pygls.lsp.client import LanguageClient

REPO = pathlib.Path(__file__).resolve().parent.parent
BIN = pathlib.Path(os.environ.get("RETRACE_BIN_DIR", REPO / "target" / "debug")) / "retrace-lsp"


def where(path: str, needle: str) -> tuple[pathlib.Path, int]:
    """The file and zero-based line where `needle` first appears (so the demo follows the code)."""
    file = REPO / path
    for i, line in enumerate(file.read_text().splitlines()):
        if needle in line:
            return file, i
    raise SystemExit(f"demo: `{needle}` not found in {path}")


async def main() -> None:
    if not BIN.exists():
        raise SystemExit(f"demo: {BIN} is missing; run `make demo` (it builds it)")
    data = tempfile.mkdtemp(prefix="retrace-demo-")
    client = LanguageClient("retrace-demo", "1")
    await client.start_io(str(BIN), env=dict(os.environ, XDG_DATA_HOME=data))
    await client.initialize_async(types.InitializeParams(
        capabilities=types.ClientCapabilities(),
        root_uri=REPO.as_uri(),
        initialization_options={"sendsVisits": True},
    ))
    client.initialized(types.InitializedParams())

    async def command(name, *args):
        return await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=name, arguments=list(args)))

    def visit(path, needle, reason="definition"):
        file, line = where(path, needle)
        loc = f"{path}:{line + 1}"
        print(f"  visit   {loc:<34} ({reason}: {needle})")
        client.protocol.notify("retrace/visit", {
            "uri": file.as_uri(), "position": {"line": line, "character": 0}, "reason": reason})

    async def step(name, *args):
        out = await command(name, *args)
        print(f"  {name.removeprefix('retrace.'):<7} -> {out['status']}: {out['message']}")
        return out

    print("An editor session in this repository, reported to retrace-lsp:\n")
    visit("lsp-server/src/main.rs", "fn main()", "open")
    visit("lsp-server/src/server.rs", "pub async fn serve_stdio")
    visit("lsp-server/src/history.rs", "pub fn visit(")
    visit("lsp-server/src/store.rs", "pub fn write<T>(")
    await step("retrace.back")
    await step("retrace.back")
    print("  (a jumplist would now forget store.rs; retrace branches instead)")
    visit("lsp-server/src/tree.rs", "pub fn visit(", "reference")
    visit("lsp-server/src/tree.rs", "pub fn prune(", "definition")
    await step("retrace.back")
    await step("retrace.back")
    fwd = await step("retrace.forward")
    for c in fwd.get("choices", []):
        print(f"            choice #{c['id']} {c['path']}:{c['line'] + 1} (visited {c['visits']}x)")
    older = fwd["choices"][-1]["id"]
    await step("retrace.forward", {"node": older})
    await step("retrace.forward")

    print("\nThe navigation tree (retrace.tree):\n")
    print(await command("retrace.tree", {"format": "text"}))
    status = await command("retrace.status")
    print(f"{status['nodes']} places, current depth {status['depth']}.")

    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(130)
