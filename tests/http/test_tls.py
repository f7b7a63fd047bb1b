"""TLS termination and HTTP/2 through Hypercorn."""

import datetime
import ipaddress
import socket
import ssl

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tests.edge.rawhttp import address
from tests.http.harness import TEST_CONFIG


def self_signed(directory, key=None, prefix=""):
    """A certificate for 127.0.0.1 and its key (EC P-256 unless ``key``)."""
    key = key if key is not None else ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{prefix}cert.pem", directory / f"{prefix}key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_https_on_the_data_plane_and_http2_on_h2_bind(own_gateway, tmp_path):
    cert, key = self_signed(tmp_path)
    h2_port = free_port()
    own_gateway.config_path.write_text(
        TEST_CONFIG
        + f'\n[http]\ncertfile = "{cert}"\nkeyfile = "{key}"\nh2_bind = "127.0.0.1:{h2_port}"\n'
    )
    own_gateway.start()
    assert own_gateway.public_url.startswith("https://")
    context = ssl.create_default_context(cafile=str(cert))
    # The public address (data plane) speaks HTTP/1.1 over TLS, for the
    # hot paths and, relayed, for the whole client API.
    with httpx.Client(base_url=own_gateway.public_url, verify=context, http2=True) as client:
        answer = client.get("/healthz")
        assert answer.status_code == 200
        assert answer.http_version == "HTTP/1.1"
        assert client.get("/v1/session").json()["error"] == "unauthenticated"
        assert client.post("/v1/login", json={"username": "x", "password": "y"}).status_code == 401
    # HTTP/2 stays available on the Hypercorn listener.
    with httpx.Client(
        base_url=f"https://127.0.0.1:{h2_port}", verify=context, http2=True
    ) as client:
        answer = client.get("/healthz")
        assert answer.status_code == 200
        assert answer.http_version == "HTTP/2"
        assert client.get("/v1/session").json()["error"] == "unauthenticated"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def self_signed_rsa(directory):
    # The CBC suites refused below are ECDHE-RSA: an RSA key offers them.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return self_signed(directory, key, prefix="rsa-")


# TLS 1.2 CBC suites (no AEAD) that Mozilla's "intermediate" profile refuses.
REFUSED_SUITES = ("ECDHE-RSA-AES128-SHA256", "ECDHE-RSA-AES256-SHA384", "ECDHE-RSA-AES128-SHA")
ACCEPTED_SUITES = ("ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-CHACHA20-POLY1305")


def handshake(url, suite=None):
    """The suite a TLS 1.2 client offering only ``suite`` gets (TLS 1.3
    when ``suite`` is None), or the ssl error."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if suite is not None:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers(suite + ":@SECLEVEL=0")
    with (
        socket.create_connection(address(url), timeout=10) as raw,
        context.wrap_socket(raw) as tls,
    ):
        return tls.version(), tls.cipher()[0]


def test_every_tls_listener_speaks_mozilla_intermediate_only(own_gateway, tmp_path):
    cert, key = self_signed_rsa(tmp_path)
    h2_port = free_port()
    own_gateway.config_path.write_text(
        TEST_CONFIG
        + f'\n[http]\ncertfile = "{cert}"\nkeyfile = "{key}"\nh2_bind = "127.0.0.1:{h2_port}"\n'
    )
    own_gateway.start()
    listeners = {
        "public": own_gateway.public_url,
        "admin": own_gateway.admin_url,
        "h2_bind": f"https://127.0.0.1:{h2_port}",
    }
    for name, url in listeners.items():
        assert url.startswith("https://"), name
        for suite in REFUSED_SUITES:
            try:
                got = handshake(url, suite)
            except (ssl.SSLError, ConnectionResetError):
                continue
            raise AssertionError(f"{name} accepted {suite}: {got}")
        for suite in ACCEPTED_SUITES:
            assert handshake(url, suite) == ("TLSv1.2", suite), (name, suite)
        assert handshake(url)[0] == "TLSv1.3", name
