"""The Security Code Card end to end: support issues and prints the grid, the
login asks two random positions, the holder types the two codes."""

import struct
import zlib

import pytest

from tests.http.flows import bearer, start_login


def issue(gateway, username):
    answer = gateway.admin.post(f"/admin/v1/users/{username}/devices", json={"type": "scc"})
    assert answer.status_code == 201, answer.text
    return answer.json()


def positions(gateway, login_id):
    answer = gateway.public.post(f"/v1/login/{login_id}/challenge", json={"method": "scc"})
    assert answer.status_code == 200, answer.text
    return answer.json()["positions"]


def respond(gateway, login_id, response):
    return gateway.public.post(
        f"/v1/login/{login_id}/verify", json={"method": "scc", "response": response}
    )


def test_the_card_has_the_contract_shape(gateway, username):
    gateway.create_user(username)
    card = issue(gateway, username)["card"]
    assert card["columns"] == "ABCDEFGHIJ" and card["rows"] == 10
    assert len(card["codes"]) == 100
    assert all(len(c) == 3 and c.isdigit() for c in card["codes"].values())
    assert set(card["codes"]) == {f"{c}{r}" for c in "ABCDEFGHIJ" for r in range(1, 11)}


def test_a_code_card_login_end_to_end(gateway, username):
    gateway.create_user(username)
    card = issue(gateway, username)["card"]
    login = start_login(gateway, username).json()
    assert login["methods"] == ["scc"]
    asked = positions(gateway, login["login_id"])
    assert len(asked) == 2 and asked[0] != asked[1]
    response = "".join(card["codes"][p] for p in asked)
    done = respond(gateway, login["login_id"], response)
    assert done.status_code == 200, done.text
    assert done.json()["session"]["method"] == "scc"


def test_wrong_late_and_replayed_answers_fail(gateway, username):
    gateway.create_user(username)
    card = issue(gateway, username)["card"]
    login = start_login(gateway, username).json()
    asked = positions(gateway, login["login_id"])
    right = "".join(card["codes"][p] for p in asked)
    swapped = "".join(card["codes"][p] for p in reversed(asked))
    if swapped != right:
        assert respond(gateway, login["login_id"], swapped).json()["error"] == "login_failed"
        assert gateway.admin.get(f"/admin/v1/users/{username}").json()["failures"] == 1
        asked = positions(gateway, login["login_id"])
        right = "".join(card["codes"][p] for p in asked)
    gateway.advance(181)  # the challenge's 180 s, within the login's 300
    assert respond(gateway, login["login_id"], right).json()["error"] == "login_failed"


GARBAGE = ["", "12345", "1234567", " 12345", "abcdef", "\uff11" * 6, "9" * 1000]


@pytest.mark.parametrize("garbage", GARBAGE, ids=range(len(GARBAGE)))
def test_garbage_answers_are_login_failed(gateway, username, garbage):
    gateway.create_user(username)
    issue(gateway, username)
    login = start_login(gateway, username).json()
    positions(gateway, login["login_id"])
    refused = respond(gateway, login["login_id"], garbage)
    assert refused.status_code == 401 and refused.json()["error"] == "login_failed"


def test_support_prints_the_card_as_a_page_and_an_image(gateway, username):
    gateway.create_user(username)
    issued = issue(gateway, username)
    base = f"/admin/v1/users/{username}/devices/{issued['device_id']}"
    page = gateway.admin.get(base + "/card.html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert all(code in page.text for code in list(issued["card"]["codes"].values())[:10])
    image = gateway.admin.get(base + "/card.png")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    png = image.content
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    # A valid zlib stream of one filter byte + width pixels per row.
    start = png.index(b"IDAT") + 4
    length = struct.unpack(">I", png[start - 8 : start - 4])[0]
    assert len(zlib.decompress(png[start : start + length])) == height * (width + 1)
    # The card is support's, on support's listener only.
    nobody = gateway.admin.get(f"/admin/v1/users/{username}/devices/nothing/card.png")
    assert nobody.status_code == 404
    token = start_login(gateway, username).json().get("token")
    assert token is None  # a user with a card has a second factor to pass
    assert gateway.public.get(base + "/card.png", headers=bearer("x")).status_code == 404


def test_an_answer_is_never_good_twice(gateway, username):
    gateway.create_user(username)
    card = issue(gateway, username)["card"]
    login = start_login(gateway, username).json()
    asked = positions(gateway, login["login_id"])
    used = "".join(card["codes"][p] for p in asked)
    done = respond(gateway, login["login_id"], used)
    assert done.status_code == 200
    gateway.public.post("/v1/logout", headers=bearer(done.json()["token"]))
    again = start_login(gateway, username).json()
    new = positions(gateway, again["login_id"])
    if "".join(card["codes"][p] for p in new) != used:  # the same two codes: 1 in ~10^4
        assert respond(gateway, again["login_id"], used).json()["error"] == "login_failed"
