"""TLS termination and HTTP/2 through Hypercorn."""

import datetime
import ssl

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.http.harness import TEST_CONFIG


def self_signed(directory):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    import ipaddress

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
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_https_and_http2(own_gateway, tmp_path):
    cert, key = self_signed(tmp_path)
    own_gateway.config_path.write_text(
        TEST_CONFIG + f'\n[http]\ncertfile = "{cert}"\nkeyfile = "{key}"\n'
    )
    own_gateway.start()
    assert own_gateway.public_url.startswith("https://")
    context = ssl.create_default_context(cafile=str(cert))
    with httpx.Client(base_url=own_gateway.public_url, verify=context, http2=True) as client:
        answer = client.get("/healthz")
        assert answer.status_code == 200
        assert answer.http_version == "HTTP/2"
        assert client.get("/v1/session").json()["error"] == "unauthenticated"
