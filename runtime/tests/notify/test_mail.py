"""smtp_alert against a real SMTP server (aiosmtpd on loopback): plain, STARTTLS + AUTH, and a dead server."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tandem.config.model import GlobalDefs
from tandem.notify.mail import Mailer, SmtpSettings
from tandemlab.ports import free_port

LOOPBACK = "127.0.0.1"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], str]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content.decode()))
        return "250 OK"


@pytest.fixture
def certificate(tmp_path):
    """A self-signed certificate for 127.0.0.1, made here."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tandem test smtp")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(cert_path), str(key_path)


def defs(port: int, smtp_connect_timeout: float = 2) -> GlobalDefs:
    return GlobalDefs(
        router_id="lb1",
        notification_email=("ops@example.org", "noc@example.org"),
        notification_email_from="tandem@example.org",
        smtp_server=LOOPBACK,
        smtp_port=port,
        smtp_connect_timeout=smtp_connect_timeout,
    )


async def deliver(mailer: Mailer, *alerts: tuple[str, str, str]) -> None:
    worker = asyncio.ensure_future(mailer.run())
    for alert in alerts:
        mailer.alert(*alert)
    try:
        async with asyncio.timeout(10):
            while mailer.sent + mailer.failed < len(alerts):
                await asyncio.sleep(0.02)
    finally:
        worker.cancel()


def test_plain_alert_has_keepalived_subject_and_body():
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname=LOOPBACK, port=port)
    controller.start()
    try:
        mailer = Mailer(SmtpSettings.from_global_defs(defs(port)))
        asyncio.run(deliver(mailer, ("INSTANCE", "VI_1", "MASTER"), ("GROUP", "VG_1", "BACKUP")))
    finally:
        controller.stop()
    assert mailer.sent == 2
    (sender, rcpts, first), (_, _, second) = inbox.messages
    assert sender == "tandem@example.org" and rcpts == ["ops@example.org", "noc@example.org"]
    assert "Subject: [lb1] VRRP Instance VI_1 - Entering MASTER state" in first
    assert "=> VRRP Instance is now owning VRRP VIPs <=" in first
    assert "Subject: [lb1] VRRP Group VG_1 - Entering BACKUP state" in second
    assert "=> All VRRP group instances are now in BACKUP state <=" in second


def test_starttls_and_auth(certificate, tmp_path):
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=(auth_data.login, auth_data.password) == (b"alerts", b"s3cret"))

    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox,
        hostname=LOOPBACK,
        port=port,
        tls_context=server_tls,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    controller.start()
    password_file = tmp_path / "smtp-password"
    password_file.write_text("s3cret\n")
    try:
        settings = SmtpSettings.from_global_defs(
            defs(port), starttls=True, username="alerts", password_file=str(password_file)
        )
        client_tls = ssl.create_default_context(cafile=cert)
        mailer = Mailer(
            SmtpSettings(
                **{**{f: getattr(settings, f) for f in settings.__slots__}, "tls_context": client_tls}
            )
        )
        asyncio.run(deliver(mailer, ("INSTANCE", "VI_1", "FAULT")))
    finally:
        controller.stop()
    assert mailer.sent == 1 and logins == [(b"alerts", b"s3cret")]
    assert "Entering FAULT state" in inbox.messages[0][2]


def test_dead_server_times_out_without_delaying_the_caller():
    silent = socket.socket()  # accepts connections (backlog) but never says a word
    silent.bind((LOOPBACK, 0))
    silent.listen(8)
    try:
        mailer = Mailer(
            SmtpSettings.from_global_defs(defs(silent.getsockname()[1], smtp_connect_timeout=0.5))
        )

        async def scenario():
            loop = asyncio.get_running_loop()
            ticks = []
            ticker = asyncio.ensure_future(_tick(loop, ticks))
            await deliver(mailer, ("INSTANCE", "VI_1", "MASTER"))
            ticker.cancel()
            return ticks

        ticks = asyncio.run(scenario())
    finally:
        silent.close()
    assert mailer.failed == 1 and mailer.sent == 0
    assert len(ticks) >= 3  # the event loop kept running while the mail waited for the server


async def _tick(loop, ticks):
    while True:
        ticks.append(loop.time())
        await asyncio.sleep(0.05)


def test_load_balancer_alert_texts_are_keepalived_s():
    from tandem.notify.mail import alert_text

    assert alert_text("lb1", "REALSERVER", "[198.51.100.1]:80 of [203.0.113.1]:80", "DOWN") == (
        "[lb1] Realserver [198.51.100.1]:80 of virtual server [203.0.113.1]:80 - DOWN",
        "=> CHECK failed on service <=",
    )
    assert alert_text("lb1", "VIRTUALSERVER", "[203.0.113.1]:80", "UP") == (
        "[lb1] Virtualserver [203.0.113.1]:80 - UP",
        "=> Gained quorum <=",
    )
