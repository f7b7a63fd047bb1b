"""The upstream pool hands out only silent connections: bytes an upstream
sends when no request is outstanding never reach the next client."""

import json
import uuid

from tests.edge.raw_upstream import WAIT, raw_gateway_fixture, raw_upstream_fixture  # noqa: F401


def test_an_unsolicited_answer_on_an_idle_connection_reaches_nobody(raw_gateway, raw_upstream):
    tag = uuid.uuid4().hex
    first = raw_gateway.public.get(f"/open/unsolicited?tag={tag}")
    assert first.status_code == 200 and first.text == "first"
    # The connection is idle in the pool now; the upstream writes on it.
    raw_upstream.event("send:" + tag).set()
    assert raw_upstream.event("sent:" + tag).wait(WAIT)
    following = raw_gateway.public.get("/open/next")
    assert "set-cookie" not in following.headers
    view = json.loads(following.text)
    assert view["target"] == "/open/next"
    assert view["connection"] != int(first.headers["x-connection"])


def test_an_answer_with_bytes_after_its_end_is_not_pooled(raw_gateway):
    double = raw_gateway.public.get("/open/double")
    assert double.status_code == 200 and double.text == "first"
    assert "set-cookie" not in double.headers
    following = raw_gateway.public.get("/open/next")
    assert following.status_code == 200 and "set-cookie" not in following.headers
    view = json.loads(following.text)
    assert view["target"] == "/open/next"
    assert view["connection"] != int(double.headers["x-connection"])


def test_a_silent_idle_connection_is_reused(raw_gateway):
    connections = {
        json.loads(raw_gateway.public.get("/open/x").text)["connection"] for _ in range(5)
    }
    assert len(connections) == 1


def test_an_upstream_answer_trailers_never_become_headers(raw_gateway):
    answer = raw_gateway.public.get("/open/trailers")
    assert answer.status_code == 200 and answer.text == "ok"
    assert "x-t" not in answer.headers and "set-cookie" not in answer.headers
