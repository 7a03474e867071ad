"""The stdio stream as a careless or hostile client writes it: broken frames get an error
reply and the server goes on with the next `Content-Length` header (PROTOCOL.md, "Errors");
the lifecycle answers what LSP says it must."""

from __future__ import annotations

import json
import pathlib

import pytest

from .harness import RawServer, command_request, raw_frame, request, uri

LINES = "\n".join(f"line {i}" for i in range(100)) + "\n"


@pytest.fixture
def workspace(tmp_path: pathlib.Path) -> pathlib.Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    for name in ["a.rs", "b.rs", "ö-ü.rs"]:
        (ws / name).write_text(LINES)
    return ws


@pytest.fixture
def server(workspace, tmp_path):
    s = RawServer(workspace, tmp_path / "data")
    yield s
    s.kill()


def visit(workspace: pathlib.Path, id_: int, name: str, line: int) -> dict:
    return command_request(id_, "retrace.visit",
                           {"uri": uri(workspace / name), "position": {"line": line, "character": 0}})


def parse_error(server: RawServer, *fragments: str) -> str:
    """The id-null parse error a broken frame gets, with what its message must say."""
    reply = server.reply_to(None)
    assert reply["error"]["code"] == -32700, reply
    message = reply["error"]["message"]
    for f in fragments:
        assert f in message, message
    return message


def still_answers(server: RawServer, workspace: pathlib.Path, id_: int, expect_nodes: int):
    """The server answers the next requests, and holds exactly the expected nodes."""
    status = server.command(id_, "retrace.status")
    assert status["result"]["nodes"] == expect_nodes, status
    ok = server.command(id_ + 1, "retrace.visit",
                        {"uri": uri(workspace / "b.rs"), "position": {"line": 50, "character": 0}})
    assert ok["result"]["status"] == "added", ok
    assert server.proc.poll() is None, "the server is still running"


