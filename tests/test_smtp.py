"""SmtpMailer end to end against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import io
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path

import pytest
from pypdf import PdfReader

from tenantbill.domain.invoices import Invoice, InvoiceKind, InvoiceLine, Party, Seller, VatGroup
from tenantbill.errors import DeliveryError, InvalidInput
from tenantbill.render.mail import invoice_message
from tenantbill.smtp import SmtpMailer
from tenantbill.testing.mailer import SmtpSink

SENDER = "Acme AS <faktura@example.no>"


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture(scope="module")
def pdf() -> bytes:
    from fpdf import FPDF

    document = FPDF()
    document.add_page()
    document.set_font("helvetica", size=12)
    document.cell(text="Faktura 1001")
    return bytes(document.output())


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made with the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    # fmt: off
    made = subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        capture_output=True, text=True, timeout=10, check=False,
    )
    # fmt: on
    if made.returncode != 0:
        pytest.skip(f"openssl could not make a test certificate: {made.stderr.strip()}")
    return cert, key


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def trusting(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    """A client context that trusts the test certificate (and verifies it as usual)."""
    return ssl.create_default_context(cafile=str(certificate[0]))


def mailer_for(sink: SmtpSink, **options: object) -> SmtpMailer:
    return SmtpMailer(sink.host, sink.port, timeout=5, local_hostname="localhost", **options)  # type: ignore[arg-type]


def make_invoice() -> Invoice:
    amount = Decimal("1000.00")
    return Invoice(
        id="inv-1",
        account_id="acc-1",
        sequence=1001,
        number="F/1001",
        kind=InvoiceKind.INVOICE,
        issued_at=datetime(2026, 1, 31, 23, 0, tzinfo=UTC),
        issue_date=date(2026, 2, 1),
        due_date=date(2026, 2, 15),
        seller=Seller(name="Ålesund Rør AS", bank_account="12345678903"),
        bill_to=Party(name="Kunde AS"),
        currency="NOK",
        locale="nb_NO",
        lines=(InvoiceLine("Hosting", Decimal(1), amount, Decimal("0.25"), amount),),
        vat=(VatGroup(Decimal("0.25"), amount, Decimal("250.00")),),
        net_total=amount,
        vat_total=Decimal("250.00"),
        total=Decimal("1250.00"),
        balance_applied=Decimal(0),
        amount_due=Decimal("1250.00"),
    )


def note(to: str = "kari@example.no") -> EmailMessage:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = to
    message["Subject"] = "Faktura 1001"
    message.set_content("Vedlagt er fakturaen.\n")
    return message


def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port: int = listener.getsockname()[1]
    return port


def test_invoice_email_arrives_with_text_html_and_the_pdf_intact(sink: SmtpSink, pdf: bytes) -> None:
    message = invoice_message(make_invoice(), recipient="kari@example.no", sender=SENDER, pdf=pdf)

    mailer_for(sink).send(message)

    (got,) = sink.received
    assert got.recipients == ("kari@example.no",)
    assert got.message["Subject"] == "Faktura F/1001 fra Ålesund Rør AS"
    text = got.message.get_body(("plain",))
    html = got.message.get_body(("html",))
    assert text is not None
    assert "F/1001" in text.get_content()
    assert html is not None
    assert "Ålesund Rør AS" in html.get_content()
    (attachment,) = got.message.iter_attachments()
    assert isinstance(attachment, EmailMessage)
    assert attachment.get_filename() == "F_1001.pdf"
    assert attachment.get_content() == pdf
    assert "Faktura 1001" in PdfReader(io.BytesIO(attachment.get_content())).pages[0].extract_text()


def test_login_with_the_right_password_delivers() -> None:
    with SmtpSink(credentials=("billing", "s3cret")) as sink:
        mailer_for(sink, username="billing", password="s3cret").send(note())

        assert len(sink.received) == 1


def test_wrong_password_is_a_delivery_error_with_the_server_reply() -> None:
    with SmtpSink(credentials=("billing", "s3cret")) as sink:
        mailer = mailer_for(sink, username="billing", password="wrong")

        with pytest.raises(DeliveryError, match=rf"127\.0\.0\.1:{sink.port} replied 535 .* logging in"):
            mailer.send(note())
        assert sink.received == []


def test_server_that_requires_login_refuses_an_anonymous_sender() -> None:
    with (
        SmtpSink(credentials=("billing", "s3cret")) as sink,
        pytest.raises(DeliveryError, match="replied 530"),
    ):
        mailer_for(sink).send(note())


def test_server_down_is_a_delivery_error_caused_by_the_os_error() -> None:
    port = closed_port()
    mailer = SmtpMailer("127.0.0.1", port, timeout=2, local_hostname="localhost")

    with pytest.raises(DeliveryError, match=rf"127\.0\.0\.1:{port} failed while connecting") as caught:
        mailer.send(note())
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)


def test_server_that_never_answers_times_out_as_a_delivery_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:
        mailer = SmtpMailer("127.0.0.1", silent.getsockname()[1], timeout=0.2, local_hostname="localhost")

        with pytest.raises(DeliveryError, match="timed out"):
            mailer.send(note())


def test_recipient_refused_by_the_server_is_a_delivery_error_naming_it() -> None:
    refused = r"refused every recipient: gone@example\.com \(550 "
    with SmtpSink(refuse=["gone@example.com"]) as sink, pytest.raises(DeliveryError, match=refused):
        mailer_for(sink).send(note(to="gone@example.com"))


def test_partly_refused_recipients_are_a_delivery_error_after_the_others_got_it() -> None:
    with SmtpSink(refuse=["gone@example.com"]) as sink:
        with pytest.raises(
            DeliveryError, match=r"refused gone@example\.com .* other recipients were accepted"
        ):
            mailer_for(sink).send(note(to="gone@example.com, kari@example.no"))

        assert [r.recipients for r in sink.received] == [("kari@example.no",)]


def test_duplicate_recipients_get_one_copy(sink: SmtpSink) -> None:
    message = note(to="kari@example.no, Kari@Example.no")
    message["Cc"] = "KARI@example.no"

    mailer_for(sink).send(message)

    assert [r.recipients for r in sink.received] == [("kari@example.no",)]


def test_message_without_recipients_is_refused_without_connecting() -> None:
    message = note()
    del message["To"]
    mailer = SmtpMailer("127.0.0.1", closed_port(), timeout=2)

    with pytest.raises(DeliveryError, match="no recipients"):
        mailer.send(message)


def test_message_without_sender_is_refused(sink: SmtpSink) -> None:
    message = note()
    del message["From"]

    with pytest.raises(DeliveryError, match="no From address"):
        mailer_for(sink).send(message)


def test_threads_can_share_one_mailer(sink: SmtpSink) -> None:
    mailer = mailer_for(sink)
    errors: list[BaseException] = []

    def send(i: int) -> None:
        try:
            mailer.send(note(to=f"user{i}@example.com"))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(r.recipients[0] for r in sink.received) == sorted(f"user{i}@example.com" for i in range(8))


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"ssl": True, "starttls": True}, "either ssl .* or starttls"),
        ({"username": "billing"}, "both username and password"),
        ({"port": 0}, "port must be"),
        ({"timeout": 0}, "timeout must be"),
    ],
)
def test_contradictory_or_impossible_settings_are_invalid_input(
    options: dict[str, object], problem: str
) -> None:
    with pytest.raises(InvalidInput, match=problem):
        SmtpMailer(**options)  # type: ignore[arg-type]


def test_repr_does_not_show_the_password() -> None:
    mailer = SmtpMailer("smtp.example.com", 587, starttls=True, username="billing", password="s3cret")

    assert "s3cret" not in repr(mailer)
    assert repr(mailer) == "SmtpMailer('smtp.example.com', 587, starttls, username='billing')"


def test_starttls_with_a_trusted_certificate_delivers_and_logs_in(certificate: tuple[Path, Path]) -> None:
    with SmtpSink(
        credentials=("billing", "s3cret"), ssl_context=server_context(certificate), starttls=True
    ) as sink:
        mailer = mailer_for(
            sink, starttls=True, ssl_context=trusting(certificate), username="billing", password="s3cret"
        )
        mailer.send(note())

        assert len(sink.received) == 1


def test_starttls_refuses_an_untrusted_certificate_by_default(certificate: tuple[Path, Path]) -> None:
    with SmtpSink(ssl_context=server_context(certificate), starttls=True) as sink:
        with pytest.raises(DeliveryError, match="starting TLS") as caught:
            mailer_for(sink, starttls=True).send(note())

        assert isinstance(caught.value.__cause__, ssl.SSLCertVerificationError)
        assert sink.received == []


def test_server_that_demands_starttls_refuses_a_plain_session(certificate: tuple[Path, Path]) -> None:
    demanding = SmtpSink(ssl_context=server_context(certificate), starttls=True)
    with demanding as sink, pytest.raises(DeliveryError, match=r"replied 530 .*STARTTLS"):
        mailer_for(sink).send(note())


def test_implicit_tls_delivers(certificate: tuple[Path, Path]) -> None:
    with SmtpSink(ssl_context=server_context(certificate)) as sink:
        mailer_for(sink, ssl=True, ssl_context=trusting(certificate)).send(note())

        assert len(sink.received) == 1
