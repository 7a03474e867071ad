"""Shared helpers for the end-to-end tests: where the built binaries are."""

import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent


def bin_dir() -> pathlib.Path:
    """The directory of the built debug binaries (the Makefile exports RETRACE_BIN_DIR)."""
    if os.environ.get("RETRACE_BIN_DIR"):
        return pathlib.Path(os.environ["RETRACE_BIN_DIR"])
    target = os.environ.get("CARGO_TARGET_DIR") or str(REPO / "target")
    return pathlib.Path(target) / "debug"


def binary(name: str) -> pathlib.Path:
    path = bin_dir() / name
    if not path.exists():
        pytest.fail(f"{path} is missing: build it first (`cargo build --workspace`, or `make test`)")
    return path
