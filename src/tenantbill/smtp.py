"""A :class:`~tenantbill.ports.Mailer` that delivers through an SMTP server (stdlib :mod:`smtplib`).

>>> mailer = SmtpMailer("smtp.example.com", 587, starttls=True,
...                     username="billing", password="secret")  # doctest: +SKIP
>>> app = Tenantbill(store=store, mailer=mailer, sender="Acme <faktura@acme.no>")  # doctest: +SKIP

Each :meth:`SmtpMailer.send` opens its own connection, sends and says QUIT.
The Mailer protocol has no ``close()``, so a connection kept for reuse would
outlive the delivery run that opened it; separate connections also make one
mailer safe to share between threads. TLS (implicit or STARTTLS) verifies the
server's certificate against the system's trust store unless another
``ssl_context`` is given.

The envelope is taken from the raw To, Cc and Bcc fields, never from text
decoded out of encoded words, and every address must be a plain ASCII
address. Before connecting, the message is written out exactly as it will be
sent and checked: each header must come out as one field (no line break in a
value may start another field or end the header block), and the written
header must name the same sender and no recipient outside the envelope. A
message that fails these checks is refused with
:class:`~tenantbill.errors.DeliveryError` instead of being sent.
"""

from __future__ import annotations

import contextlib
import copy
import email.policy
import io
import re
import smtplib
from email.generator import BytesGenerator
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser
from email.utils import getaddresses
from ssl import SSLContext, create_default_context

from tenantbill.errors import DeliveryError, InvalidInput

__all__ = ["SmtpMailer"]


