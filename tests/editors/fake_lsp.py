"""A stand-in language server for the Neovim tests (pygls).

Two uses: a language server whose go-to-definition answers with a fixed place (any LSP client's
definition jump must be recorded as a visit), and a server that pretends to be an old
retrace-lsp (the plugin must refuse it clearly).
"""

from __future__ import annotations

import argparse
import pathlib

from lsprotocol import types
from pygls.lsp.server import LanguageServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", default="fake-definitions")
    parser.add_argument("--version", default="1.0.0")
    parser.add_argument("--definition", metavar="PATH:LINE", help="where every definition is (1-based line)")
    parser.add_argument("--stdio", action="store_true")
    args = parser.parse_args()

    server = LanguageServer(args.name, args.version)

    if args.definition:
        path, _, line = args.definition.rpartition(":")
        target = types.Location(
            uri=pathlib.Path(path).resolve().as_uri(),
            range=types.Range(
                start=types.Position(line=int(line) - 1, character=2),
                end=types.Position(line=int(line) - 1, character=2),
            ),
        )

        @server.feature(types.TEXT_DOCUMENT_DEFINITION)
        def definition(_params: types.DefinitionParams) -> types.Location:
            return target

    server.start_io()


if __name__ == "__main__":
    main()
