"""The conformance suite for :class:`~tenantbill.ports.Mailer` adapters, and an SMTP server to test against.

An adapter passes when what its peer receives (an SMTP server, a provider's
API, a list in memory) is what the protocol promises: every To, Cc and Bcc
recipient gets the message once, Bcc stays hidden, a Unicode subject and body
and a binary attachment arrive unchanged, the ``Message-ID`` (which the
outbox uses to make retries detectable) is kept, and a message without
recipients is refused with a :class:`~tenantbill.errors.TenantbillError`.

Test your own adapter by subclassing :class:`MailerConformance` in a module
pytest collects, saying how to build the adapter and what its peer got::

    import pytest
    from tenantbill.testing.mailer import MailerConformance, Received, SmtpSink

    class TestMyMailer(MailerConformance):
        @pytest.fixture(autouse=True)
        def _server(self):
            with SmtpSink() as self.sink:  # or start your provider's fake here
                yield

        def make_mailer(self):
            return MyMailer(host=self.sink.host, port=self.sink.port)

        def received(self):
            return self.sink.received

:meth:`~MailerConformance.make_mailer` is called once per test, before
:meth:`~MailerConformance.received`. An adapter that deliberately lacks a
property switches its check off with a class attribute
(``validates_recipients = False``, ``hides_bcc = False``), so the gap is
visible in the test code. :class:`SmtpSink` needs ``aiosmtpd``
(``pip install tenantbill[smtp-tests]``).
"""

from __future__ import annotations

import email.policy
import socket
import threading
import warnings
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses
from ssl import SSLContext
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self

import attrs
import pytest

from tenantbill.errors import InvalidInput, TenantbillError
from tenantbill.ports import Mailer

if TYPE_CHECKING:
    from aiosmtpd.controller import Controller

__all__ = ["MailerConformance", "Received", "SmtpSink"]


