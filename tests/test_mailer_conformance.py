"""The Mailer conformance suite, run against every mailer tenantbill ships."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tenantbill.memory import MemoryMailer
from tenantbill.smtp import SmtpMailer
from tenantbill.testing.mailer import MailerConformance, Received, SmtpSink


class TestMemoryMailer(MailerConformance):
    # MemoryMailer records the message as given, Bcc header included, so tests can see it.
    hides_bcc = False

    def make_mailer(self) -> MemoryMailer:
        self.mailer = MemoryMailer()
        return self.mailer

    def received(self) -> list[Received]:
        return [Received.from_headers(message) for message in self.mailer.sent]


class TestSmtpMailer(MailerConformance):
    @pytest.fixture(autouse=True)
    def _sink(self) -> Iterator[None]:
        with SmtpSink() as self.sink:
            yield

    def make_mailer(self) -> SmtpMailer:
        return SmtpMailer(self.sink.host, self.sink.port, timeout=5, local_hostname="localhost")

    def received(self) -> list[Received]:
        return self.sink.received
