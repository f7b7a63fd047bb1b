"""Where the master key lives: by default beside the database, with a
warning at start; or in a key file of its own, away from the data."""

from tests.http.harness import TEST_CONFIG, GatewayProcess

WARNING = "beside the database it protects"


def test_a_key_in_the_data_directory_is_warned_about(tmp_path):
    gateway = GatewayProcess(tmp_path / "data").start()
    try:
        assert (tmp_path / "data" / "master.key").exists()
        assert any(WARNING in line for line in gateway.output), gateway.output
    finally:
        gateway.stop()


def test_a_key_file_outside_the_data_directory(tmp_path):
    key_file = tmp_path / "secrets" / "gateway.key"
    config = TEST_CONFIG + f'\n[secrets]\nmaster_key_file = "{key_file}"\n'
    gateway = GatewayProcess(tmp_path / "data", config).start()
    try:
        assert key_file.stat().st_mode & 0o777 == 0o600
        assert not (tmp_path / "data" / "master.key").exists()
        assert not any(WARNING in line for line in gateway.output), gateway.output
        gateway.create_user("keyholder")
        device = gateway.enrol_totp("keyholder")
        gateway.restart()
        # The device secret, sealed under the key in that file, opens again.
        login = gateway.public.post(
            "/v1/login",
            json={"username": "keyholder", "password": "secret123", "platform": "tws"},
        ).json()
        verify = gateway.public.post(
            f"/v1/login/{login['login_id']}/verify",
            json={"method": "totp", "response": device.code()},
        )
        assert verify.status_code == 200, verify.text
    finally:
        gateway.stop()
