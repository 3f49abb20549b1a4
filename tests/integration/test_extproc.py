"""ext_proc through real Envoy: body phases, chunk-by-chunk rewriting, response phases, bad input."""

from __future__ import annotations

import gzip
import threading
import time

import httpx
import orjson
import pytest

from tests.harness import Stack
from tests.upstream_app import Gates


def test_buffered_request_body_is_rewritten_before_it_leaves(rewrite_stack: Stack) -> None:
    with rewrite_stack.client() as client:
        response = client.post("/echo/rewrite", json={"action": "read", "note": "ünïcødé"})
    assert response.status_code == 200
    echoed = response.json()
    assert orjson.loads(echoed["body"]) == {"action": "read", "note": "ünïcødé", "rewritten": True}
    headers = {k.lower(): v for k, v in echoed["headers"].items()}
    assert headers["x-body-rewritten"] == "yes", "header changes apply in the buffered body phase"
    # The body changed size: it leaves with its new length, not chunked.
    assert headers["content-length"] == str(len(echoed["body"].encode()))
    assert "transfer-encoding" not in headers


def test_request_body_decision_can_deny(rewrite_stack: Stack) -> None:
    with rewrite_stack.client() as client:
        response = client.post("/echo/rewrite", json={"action": "forbidden"})
    assert response.status_code == 422
    assert response.json()["error"]["reasons"] == ["forbidden action"]


def test_malformed_json_body_is_refused(rewrite_stack: Stack) -> None:
    with rewrite_stack.client() as client:
        response = client.post(
            "/echo/rewrite", content=b'{"action": "read",', headers={"content-type": "application/json"}
        )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "body_parse_error"


def test_broken_utf8_body_is_refused(rewrite_stack: Stack) -> None:
    with rewrite_stack.client() as client:
        response = client.post("/echo/rewrite", content=b"caf\xe9", headers={"content-type": "text/plain"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "body_decode_error"


def test_compressed_request_body_is_inspected_and_forwarded_decoded(rewrite_stack: Stack) -> None:
    with rewrite_stack.client() as client:
        response = client.post(
            "/echo/rewrite",
            content=gzip.compress(b'{"action": "read"}'),
            headers={"content-type": "application/json", "content-encoding": "gzip"},
        )
    assert response.status_code == 200
    echoed = response.json()
    assert orjson.loads(echoed["body"]) == {"action": "read", "rewritten": True}
    assert "content-encoding" not in {k.lower() for k in echoed["headers"]}


def test_corrupt_or_unknown_request_encodings_are_refused(rewrite_stack: Stack) -> None:
    with rewrite_stack.client() as client:
        corrupt = client.post(
            "/echo/rewrite",
            content=b"\x1f\x8b\x08\x00 not really gzip",
            headers={"content-type": "application/json", "content-encoding": "gzip"},
        )
        unknown = client.post(
            "/echo/rewrite",
            content=b"(\xb5/\xfd",
            headers={"content-type": "application/json", "content-encoding": "zstd"},
        )
    assert (corrupt.status_code, corrupt.json()["error"]["code"]) == (400, "body_decode_error")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (415, "unsupported_content_encoding")


def test_body_above_the_buffer_limit_is_refused(rewrite_stack: Stack) -> None:
    huge = b'{"action": "read", "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    with rewrite_stack.client() as client:
        response = client.post("/echo/rewrite", content=huge, headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_each_rewritten_chunk_reaches_the_client_before_the_upstream_ends(
    rewrite_stack: Stack, gates: Gates
) -> None:
    """The upstream sends its first part and then waits for the test to open a gate: the client
    can only see the rewritten first part if it was forwarded on its own, not held to the end."""
    name = "first-chunk"
    with rewrite_stack.client() as client, client.stream("GET", f"/stream/gated/{name}") as response:
        assert response.status_code == 200
        assert "content-length" not in response.headers
        chunks = response.iter_text()
        first = next(chunks)
        assert first == "first part: the [hidden] is here\n"
        assert name not in gates.finished, "the upstream is still waiting: the chunk came through alone"
        gates.open(name)
        rest = "".join(chunks)
    assert rest == "last part: another [hidden]\n"
    assert gates.finished[name] is True


@pytest.mark.parametrize("size", [1, 2, 3, 5, 64])
def test_streamed_bodies_are_rewritten_in_both_directions_whatever_the_chunking(
    rewrite_stack: Stack, size: int
) -> None:
    # The policy upper-cases each request chunk and turns "O" into "0" in each response chunk;
    # multi-byte characters split across chunks must survive both rewrites intact.
    text = "héllo wörld, a secret in ✓ unicode — ok\n" * 3
    with rewrite_stack.client() as client:
        response = client.post(
            f"/stream/chunks?size={size}",
            content=_slow_body(text.encode()),
            headers={"content-type": "text/plain; charset=utf-8"},
        )
    assert response.status_code == 200
    assert response.text == text.upper().replace("O", "0")


def _slow_body(data: bytes, piece: int = 11):  # type: ignore[no-untyped-def]
    for start in range(0, len(data), piece):
        yield data[start : start + piece]
        time.sleep(0.002)


def test_response_headers_phase_can_add_headers(rewrite_stack: Stack) -> None:
    with rewrite_stack.client() as client:
        response = client.get("/status/201")
    assert response.status_code == 201
    assert response.headers["x-upstream-status"] == "201"


def test_response_headers_phase_can_replace_the_response(rewrite_stack: Stack) -> None:
    with rewrite_stack.client() as client:
        response = client.get("/status/503")
    assert response.status_code == 502
    assert response.json()["error"]["reasons"] == ["upstream failed"]


def test_compressed_response_is_decoded_inspected_and_forwarded_decoded(rewrite_stack: Stack) -> None:
    # The upstream compresses although it was asked not to; the body is still inspected.
    with rewrite_stack.client() as client:
        response = client.get("/stream/gzipped", headers={"accept-encoding": "gzip"})
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert response.content == b"compressed [hidden]"


def test_undecodable_streamed_response_is_cut_not_passed(rewrite_stack: Stack) -> None:
    with rewrite_stack.client() as client:
        try:
            response = client.get("/stream/latin1")
        except httpx.RemoteProtocolError:
            return  # headers were already sent: Envoy resets the stream
    assert response.status_code in (400, 502)
    assert b"\xe9" not in response.content


def test_requests_without_inspection_pass_untouched(rewrite_stack: Stack) -> None:
    # One check decision, no body phases: the ext_proc stream ends after the request headers.
    payload = b"\x00\x01binary\xff" * 100
    with rewrite_stack.client() as client:
        response = client.post(
            "/echo/other", content=payload, headers={"content-type": "application/octet-stream"}
        )
    assert response.status_code == 200
    assert response.json()["body"] == payload.decode("utf-8", "replace")


def test_concurrent_streams_are_independent(rewrite_stack: Stack) -> None:
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            text = f"stream {i} carries a secret " * 20
            with rewrite_stack.client() as client:
                response = client.post("/stream/chunks?size=13", content=text.encode())
            assert response.text == text.upper().replace("O", "0")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
