import pytest

from gateway.credentials import Credential, cross_site, find_credential, session_token
from gateway.errors import Forbidden

KEY = "gk_" + "k" * 43
TOKEN = "t" * 43


def test_the_order_is_api_key_header_bearer_cookie():
    headers = [
        (b"cookie", f"gw_session={TOKEN}".encode()),
        (b"authorization", f"Bearer {TOKEN}x".encode()),
        (b"x-api-key", KEY.encode()),
    ]
    assert find_credential(headers) == Credential(KEY, True)
    assert find_credential(headers[:2]) == Credential(TOKEN + "x", False)
    assert find_credential(headers[:1]) == Credential(TOKEN, False, from_cookie=True)


def test_the_bearer_scheme_is_case_insensitive_and_may_carry_a_key():
    assert find_credential([(b"authorization", b"bEaReR " + KEY.encode())]) == Credential(KEY, True)


def test_session_endpoints_pass_over_api_keys():
    headers = [(b"x-api-key", KEY.encode()), (b"cookie", f"a=1; gw_session={TOKEN}".encode())]
    assert session_token(headers) == TOKEN
    assert session_token([(b"authorization", f"Bearer {KEY}".encode())]) is None


def test_over_long_or_empty_values_count_as_none():
    assert find_credential([(b"x-api-key", b"k" * 257)]) is None
    assert find_credential([(b"authorization", b"Bearer " + b"t" * 257)]) is None
    assert find_credential([(b"authorization", b"Bearer ")]) is None
    assert find_credential([(b"cookie", b"gw_session=")]) is None
    assert find_credential([(b"authorization", b"Basic dXNlcjpwYXNz")]) is None


@pytest.mark.parametrize(
    ("headers", "crossed"),
    [
        ([], False),  # no browser says anything: not a browser's forgery
        ([(b"sec-fetch-site", b"same-origin")], False),
        ([(b"sec-fetch-site", b"none")], False),
        ([(b"sec-fetch-site", b"same-site")], True),
        ([(b"sec-fetch-site", b"cross-site")], True),
        ([(b"sec-fetch-site", b"same-origin"), (b"origin", b"https://evil.example")], False),
        ([(b"host", b"gw.example"), (b"origin", b"https://gw.example")], False),
        ([(b"host", b"gw.example"), (b"origin", b"https://GW.example")], False),
        ([(b"host", b"gw.example"), (b"origin", b"https://evil.example")], True),
        ([(b"host", b"gw.example"), (b"origin", b"null")], True),
        ([(b"origin", b"https://gw.example")], True),  # no host to match
        (
            [
                (b"host", b"auth:8080"),
                (b"x-forwarded-host", b"app.example"),
                (b"origin", b"https://app.example"),
            ],
            False,
        ),
    ],
)
def test_cross_site(headers, crossed):
    assert cross_site(headers) is crossed


def test_only_a_cookie_on_a_state_change_is_checked():
    evil = [(b"host", b"gw.example"), (b"origin", b"https://evil.example")]
    cookie = [(b"cookie", f"gw_session={TOKEN}".encode()), *evil]
    bearer = [(b"authorization", f"Bearer {TOKEN}".encode()), *evil]
    assert session_token(cookie, "GET") == TOKEN
    assert session_token(bearer, "POST") == TOKEN
    with pytest.raises(Forbidden):
        session_token(cookie, "POST")
