"""Random bodies, paths and headers at every endpoint: always a SPEC error
code or a success, never a 500."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import ALL_ERRORS

# The SPEC section 9 codes (tests/test_errors.py holds ALL_ERRORS to that list).
SPEC_CODES = {error.code for error in ALL_ERRORS}
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)
FIELDS = [
    "username",
    "password",
    "platform",
    "method",
    "response",
    "takeover",
    "type",
    "advance",
    "set",
    "trading",
    "device_id",
]
BODIES = st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=6).map(json.dumps)
RAW = st.binary(max_size=200)
PUBLIC_PATHS = [
    "/v1/login",
    "/v1/login/x/challenge",
    "/v1/login/x/verify",
    "/v1/login/x/confirm",
    "/v1/logout",
    "/v1/session/tickle",
]
ADMIN_PATHS = [
    "/admin/v1/users",
    "/admin/v1/users/x/devices",
    "/admin/v1/users/x/unlock",
    "/admin/v1/clock",
]


def check(answer):
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        assert answer.json()["error"] in SPEC_CODES, answer.text


@settings(max_examples=150)
@given(st.sampled_from(PUBLIC_PATHS), BODIES | RAW.map(lambda b: b.decode("latin-1")))
def test_public_endpoints(gateway, path, body):
    answer = gateway.public.post(
        path,
        content=body.encode("utf-8", "surrogatepass"),
        headers={"Content-Type": "application/json"},
    )
    check(answer)


@settings(max_examples=100)
@given(st.sampled_from(ADMIN_PATHS), BODIES)
def test_admin_endpoints(gateway, path, body):
    answer = gateway.admin.post(
        path, content=body.encode(), headers={"Content-Type": "application/json"}
    )
    check(answer)


@settings(max_examples=100)
@given(st.text(alphabet=st.characters(codec="ascii", exclude_categories=["Cc"]), max_size=60))
def test_paths(gateway, tail):
    check(gateway.public.get("/v1/login/" + tail.replace("?", "").replace("#", "")))
    check(gateway.admin.get("/admin/v1/users/" + tail.replace("?", "").replace("#", "")))


@settings(max_examples=100)
@given(st.binary(min_size=0, max_size=300))
def test_authorization_headers(gateway, raw):
    # What h11 lets a client send in a header value: no control characters,
    # no whitespace at either end.
    value = bytes(b for b in raw if b >= 0x20 and b != 0x7F).strip()
    headers = {"Authorization": b"Bearer " + value} if value else {}
    headers["Cookie"] = b"gw_session=" + value if value else b"other=1"
    answer = gateway.public.get("/v1/session", headers=headers)
    check(answer)
    assert answer.status_code == 401
