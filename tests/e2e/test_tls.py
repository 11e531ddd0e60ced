"""TLS served by ``lumen serve`` itself: a private CA made on the fly, wss:// and https:// verified.

Also: the server refuses to start on missing, mismatched or malformed
certificate files, and clients refuse a certificate their CA did not sign.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from serve_process import ServeProcess, free_port, run_lumen
from support import SECRET, final_text, read_wav, wav_bytes
from test_demo import chromium, microphone, run_demo  # noqa: F401 (microphone is a fixture)

from lumen.auth import mint_token
from lumen.client import ClientError, Closed, LumenClient


@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path
    key: Path
    other_ca: Path
    other_key: Path
    spki_sha256: str
    """base64 SHA-256 of the server key's SubjectPublicKeyInfo (what Chromium pins)."""


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


def make_ca(name: str, path: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA and a server certificate for localhost/127.0.0.1 it signed; another CA and key."""
    root = tmp_path_factory.mktemp("pki")
    ca_cert, ca_key = make_ca("Lumen test CA", root / "ca.pem")
    make_ca("Someone else's CA", root / "other-ca.pem")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    (root / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    return Pki(ca=root / "ca.pem", cert=root / "server.pem",
               key=_write_key(key, root / "server-key.pem"), other_ca=root / "other-ca.pem",
               other_key=_write_key(ec.generate_private_key(ec.SECP256R1()), root / "other-key.pem"),
               spki_sha256=base64.b64encode(hashlib.sha256(spki).digest()).decode())


@pytest.fixture(scope="module")
def tls_server(tiny_model, pki, tmp_path_factory) -> Iterator[ServeProcess]:
    served = ServeProcess(tiny_model, tmp_path_factory.mktemp("tls-server"), "--certfile", str(pki.cert),
                          "--keyfile", str(pki.key), tls_ca=pki.ca).start()  # /readyz over https
    yield served
    served.stop()


def test_full_session_over_wss_verified_against_the_private_ca(tls_server, pki, testdata):
    audio, rate = read_wav(testdata / "jfk.wav")
    token = mint_token(SECRET, sub="tls")

    async def session():
        client = await LumenClient.connect(tls_server.url, token, cafile=str(pki.ca))
        await client.send_audio(wav_bytes(audio, rate))
        await client.end()
        return [event async for event in client.events()]

    events = asyncio.run(session())
    assert "country" in final_text(events).lower()
    assert isinstance(events[-1], Closed) and events[-1].code == 1000
    assert tls_server.get("/metrics")[0] == 200 and tls_server.get("/")[0] == 200


@pytest.mark.parametrize("cafile", ["other", None], ids=["other-ca", "system-cas"])
def test_a_certificate_the_client_does_not_trust_is_refused(tls_server, pki, cafile):
    async def connect():
        await LumenClient.connect(tls_server.url, mint_token(SECRET, sub="tls"),
                                  cafile=str(pki.other_ca) if cafile else None)
    with pytest.raises(ClientError, match="certificate verify failed"):
        asyncio.run(connect())


def test_lumen_transcribe_over_wss_with_cafile(tls_server, pki, testdata):
    result = run_lumen("transcribe", str(testdata / "jfk.wav"), "--fast", "--url", tls_server.url,
                       "--cafile", str(pki.ca), env={"LUMEN_TOKEN": mint_token(SECRET, sub="tls")})
    assert result.returncode == 0, result.stderr
    assert "country" in result.stdout


def test_demo_page_over_https(tls_server, pki, microphone, tmp_path):  # noqa: F811
    """The page builds wss:// from its https:// location (Chromium trusts the server's key)."""
    browser = chromium(microphone, tmp_path / "profile",
                       f"--ignore-certificate-errors-spki-list={pki.spki_sha256}")
    try:
        run_demo(browser, tls_server.http + "/", mint_token(SECRET, sub="browser"), speakers=False)
    finally:
        browser.quit()


@pytest.mark.parametrize("files,message", [
    (("missing.pem", "server-key.pem"), "tls_certfile: no such file"),
    (("server.pem", "missing.pem"), "tls_keyfile: no such file"),
    (("server.pem", "other-key.pem"), "is not the private key of the certificate"),
    (("server-key.pem", "server.pem"), "cannot load the TLS certificate"),
    (("server.pem", None), "tls_certfile and tls_keyfile must be set together"),
])
def test_serve_refuses_bad_tls_files(pki, files, message, tmp_path):
    certfile, keyfile = (str(pki.ca.parent / name) if name else None for name in files)
    args = ["serve", "--host", "127.0.0.1", "--port", str(free_port()), "--certfile", certfile]
    if keyfile:
        args += ["--keyfile", keyfile]
    result = run_lumen(*args, env={"LUMEN_JWT_SECRET": SECRET}, timeout=120)
    assert result.returncode == 2 and result.stderr.startswith("lumen serve: ")
    assert message in result.stderr