class SmtpMailer:
    """Sends each message to its To, Cc and Bcc recipients through one SMTP server.

    ``ssl`` connects with implicit TLS (usually port 465), ``starttls`` upgrades
    a plain connection (usually port 587); ``username`` and ``password`` log in
    after that. Every failure, from a refused connection to a rejected
    recipient, raises :class:`~tenantbill.errors.DeliveryError`.
    """

    def __init__(
        self,
        host: str = "localhost",
        port: int = 25,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        ssl: bool = False,
        timeout: float = 30.0,
        ssl_context: SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        if not isinstance(host, str) or not host:
            raise InvalidInput(f"host must be a server name or address, got {host!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise InvalidInput(f"port must be a number from 1 to 65535, got {port!r}")
        if ssl and starttls:
            raise InvalidInput(
                "choose either ssl (implicit TLS, usually port 465) or starttls "
                "(upgrade a plain connection, usually port 587), not both"
            )
        if (username is None) != (password is None):
            raise InvalidInput("give both username and password to log in, or neither")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            raise InvalidInput(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.host = host
        """The SMTP server's name or address."""
        self.port = port
        """The SMTP server's port."""
        self.username = username
        """The login name, or ``None`` to send without logging in."""
        self.starttls = starttls
        """Whether to upgrade the connection with STARTTLS before logging in."""
        self.ssl = ssl
        """Whether to connect with implicit TLS."""
        self.timeout = timeout
        """Seconds to wait for the server on each network operation."""
        self.local_hostname = local_hostname
        """The name sent in EHLO (default: this machine's fully qualified name)."""
        self._password = password
        # smtplib's own default context does not verify certificates; ours does.
        self._ssl_context = ssl_context or (create_default_context() if ssl or starttls else None)

    def __repr__(self) -> str:
        tls = "ssl" if self.ssl else "starttls" if self.starttls else "plain"
        return f"SmtpMailer({self.host!r}, {self.port}, {tls}, username={self.username!r})"

    def send(self, message: EmailMessage) -> None:
        """Deliver ``message`` to every address in its To, Cc and Bcc headers (Bcc is not transmitted).

        Raises :class:`~tenantbill.errors.DeliveryError` if the message has no
        sender or no recipients, if an address is not a plain ASCII address,
        if a header would not be written as the one field it is (see the
        module's docstring), or if the server cannot be reached or refuses the
        login, the sender or any recipient.
        """
        sender = _sender(message)
        recipients = _recipients(message)
        if not sender:
            raise DeliveryError("the message has no From address; set message['From'] before sending")
        if not recipients:
            raise DeliveryError("the message has no recipients; set its To, Cc or Bcc header before sending")
        data = _wire_bytes(message, sender, recipients)
        step = "connecting"
        connection: smtplib.SMTP | None = None
        try:
            connection = self._connect()
            if self.starttls:
                step = "starting TLS"
                connection.starttls(context=self._ssl_context)
            if self.username is not None and self._password is not None:
                step = "logging in"
                connection.login(self.username, self._password)
            step = "sending"
            refused = connection.sendmail(sender, recipients, data)
            _quit(connection)
        except smtplib.SMTPException as error:
            raise DeliveryError(self._explain(step, error)) from error
        except OSError as error:
            raise DeliveryError(f"SMTP server {self._where} failed while {step}: {error}") from error
        finally:
            if connection is not None:
                connection.close()
        if refused:
            raise DeliveryError(
                f"SMTP server {self._where} refused {_refusals(refused)}; the other recipients were accepted"
            )

    @property
    def _where(self) -> str:
        return f"{self.host}:{self.port}"

    def _connect(self) -> smtplib.SMTP:
        if self.ssl:
            return smtplib.SMTP_SSL(
                self.host,
                self.port,
                local_hostname=self.local_hostname,
                timeout=self.timeout,
                context=self._ssl_context,
            )
        return smtplib.SMTP(self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout)

    def _explain(self, step: str, error: smtplib.SMTPException) -> str:
        """What went wrong, with the server's reply when there is one."""
        where = f"SMTP server {self._where}"
        if isinstance(error, smtplib.SMTPRecipientsRefused):
            return f"{where} refused every recipient: {_refusals(error.recipients)}"
        if isinstance(error, smtplib.SMTPResponseException):
            return f"{where} replied {_reply(error.smtp_code, error.smtp_error)} while {step}"
        if isinstance(error, smtplib.SMTPServerDisconnected):
            return f"{where} closed the connection or stopped answering while {step} ({error})"
        return f"{where} failed while {step}: {error}"


# A dot-atom local part and a domain name: what plain SMTP carries without quoting or SMTPUTF8.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9.-]+")
_RECIPIENT_FIELDS = ("to", "cc", "bcc")
_HIDDEN_FIELDS = ("bcc", "resent-bcc")


def _sender(message: EmailMessage) -> str:
    """The envelope sender, as smtplib would choose it: Sender if present, else From."""
    for field in ("sender", "from"):
        addresses = _addresses(message, (field,))
        if addresses:
            return addresses[0]
    return ""


def _recipients(message: EmailMessage) -> list[str]:
    """Every To, Cc and Bcc address, once each (compared case-insensitively), in order."""
    unique: dict[str, str] = {}
    for address in _addresses(message, _RECIPIENT_FIELDS):
        unique.setdefault(address.lower(), address)
    return list(unique.values())


def _addresses(message: Message, fields: tuple[str, ...]) -> list[str]:
    """The addresses in ``fields``, read from their raw values (encoded words are never decoded).

    A value the modern API stored is a parsed header: its addresses are taken
    from the parse. A raw value (set with the legacy API, or parsed from
    bytes) is read with two parsers that must agree. Each address must be a
    plain ASCII address without ``=?``; anything else is refused.
    """
    found: list[str] = []
    for name, value in message.raw_items():
        if name.lower() not in fields:
            continue
        parsed = getattr(value, "addresses", None)
        if parsed is not None:
            addresses = [address.addr_spec for address in parsed]
        else:
            raw = "".join(str(value).splitlines())
            addresses = [address for _, address in getaddresses([raw]) if address]
            modern = email.policy.default.header_factory(name, raw)
            if [a.addr_spec for a in getattr(modern, "addresses", ())] != addresses:
                raise DeliveryError(f"the {name} header {raw!r} does not read the same to every parser")
        for address in addresses:
            if not _PLAIN_ADDRESS.fullmatch(address) or "=?" in address:
                raise DeliveryError(
                    f"the {name} header holds {address!r}, which is not a plain ASCII e-mail address "
                    "(an international address would need SMTPUTF8, which this mailer does not use)"
                )
        found.extend(addresses)
    return found


def _wire_bytes(message: EmailMessage, sender: str, recipients: list[str]) -> bytes:
    """``message`` as it goes to the server (without Bcc), after checking that its header kept its shape."""
    policy = message.policy.clone(linesep="\r\n")
    outgoing = copy.copy(message)
    for field in _HIDDEN_FIELDS:
        del outgoing[field]
    for name, value in outgoing.raw_items():
        _check_one_field(name, policy.fold_binary(name, value))
    with io.BytesIO() as buffer:
        BytesGenerator(buffer, policy=policy).flatten(outgoing, linesep="\r\n")
        data = buffer.getvalue()
    written = BytesHeaderParser(policy=email.policy.compat32).parsebytes(data)
    expected = [name.lower() for name in outgoing]
    if [name.lower() for name in written] != expected:
        raise DeliveryError("the message's header would not be written as it is; refusing to send it")
    envelope = {address.lower() for address in recipients}
    if (
        _addresses(written, ("sender", "from"))[:1] != [sender]
        or not {address.lower() for address in _addresses(written, _RECIPIENT_FIELDS)} <= envelope
    ):
        raise DeliveryError("the written header names other addresses than the envelope; refusing to send it")
    return data


def _check_one_field(name: str, folded: bytes) -> None:
    """Refuse a header that would be written as more than the one field ``name``."""
    lines = folded.split(b"\r\n")
    if lines[-1] == b"":
        lines.pop()
    first, rest = lines[0], lines[1:]
    if not first.lower().startswith(name.lower().encode("ascii", "replace") + b":") or any(
        line[:1] not in (b" ", b"\t") or not line.strip() for line in rest
    ):
        raise DeliveryError(f"the {name} header would be written as more than one field; refusing to send it")


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {' '.join(text.split())}"


def _refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    return ", ".join(f"{address} ({_reply(*reply)})" for address, reply in refused.items())


def _quit(connection: smtplib.SMTP) -> None:
    """Say goodbye; the message is sent, so a server that hangs up first changes nothing."""
    with contextlib.suppress(smtplib.SMTPException, OSError):
        connection.quit()
