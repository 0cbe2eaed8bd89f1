"""smtp_alert: e-mails on transitions through ``smtp_server``, keepalived's subject and body.

Sent from a queue in a worker thread with a bounded timeout, so a dead mail server delays nothing but
later mails. Extensions keepalived lacks (global_defs keys proposed: ``smtp_starttls``,
``smtp_auth_user``, ``smtp_auth_password_file``): STARTTLS before AUTH, and AUTH with a password read
from a root-only file rather than the config.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tandem.config.model import GlobalDefs

if TYPE_CHECKING:
    import ssl
    from email.message import EmailMessage

log = logging.getLogger(__name__)
QUEUE_LIMIT = 100  # mails waiting beyond this are dropped (and logged): a dead server must not hoard memory

BODIES = {
    ("INSTANCE", "MASTER"): "=> VRRP Instance is now owning VRRP VIPs <=",
    ("INSTANCE", "BACKUP"): "=> VRRP Instance is nolonger owning VRRP VIPs <=",
    ("INSTANCE", "FAULT"): "=> VRRP Instance is nolonger owning VRRP VIPs <=",
    ("REALSERVER", "UP"): "=> CHECK succeed on service <=",
    ("REALSERVER", "DOWN"): "=> CHECK failed on service <=",
    ("VIRTUALSERVER", "UP"): "=> Gained quorum <=",
    ("VIRTUALSERVER", "DOWN"): "=> Lost quorum <=",
}
ALERT_STATES = ("MASTER", "BACKUP", "FAULT", "UP", "DOWN")


def alert_text(router_id: str, kind: str, name: str, state: str) -> tuple[str, str]:
    """keepalived's subject and body for a VRRP transition of an instance or a sync group, or for a real
    server (``name``: "[rs]:port of [vip]:port") going UP/DOWN and a virtual server's quorum."""
    if kind == "REALSERVER":
        real, _, virtual = name.partition(" of ")
        return f"[{router_id}] Realserver {real} of virtual server {virtual} - {state}", BODIES[(kind, state)]
    if kind == "VIRTUALSERVER":
        return f"[{router_id}] Virtualserver {name} - {state}", BODIES[(kind, state)]
    if kind == "GROUP":
        return (
            f"[{router_id}] VRRP Group {name} - Entering {state} state",
            f"=> All VRRP group instances are now in {state} state <=",
        )
    return f"[{router_id}] VRRP Instance {name} - Entering {state} state", BODIES[(kind, state)]


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    server: str
    recipients: tuple[str, ...]
    sender: str
    router_id: str
    port: int = 25
    helo: str | None = None
    timeout: float = 30.0
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    tls_context: ssl.SSLContext | None = None  # None: the system's default trust store

    @classmethod
    def from_global_defs(
        cls,
        defs: GlobalDefs,
        *,
        starttls: bool = False,
        username: str | None = None,
        password_file: str | None = None,
    ) -> SmtpSettings | None:
        """None when no mail can be sent (no smtp_server or no notification_email)."""
        if not defs.smtp_server or not defs.notification_email:
            return None
        host = socket.gethostname()
        password = None
        if password_file is not None:
            with open(password_file, encoding="utf-8") as handle:
                password = handle.read().strip()
        return cls(
            server=defs.smtp_server,
            recipients=defs.notification_email,
            sender=defs.notification_email_from or f"keepalived@{host}",
            router_id=defs.router_id or host,
            port=defs.smtp_port,
            helo=defs.smtp_helo_name,
            timeout=defs.smtp_connect_timeout,
            starttls=starttls,
            username=username,
            password=password,
        )


def mailer_from_global_defs(defs: GlobalDefs) -> Mailer | None:
    """The Mailer of a config's smtp settings; None when no mail can be sent (or the password file
    cannot be read: logged)."""
    try:
        settings = SmtpSettings.from_global_defs(
            defs,
            starttls=defs.smtp_starttls,
            username=defs.smtp_auth_user,
            password_file=defs.smtp_auth_password_file,
        )
    except OSError as error:
        log.error("smtp_alert disabled: cannot read smtp_auth_password_file: %s", error)
        return None
    return Mailer(settings) if settings is not None else None


class Mailer:
    """``alert(kind, name, state)`` queues a mail; :meth:`run` sends them one by one."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self.sent = 0
        self.failed = 0
        self._queue: asyncio.Queue[EmailMessage] = asyncio.Queue(QUEUE_LIMIT)

    def alert(self, kind: str, name: str, state: str) -> None:
        if state not in ALERT_STATES:
            return
        # email and smtplib load only once there is mail to send: most daemons never send any
        from email.message import EmailMessage
        from email.utils import formatdate

        subject, body = alert_text(self.settings.router_id, kind, name, state)
        message = EmailMessage()
        message["Date"] = formatdate(localtime=True)
        message["From"] = self.settings.sender
        message["Subject"] = subject
        message["X-Mailer"] = "Tandem"
        message["To"] = ", ".join(self.settings.recipients)
        message.set_content(body)
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self.failed += 1
            log.error("smtp alert dropped (%d mails waiting): %s", QUEUE_LIMIT, subject)

    async def run(self) -> None:
        while True:
            message = await self._queue.get()
            try:
                # the socket timeout bounds every step; wait_for is the backstop for the whole exchange
                await asyncio.wait_for(asyncio.to_thread(self._send, message), 2 * self.settings.timeout)
                self.sent += 1
            except OSError as error:  # SMTPException and TimeoutError are OSErrors
                self.failed += 1
                log.error("smtp alert %r via %s failed: %s", message["Subject"], self.settings.server, error)
            finally:
                self._queue.task_done()

    async def drain(self) -> None:
        """Wait until every queued mail was sent or given up on."""
        await self._queue.join()

    def _send(self, message: EmailMessage) -> None:
        import smtplib
        import ssl  # here, not at the top: the VRRP child loads it only when it sends a mail

        settings = self.settings
        with smtplib.SMTP(
            settings.server, settings.port, local_hostname=settings.helo, timeout=settings.timeout
        ) as smtp:
            if settings.starttls:
                smtp.starttls(context=settings.tls_context or ssl.create_default_context())
            if settings.username is not None:
                smtp.login(settings.username, settings.password or "")
            smtp.send_message(message)
