"""The edge's one path normalizer: what it decides on, what it refuses."""

import pytest

from gateway.edge.paths import AmbiguousPath, decide


@pytest.mark.parametrize(
    ("target", "path", "sent"),
    [
        (b"/", b"/", b"/"),
        (b"/a/b", b"/a/b", b"/a/b"),
        (b"/a/b/", b"/a/b/", b"/a/b/"),
        (b"/a/b?x=%2f&y=..", b"/a/b", b"/a/b?x=%2f&y=.."),
        (b"/hc/%61dmin", b"/hc/admin", b"/hc/admin"),
        (b"/v1/%6C%6Fgin?x=1", b"/v1/login", b"/v1/login?x=1"),
        (b"/a/%7e%2D%5f", b"/a/~-_", b"/a/~-_"),
        (b"/a%20b/%c3%a9", b"/a%20b/%C3%A9", b"/a%20b/%C3%A9"),
        (b"/.well-known/x", b"/.well-known/x", b"/.well-known/x"),
        (b"/a.b/c..d/e.f", b"/a.b/c..d/e.f", b"/a.b/c..d/e.f"),
        (b"/a:b@c!$&'()*+,=", b"/a:b@c!$&'()*+,=", b"/a:b@c!$&'()*+,="),
        (b"/Admin", b"/Admin", b"/Admin"),  # case is kept: rules match as written
    ],
)
def test_what_is_decided_and_sent_on(target, path, sent):
    decided = decide(target)
    assert (decided.path, decided.target) == (path, sent)


@pytest.mark.parametrize(
    "target",
    [
        b"/hc/admin%2f",
        b"/hc%2Fadmin",
        b"/hc/%5cadmin",
        b"/hc\\admin",
        b"/hc/%2e%2e/admin",
        b"/hc/%2E/admin",
        b"/hc/%252e%252e/admin",
        b"/hc/%2561dmin",
        b"/hc;x/admin",
        b"/hc/..;/admin",
        b"/hc/%3b/admin",
        b"/hc/admin%00",
        b"/hc/admin%0a",
        b"/hc/admin.",
        b"/hc/admin./x",
        b"/hc/admin%2E",
        b"/hc/../admin",
        b"/hc/./admin",
        b"/hc/..",
        b"/..",
        b"//v1/login",
        b"/v1//login",
        b"/hc/%zz",
        b"/hc/%4",
        b"/hc/\xc3\xa9",
        b"/hc/%C0%AE%C0%AE/admin",
        b"/hc/%e0%80%ae",
        b"/hc/%ff",
        b"/hc/%EF%BC%8E%EF%BC%8E/admin",
        b"/hc%EF%BC%8Fadmin",
        b"/hc/a#b",
        b"http://example.com/hc",
        b"*",
        b"example.com:443",
        b"",
    ],
)
def test_forms_servers_read_differently_are_refused(target):
    with pytest.raises(AmbiguousPath) as refused:
        decide(target)
    assert refused.value.code == "bad_request"
    assert refused.value.status == 400
