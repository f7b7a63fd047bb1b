from gateway.credentials import Credential, find_credential, session_token

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
    assert find_credential(headers[:1]) == Credential(TOKEN, False)


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