def _addresses(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen
class Received:
    """One message as the adapter's peer got it: who it was for, and what it said."""

    recipients: tuple[str, ...] = attrs.field(converter=_addresses)
    """The addresses it was delivered to (for SMTP, the envelope's RCPT TO)."""
    message: EmailMessage
    """The message (a peer that got bytes parses them with :data:`email.policy.default`)."""

    @classmethod
    def from_headers(cls, message: EmailMessage) -> Received:
        """A message whose recipients are its own To, Cc and Bcc headers (for peers without an envelope)."""
        fields = [str(v) for name in ("To", "Cc", "Bcc") for v in message.get_all(name, [])]
        return cls([address for _, address in getaddresses(fields) if address], message)


def _unix_lines(text: str) -> str:
    return text.replace("\r\n", "\n")


class MailerConformance:
    """What every :class:`~tenantbill.ports.Mailer` adapter must do; subclass it as ``Test…``."""

    validates_recipients: ClassVar[bool] = True
    """Whether the adapter refuses a message with no recipients (check it unless set to False)."""
    hides_bcc: ClassVar[bool] = True
    """Whether what the peer receives lacks the Bcc header (check it unless set to False)."""

    sender: ClassVar[str] = "Acme AS <faktura@example.no>"
    """The From address of the test messages; override it if the adapter's peer only accepts some."""

    def make_mailer(self) -> Mailer:
        """A new adapter whose deliveries :meth:`received` reports."""
        raise NotImplementedError(f"{type(self).__name__} must define make_mailer()")

    def received(self) -> Sequence[Received]:
        """Everything the peer of the adapter from :meth:`make_mailer` received so far, oldest first."""
        raise NotImplementedError(f"{type(self).__name__} must define received()")

    # the checks
    def test_every_to_cc_and_bcc_recipient_gets_the_message_once(self) -> None:
        """Recipients are the To, Cc and Bcc headers: each one gets the message, and only once."""
        mailer = self.make_mailer()
        message = self._message(subject="Faktura 1001")
        message["To"] = "Kari Nordmann <kari@example.no>, ola@example.no"
        message["Cc"] = "regnskap@example.com"
        message["Bcc"] = "revisor@example.com"
        mailer.send(message)

        got = self.received()
        counts = Counter(address.casefold() for item in got for address in item.recipients)
        assert counts == {
            "kari@example.no": 1,
            "ola@example.no": 1,
            "regnskap@example.com": 1,
            "revisor@example.com": 1,
        }
        for item in got:
            assert item.message["Subject"] == "Faktura 1001"
            assert item.message["From"] == self.sender

    def test_bcc_recipients_are_not_disclosed(self) -> None:
        """A blind copy goes out, but no recipient can see who got it."""
        if not self.hides_bcc:
            pytest.skip(f"{type(self).__name__} does not claim to hide Bcc (hides_bcc = False)")
        mailer = self.make_mailer()
        message = self._message(subject="Faktura 1002")
        message["To"] = "kari@example.no"
        message["Bcc"] = "revisor@example.com"
        mailer.send(message)

        got = self.received()
        assert got
        for item in got:
            assert "Bcc" not in item.message
            assert "revisor@example.com" not in item.message.as_string()

    def test_unicode_subject_and_body_arrive_unchanged(self) -> None:
        """Norwegian, Swedish and emoji text in headers and both bodies survives, as do dotted lines."""
        subject = "Faktura 1003 från Ålesund Rør & Søn AS — 1 250,00 kr ✓"
        body = (
            "Hei Åse Ødegård,\n\n"
            "Vedlagt er faktura 1003. Å betale: 1\u00a0250,00\u00a0kr, forfall 29. januar.\n"
            ".a line that starts with a dot, which SMTP must escape\n"
            + "Ein sehr langer Absatz mit Umlauten äöü und Emoji 🧾, " * 4
            + "\n"
        )
        mailer = self.make_mailer()
        message = self._message(subject=subject, body=body)
        message["To"] = "Åse Ødegård <ase@example.no>"
        message.add_alternative(f"<p>{body}</p>", subtype="html")
        mailer.send(message)

        (item,) = self.received()
        assert item.message["Subject"] == subject
        assert item.message["To"].addresses[0].display_name == "Åse Ødegård"
        plain = item.message.get_body(("plain",))
        html = item.message.get_body(("html",))
        assert plain is not None
        assert html is not None
        # SMTP carries lines as CRLF; which line ending a parser hands back is not content.
        assert _unix_lines(plain.get_content()) == body
        assert _unix_lines(html.get_content()) == f"<p>{body}</p>\n"

    def test_attachment_arrives_byte_identical(self) -> None:
        """An attachment (the invoice PDF) arrives with every byte, name and content type intact."""
        data = bytes(range(256)) * 8 + b"\r\n.\r\n\n.\n\r\x00" + b"%PDF-1.4\n" * 100
        mailer = self.make_mailer()
        message = self._message(subject="Faktura 1004")
        message["To"] = "kari@example.no"
        message.add_attachment(data, maintype="application", subtype="pdf", filename="1004.pdf")
        mailer.send(message)

        (item,) = self.received()
        (attachment,) = item.message.iter_attachments()
        assert isinstance(attachment, EmailMessage)
        assert attachment.get_content_type() == "application/pdf"
        assert attachment.get_filename() == "1004.pdf"
        assert attachment.get_content() == data

    def test_message_id_is_kept(self) -> None:
        """The Message-ID is kept, so a recipient can recognize a retried message as a duplicate."""
        mailer = self.make_mailer()
        message = self._message(subject="Faktura 1005")
        message["To"] = "kari@example.no"
        message["Message-ID"] = "<0123456789abcdef@tenantbill>"
        mailer.send(message)

        (item,) = self.received()
        assert item.message["Message-ID"] == "<0123456789abcdef@tenantbill>"

    def test_message_without_recipients_is_refused(self) -> None:
        """A message with no recipient is an error the outbox records, not a silent no-op."""
        if not self.validates_recipients:
            pytest.skip(
                f"{type(self).__name__} does not claim to refuse a message without recipients "
                "(validates_recipients = False)"
            )
        mailer = self.make_mailer()
        with pytest.raises(TenantbillError):
            mailer.send(self._message(subject="Faktura 1006"))
        assert not self.received()

    def _message(self, *, subject: str, body: str = "Vedlagt er fakturaen.\n") -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["Subject"] = subject
        message.set_content(body)
        return message


class SmtpSink:
    """An SMTP server on 127.0.0.1 (a free port) that keeps every message it accepts.

    Use it as a context manager; :attr:`received` lists what arrived.
    ``credentials`` (user, password) makes it demand a login. ``ssl_context``
    (a server context with a certificate) serves implicit TLS, or with
    ``starttls=True`` demands STARTTLS. Mail to an address in
    ``refuse`` is answered with 550, as for an unknown mailbox.
    """

    host = "127.0.0.1"
    """Where the server listens."""

    def __init__(
        self,
        *,
        credentials: tuple[str, str] | None = None,
        ssl_context: SSLContext | None = None,
        starttls: bool = False,
        refuse: Collection[str] = (),
    ) -> None:
        if starttls and ssl_context is None:
            raise InvalidInput("starttls needs an ssl_context with the server's certificate")
        self.port = 0
        """The port it listens on (known once started)."""
        self._credentials = credentials
        self._ssl_context = ssl_context
        self._starttls = starttls
        self._refuse = frozenset(address.casefold() for address in refuse)
        self._received: list[Received] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    @property
    def received(self) -> list[Received]:
        """The messages accepted so far, oldest first."""
        with self._lock:
            return list(self._received)

    def start(self) -> None:
        """Start listening (in a thread of its own)."""
        listener = socket.create_server((self.host, 0))
        self.port = listener.getsockname()[1]
        self._controller = self._make_controller(listener)
        try:
            self._controller.start()
        except BaseException:
            listener.close()
            raise

    def stop(self) -> None:
        """Stop listening and close every connection."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _make_controller(self, listener: socket.socket) -> Controller:
        """An aiosmtpd controller serving this sink on the bound ``listener`` (no race for the port)."""
        from aiosmtpd.controller import Controller

        class BoundController(Controller):
            def _create_server(self) -> Any:
                return self.loop.create_server(self._factory_invoker, sock=listener, ssl=self.ssl_context)

            def _factory_invoker(self) -> Any:
                # Logging in without TLS is the point of a plain loopback test server.
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
                    return super()._factory_invoker()

        # A fixed server name spares aiosmtpd a DNS lookup of this machine's name.
        options: dict[str, Any] = {"server_hostname": "smtp-sink.example.com", "ready_timeout": 5.0}
        if self._credentials is not None:
            options.update(
                authenticator=self._authenticate, auth_required=True, auth_require_tls=self._starttls
            )
        if self._starttls:
            options.update(tls_context=self._ssl_context, require_starttls=True)
        elif self._ssl_context is not None:
            options.update(ssl_context=self._ssl_context)
        return BoundController(self, hostname=self.host, port=self.port, **options)

    # aiosmtpd handler hooks
    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        """Accept a recipient unless it is one to refuse."""
        if address.casefold() in self._refuse:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Keep the message."""
        content = envelope.original_content or envelope.content
        message = BytesParser(policy=email.policy.default).parsebytes(content)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self._received.append(Received(envelope.rcpt_tos, message))
        return "250 OK: queued"

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        assert self._credentials is not None
        user, password = self._credentials
        ok = isinstance(auth_data, LoginPassword) and auth_data == (user.encode(), password.encode())
        return AuthResult(success=ok, handled=False)
