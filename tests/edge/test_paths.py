import pytest

from gateway.edge.paths import has_dot_segments, normalize


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        (b"/", b"/"),
        (b"/a/b", b"/a/b"),
        (b"/a/b/", b"/a/b/"),
        (b"//a///b", b"/a/b"),
        (b"/a/../b", b"/b"),
        (b"/a/./b", b"/a/b"),
        (b"/../../a", b"/a"),
        (b"/a/%2e%2e/b", b"/b"),
        (b"/a/%2E%2E/b", b"/b"),
        (b"/a%2fb", b"/a/b"),
        (b"/a/..", b"/"),
        (b"/a/b/..", b"/a/"),
        (b"", b"/"),
    ],
)
def test_normalize(raw, normal):
    assert normalize(raw) == normal


@pytest.mark.parametrize(
    ("path", "dotted"),
    [
        (b"/a/b", False),
        (b"/a.b/c..d/...", False),
        (b"/a/../b", True),
        (b"/a/./b", True),
        (b"/a/%2e/b", True),
        (b"/a/%2E%2e", True),
        (b"/a\\b", True),
        (b"/..", True),
    ],
)
def test_has_dot_segments(path, dotted):
    assert has_dot_segments(path) is dotted