def test_a_non_utf8_header_line_is_refused_and_the_server_goes_on(server, workspace):
    body = json.dumps(visit(workspace, 1, "a.rs", 1)).encode()
    server.send_bytes(b"X-\xff: 1\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    parse_error(server, "malformed message header", r"X-\xff: 1")
    still_answers(server, workspace, 10, expect_nodes=1)


def test_a_content_length_counting_characters_not_bytes_is_refused_and_the_next_message_read(
        server, workspace):
    # A client that counts characters: the body is a few bytes longer than it says.
    message = visit(workspace, 1, "ö-ü.rs", 1)
    message["params"]["arguments"][0]["uri"] = f"file://{workspace / 'ö-ü.rs'}"  # raw, as some send it
    body = json.dumps(message, ensure_ascii=False)
    wrong = b"Content-Length: %d\r\n\r\n" % len(body) + body.encode()
    assert len(body) < len(body.encode())
    # The next message follows at once, in the same write, and must not be lost.
    server.send_bytes(wrong + raw_frame(visit(workspace, 2, "a.rs", 2)))
    parse_error(server, "not valid JSON", "counts bytes")
    assert server.reply_to(2)["result"]["status"] == "added"
    still_answers(server, workspace, 10, expect_nodes=1)


def test_a_content_length_a_few_bytes_too_long_costs_only_that_message(server, workspace):
    body = json.dumps(visit(workspace, 1, "a.rs", 1)).encode()
    wrong = b"Content-Length: %d\r\n\r\n" % (len(body) + 3) + body
    server.send_bytes(wrong + raw_frame(visit(workspace, 2, "a.rs", 2)))
    parse_error(server, "not valid JSON")
    assert server.reply_to(2)["result"]["status"] == "added"
    still_answers(server, workspace, 10, expect_nodes=1)


def test_a_nul_after_the_number_is_refused_and_the_server_goes_on(server, workspace):
    body = json.dumps(visit(workspace, 1, "a.rs", 1)).encode()
    wrong = b"Content-Length: %d\x00\r\n\r\n" % len(body) + body
    server.send_bytes(wrong + raw_frame(visit(workspace, 2, "a.rs", 2)))
    parse_error(server, "Content-Length", r"\x00")
    assert server.reply_to(2)["result"]["status"] == "added"
    still_answers(server, workspace, 10, expect_nodes=1)


def test_a_header_line_with_no_newline_is_refused_and_the_server_goes_on(server, workspace):
    body = json.dumps(visit(workspace, 1, "a.rs", 1)).encode()
    # No line end after the number: the body runs on in the header line.
    wrong = b"Content-Length: %d" % len(body) + body
    server.send_bytes(wrong + raw_frame(visit(workspace, 2, "a.rs", 2)))
    parse_error(server, "Content-Length")
    assert server.reply_to(2)["result"]["status"] == "added"
    # No blank line after the header.
    wrong = b"Content-Length: %d\r\n" % len(body) + body
    server.send_bytes(wrong + raw_frame(visit(workspace, 3, "b.rs", 3)))
    parse_error(server, "malformed message header")
    assert server.reply_to(3)["result"]["status"] == "added"
    still_answers(server, workspace, 10, expect_nodes=2)


def test_endless_header_lines_and_garbage_between_frames_are_bounded_and_skipped(server, workspace):
    # A megabyte without a line end: refused once, without holding it all.
    server.send_bytes(b"X-Long: " + b"a" * (1 << 20) + b"\r\n\r\n" + raw_frame(visit(workspace, 2, "a.rs", 2)))
    parse_error(server, "header")
    assert server.reply_to(2)["result"]["status"] == "added"
    # Garbage between frames: one error, then the next frame.
    server.send_bytes(b"\x00\x01garbage\r\n\r\nmore garbage" + raw_frame(visit(workspace, 3, "b.rs", 3)))
    parse_error(server, "malformed message header")
    assert server.reply_to(3)["result"]["status"] == "added"
    still_answers(server, workspace, 10, expect_nodes=2)


def test_requests_of_unknown_dollar_methods_get_method_not_found(server, workspace):
    server.send(request(1, "$/foo", {}))
    reply = server.reply_to(1)
    assert reply["error"]["code"] == -32601, reply
    assert "$/foo" in reply["error"]["message"]
    # As a notification it is ignored (LSP: `$/` notifications may be dropped).
    server.send({"jsonrpc": "2.0", "method": "$/foo", "params": {}})
    server.send(request(2, "unknown/thing", {}))
    assert server.reply_to(2)["error"]["code"] == -32601
    still_answers(server, workspace, 10, expect_nodes=0)


def test_requests_before_initialize_get_server_not_initialized(workspace, tmp_path):
    server = RawServer(workspace, tmp_path / "data", initialize=False)
    try:
        for i, method in enumerate(["workspace/executeCommand", "textDocument/hover", "retrace/anything",
                                    "$/foo", "shutdown"], start=1):
            server.send(request(i, method, {"command": "retrace.status", "arguments": []}))
            reply = server.reply_to(i)
            assert reply["error"]["code"] == -32002, (method, reply)
        # Notifications before initialize are dropped; initialize then works.
        server.send({"jsonrpc": "2.0", "method": "retrace/visit",
                     "params": {"uri": uri(workspace / "a.rs"), "position": {"line": 0, "character": 0}}})
        server.initialize({"capabilities": {}, "rootUri": uri(workspace)})
        assert server.command(7, "retrace.status")["result"]["nodes"] == 0
        # A second initialize is an invalid request.
        server.send(request(8, "initialize", {"capabilities": {}}))
        assert server.reply_to(8)["error"]["code"] == -32600
        server.close()
        assert server.proc.returncode == 0
    finally:
        server.kill()


def test_exit_without_shutdown_exits_1_and_after_shutdown_0(workspace, tmp_path):
    server = RawServer(workspace, tmp_path / "data")
    try:
        server.send({"jsonrpc": "2.0", "method": "exit"})
        assert server.proc.wait(timeout=20) == 1
    finally:
        server.kill()
    server = RawServer(workspace, tmp_path / "data")
    try:
        server.close()
        assert server.proc.returncode == 0
        # Requests after shutdown are invalid; exit ends it with 0.
        server = RawServer(workspace, tmp_path / "data")
        server.send(request(1, "shutdown"))
        server.reply_to(1)
        server.send(command_request(2, "retrace.status"))
        assert server.reply_to(2)["error"]["code"] == -32600
        server.send({"jsonrpc": "2.0", "method": "exit"})
        assert server.proc.wait(timeout=20) == 0
    finally:
        server.kill()
