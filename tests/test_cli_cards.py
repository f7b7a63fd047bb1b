"""What the command line says when support issues a card: for a dsc, that
its PIN is the card's own and the gateway never checks it."""

from tests.http.harness import GatewayProcess
from tests.test_cli import cli


def test_issuing_a_dsc_says_its_pin_is_never_checked(tmp_path):
    gateway = GatewayProcess(tmp_path / "data", test_clock=False).start()
    try:
        gateway.create_user("dave")
        issued = {}
        for kind in ("dsc", "dscplus"):
            answer = cli(
                "device",
                "card",
                "issue",
                "dave",
                "--type",
                kind,
                "--file",
                str(tmp_path / f"{kind}.json"),
                gateway=gateway,
            )
            assert answer.returncode == 0, answer.stderr
            issued[kind] = answer.stdout
    finally:
        gateway.stop()
    assert "PIN (shown once): " in issued["dsc"]
    assert "unlocks the card itself; the gateway never sees or checks it" in issued["dsc"]
    assert "never sees or checks" not in issued["dscplus"]
