"""The invitation e-mail: the account's language, the accept link, the host's texts, Date and Message-ID.

And every kind of message tenantbill sends scores below 1.0 with SpamAssassin's
local rules (``spamassassin -t -L``).
"""

from __future__ import annotations

import email.policy
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import tenantbill as tb
from tenantbill.clock import FixedClock
from tenantbill.errors import InvalidInput
from tenantbill.memory import MemoryMailer, MemoryStore
from tenantbill.render.mail import InvitationTexts, invitation_message

AT = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
SENDER = "Skyhost AS <faktura@skyhost.example.no>"
INVITE_URL = "https://app.skyhost.example.no/invite/{token}"
RECIPIENT = "kari@butikk.example.no"


def make_app(**options: Any) -> tuple[tb.Tenantbill, MemoryMailer, FixedClock]:
    mailer = MemoryMailer()
    clock = FixedClock(AT)
    options.setdefault("sender", SENDER)
    app = tb.Tenantbill(store=MemoryStore(), mailer=mailer, clock=clock, **options)
    return app, mailer, clock


def invite(
    app: tb.Tenantbill,
    *,
    locale: str = "nb",
    name: str = "Fjordkaffe AS",
    role: tb.Role = tb.Role.MEMBER,
    email: str = RECIPIENT,
) -> tb.IssuedInvitation:
    owner, account = app.accounts.sign_up(
        name=name, email=f"eier-{locale}@fjordkaffe.example.no", locale=locale
    )
    return app.access.invite(owner.id, account.id, email=email, role=role)


def sent_invitation(**options: Any) -> tuple[EmailMessage, tb.IssuedInvitation]:
    locale = options.pop("locale", "nb")
    role = options.pop("role", tb.Role.MEMBER)
    name = options.pop("name", "Fjordkaffe AS")
    app, mailer, _ = make_app(**options)
    issued = invite(app, locale=locale, role=role, name=name)
    report = app.billing.deliver()
    assert report.sent == 1, report.errors
    (message,) = mailer.sent
    return message, issued


def body_of(message: EmailMessage) -> str:
    text = message.get_content()
    assert isinstance(text, str)
    return text.replace("\r\n", "\n")


# Languages and roles


@pytest.mark.parametrize(
    ("locale", "subject", "role_line", "code_line"),
    [
        ("nb", "Du er invitert til Fjordkaffe AS", "Rolle: medlem (full tilgang)", "Invitasjonskoden din: "),
        (
            "nb_NO",
            "Du er invitert til Fjordkaffe AS",
            "Rolle: medlem (full tilgang)",
            "Invitasjonskoden din: ",
        ),
        ("no", "Du er invitert til Fjordkaffe AS", "Rolle: medlem (full tilgang)", "Invitasjonskoden din: "),
        ("nn", "Du er invitert til Fjordkaffe AS", "Rolle: medlem (full tilgang)", "Invitasjonskoden din: "),
        ("sv", "Du är inbjuden till Fjordkaffe AS", "Roll: medlem (full åtkomst)", "Din inbjudningskod: "),
        ("sv_FI", "Du är inbjuden till Fjordkaffe AS", "Roll: medlem (full åtkomst)", "Din inbjudningskod: "),
        ("en", "You are invited to Fjordkaffe AS", "Role: member (full access)", "Your invitation code: "),
        ("en_GB", "You are invited to Fjordkaffe AS", "Role: member (full access)", "Your invitation code: "),
    ],
)
def test_the_invitation_is_in_the_accounts_language(
    locale: str, subject: str, role_line: str, code_line: str
) -> None:
    message, issued = sent_invitation(locale=locale)

    assert message["Subject"] == subject
    body = body_of(message)
    assert role_line in body
    assert f"{code_line}{issued.token}\n" in body


@pytest.mark.parametrize(
    ("locale", "role_line"),
    [
        ("nb", "Rolle: fakturering (kun fakturaer)"),
        ("sv", "Roll: fakturering (endast fakturor)"),
        ("en", "Role: billing (invoices only)"),
    ],
)
def test_the_billing_role_is_named_in_the_language(locale: str, role_line: str) -> None:
    message, _ = sent_invitation(locale=locale, role=tb.Role.BILLING)

    assert role_line in body_of(message)


@pytest.mark.parametrize(
    ("locale", "expires"),
    [
        ("nb", "utløper 22.01.2026 kl. 09:00 UTC."),
        ("sv", "går ut 2026-01-22 kl. 09:00 UTC."),
        ("en", "expires at 2026-01-22 09:00 UTC."),
    ],
)
def test_the_expiry_is_written_in_the_language(locale: str, expires: str) -> None:
    message, _ = sent_invitation(locale=locale)

    assert expires in body_of(message)


@pytest.mark.parametrize("locale", ["de", "fr_FR", "", "xx-YY", "zz@euro"])
def test_a_language_without_texts_gets_english(locale: str) -> None:
    message = invitation_message(
        account_name="Acme AS",
        role=tb.Role.MEMBER,
        recipient=RECIPIENT,
        sender=SENDER,
        token="tok_123",
        created_at=AT,
        expires_at=AT + timedelta(days=7),
        locale=locale,
    )

    assert message["Subject"] == "You are invited to Acme AS"
    assert "Your invitation code: tok_123" in body_of(message)


def test_an_invitation_cannot_offer_ownership() -> None:
    with pytest.raises(InvalidInput, match="member or billing"):
        invitation_message(
            account_name="Acme AS",
            role=tb.Role.OWNER,
            recipient=RECIPIENT,
            sender=SENDER,
            token="tok_123",
            created_at=AT,
            expires_at=AT,
        )


# The accept link


@pytest.mark.parametrize(
    ("locale", "lead"),
    [
        ("nb", "Godta invitasjonen her:"),
        ("sv", "Acceptera inbjudan här:"),
        ("en", "Accept the invitation here:"),
    ],
)
def test_with_an_invite_url_the_email_carries_the_accept_link(locale: str, lead: str) -> None:
    message, issued = sent_invitation(locale=locale, invite_url=INVITE_URL)

    body = body_of(message)
    assert f"{lead}\nhttps://app.skyhost.example.no/invite/{issued.token}\n" in body
    assert body.count(issued.token) == 1  # the link only, not the code as well


def test_the_token_may_go_in_the_query_string() -> None:
    message, issued = sent_invitation(locale="en", invite_url="http://localhost:8000/accept?t={token}&x=1")

    assert f"http://localhost:8000/accept?t={issued.token}&x=1\n" in body_of(message)


def test_without_an_invite_url_the_email_shows_the_code() -> None:
    message, issued = sent_invitation(locale="en")

    body = body_of(message)
    assert f"Your invitation code: {issued.token}\n" in body
    assert "http" not in body


@pytest.mark.parametrize(
    "template",
    [
        "https://app.example/invite/",  # no {token}
        "https://app.example/invite/{token}/{token}",  # twice
        "https://app.example/invite/{TOKEN}",
        "ftp://app.example/invite/{token}",
        "javascript:alert(1)//{token}",
        "app.example/invite/{token}",  # no scheme
        "https:///invite/{token}",  # no host
        "https://app.example/invite/{token} ",
        "https://app.example/in vite/{token}",
        "https://app.example/invite/{token}\r\nBcc: someone@example.net",
        "https://app.example/invite/{token}\x00",
        "https://app.example/invite/{token}\u2028",
        "https://[::1/invite/{token}",  # not a URL
        "https://app.example/" + "a" * 2000 + "{token}",
        "",
        b"https://app.example/invite/{token}",
        42,
    ],
)
def test_an_unusable_invite_url_is_refused_at_wiring(template: Any) -> None:
    with pytest.raises(InvalidInput, match=r"invite_url must be an http\(s\) URL with \{token\} once"):
        make_app(invite_url=template)


# The host's own texts


def test_the_host_can_replace_the_texts_of_a_language() -> None:
    texts = {
        "nb": tb.InvitationTexts(
            subject="Bli med i {account} på Skyhost",
            body="Hei!\n\n{account} vil ha deg med som {role}.\nTrykk her: {link}\nGyldig til {expires}.\n",
        )
    }
    app, mailer, _ = make_app(invite_url=INVITE_URL, invitation_texts=texts)
    nb = invite(app, locale="nb")
    invite(app, locale="en", name="Northwind Ltd", email="kari@northwind.example.no")
    app.billing.deliver()

    sent = {message["To"]: message for message in mailer.sent}  # delivered in no particular order
    norwegian, english = sent[RECIPIENT], sent["kari@northwind.example.no"]
    assert norwegian["Subject"] == "Bli med i Fjordkaffe AS på Skyhost"
    assert body_of(norwegian) == (
        "Hei!\n\nFjordkaffe AS vil ha deg med som medlem (full tilgang).\n"
        f"Trykk her: https://app.skyhost.example.no/invite/{nb.token}\nGyldig til 22.01.2026 kl. 09:00 UTC.\n"
    )
    assert english["Subject"] == "You are invited to Northwind Ltd"  # the other languages keep theirs


def test_the_host_texts_may_use_the_code_without_an_invite_url() -> None:
    texts = {"en": InvitationTexts(subject="Join {account}", body="Code: {code} ({role}), until {expires}")}

    message, issued = sent_invitation(locale="en", invitation_texts=texts)

    assert message["Subject"] == "Join Fjordkaffe AS"
    assert body_of(message) == f"Code: {issued.token} (member (full access)), until 2026-01-22 09:00 UTC\n"


@pytest.mark.parametrize(
    ("texts", "problem"),
    [
        ({"nb": InvitationTexts(subject="{accont}", body="{code}")}, r"placeholder \{accont\}"),
        ({"nb": InvitationTexts(subject="{account}", body="{code} {token}")}, r"placeholder \{token\}"),
        ({"nb": InvitationTexts(subject="{account.__class__}", body="{code}")}, "placeholder"),
        ({"nb": InvitationTexts(subject="{account[0]}", body="{code}")}, "placeholder"),
        ({"nb": InvitationTexts(subject="{0}", body="{code}")}, r"placeholder \{0\}"),
        ({"nb": InvitationTexts(subject="{}", body="{code}")}, r"placeholder \{\}"),
        ({"nb": InvitationTexts(subject="{account!r}", body="{code}")}, r"placeholder \{account!r\}"),
        ({"nb": InvitationTexts(subject="{account:>300}", body="{code}")}, r"placeholder \{account:>300\}"),
        ({"nb": InvitationTexts(subject="{account", body="{code}")}, "not a valid template"),
        ({"nb": InvitationTexts(subject="}", body="{code}")}, "not a valid template"),
        ({"nb": InvitationTexts(subject="{account}", body="Welcome!")}, r"must contain \{link\} or \{code\}"),
        ({"nb": InvitationTexts(subject="{code}", body="Welcome!")}, r"must contain \{link\} or \{code\}"),
        ({"nb": InvitationTexts(subject="{account}", body="{link}")}, "needs Tenantbill\\(invite_url="),
        ({"de": InvitationTexts(subject="{account}", body="{code}")}, "can be given for nb, sv, en"),
        ({"nb": ("Subject", "{code}")}, "must be an InvitationTexts"),
        ({"nb": InvitationTexts(subject=None, body="{code}")}, "must be text"),  # type: ignore[arg-type]
        ([("nb", InvitationTexts(subject="{account}", body="{code}"))], "must be a mapping"),
    ],
)
def test_host_texts_are_checked_at_wiring(texts: Any, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        make_app(invitation_texts=texts)


def test_a_placeholder_list_is_in_the_error() -> None:
    with pytest.raises(InvalidInput) as raised:
        make_app(invitation_texts={"sv": InvitationTexts(subject="{name}", body="{code}")})

    assert "the placeholders are {account}, {role}, {link}, {code}, {expires}" in str(raised.value)


def test_literal_braces_are_written_doubled() -> None:
    texts = {"en": InvitationTexts(subject="{{Skyhost}} {account}", body="{{code}}: {code}")}

    message, issued = sent_invitation(locale="en", invitation_texts=texts)

    assert message["Subject"] == "{Skyhost} Fjordkaffe AS"
    assert body_of(message) == f"{{code}}: {issued.token}\n"


@pytest.mark.parametrize(
    "name",
    [
        "{code} {link} {account}",
        "Acme =?utf-8?q?x=0D=0ABcc:_someone@example.net?=",
        "Ålesund Rør {0} AS",
    ],
)
def test_names_stay_data_in_the_host_texts(name: str) -> None:
    texts = {"en": InvitationTexts(subject="Join {account} now", body="{account}: {link}")}
    app, mailer, _ = make_app(invite_url=INVITE_URL, invitation_texts=texts)
    owner, account = app.accounts.sign_up(name="Acme AS", email="eier@acme.example.no", locale="en")
    app.accounts.update(owner.id, account.id, name=name)
    issued = app.access.invite(owner.id, account.id, email=RECIPIENT)
    app.billing.deliver()

    (message,) = mailer.sent
    shown = " ".join(name.split())
    data = message.as_bytes(policy=email.policy.SMTP)
    again = BytesParser(policy=email.policy.default).parsebytes(data)
    assert [field for field, _ in again.items()].count("Subject") == 1
    assert "Bcc" not in again
    assert str(again["Subject"]) == f"Join {shown} now"
    assert body_of(again) == f"{shown}: https://app.skyhost.example.no/invite/{issued.token}\n"


# Date and Message-ID


def test_an_invitation_is_dated_when_it_was_made_and_its_message_id_is_on_the_senders_domain() -> None:
    app, mailer, clock = make_app()
    issued = invite(app)
    clock.advance(hours=3)  # delivered later: the Date is still the invitation's
    app.billing.deliver()

    (message,) = mailer.sent
    assert message["Date"] == format_datetime(issued.invitation.created_at)
    assert parsedate_to_datetime(message["Date"]) == AT
    assert re.fullmatch(r"<[0-9a-f]{32}@skyhost\.example\.no>", message["Message-ID"])


def test_a_resent_invitation_is_dated_when_it_was_resent() -> None:
    app, mailer, clock = make_app()
    issued = invite(app)
    app.billing.deliver()
    clock.advance(days=2)
    owner_id = issued.invitation.invited_by
    again = app.access.resend(owner_id, issued.invitation.id)
    app.billing.deliver()

    first, second = mailer.sent
    assert parsedate_to_datetime(second["Date"]) == AT + timedelta(days=2)
    assert again.token in body_of(second)
    assert first["Message-ID"] != second["Message-ID"]


def test_an_invoice_email_has_a_date_and_a_message_id_on_the_senders_domain() -> None:
    app, mailer, _ = make_app()
    owner, account = app.accounts.sign_up(name="Skyhost AS", email="ola@skyhost.example.no")
    draft = tb.InvoiceDraft(
        bill_to=tb.Party(name="Karis Butikk AS", emails=(RECIPIENT,)),
        lines=[
            tb.Line(description="Web", quantity=Decimal(1), unit_price=Decimal(149), vat_rate=Decimal("0.25"))
        ],
    )
    invoice = app.invoices.issue(owner.id, account.id, draft)
    app.billing.deliver()

    (message,) = mailer.sent
    assert parsedate_to_datetime(message["Date"]) == invoice.issued_at
    assert re.fullmatch(r"<[0-9a-f]{32}@skyhost\.example\.no>", message["Message-ID"])


def test_the_same_arguments_give_the_same_bytes() -> None:
    arguments: dict[str, Any] = {
        "account_name": "Ålands Design AB",
        "role": tb.Role.BILLING,
        "recipient": RECIPIENT,
        "sender": SENDER,
        "token": "tok_123",
        "created_at": AT,
        "expires_at": AT + timedelta(days=7),
        "locale": "sv",
        "invite_url": INVITE_URL,
        "headers": {"Message-ID": "<abc@skyhost.example.no>"},
    }
    first = invitation_message(**arguments).as_bytes(policy=email.policy.SMTP)

    assert invitation_message(**arguments).as_bytes(policy=email.policy.SMTP) == first
    oslo = ZoneInfo("Europe/Oslo")
    same_instants = {
        **arguments,
        "created_at": arguments["created_at"].astimezone(oslo),
        "expires_at": arguments["expires_at"].astimezone(oslo),
    }
    assert invitation_message(**same_instants).as_bytes(policy=email.policy.SMTP) == first
    assert b"\r\nDate: Thu, 15 Jan 2026 09:00:00 +0000\r\n" in first


def test_an_invitation_queued_without_a_sender_goes_out_from_the_delivering_apps_sender() -> None:
    store = MemoryStore()
    web = tb.Tenantbill(store=store, clock=FixedClock(AT))  # a request-path app: no mailer, no sender
    owner, account = web.accounts.sign_up(name="Acme AS", email="eier@acme.example.no")
    issued = web.access.invite(owner.id, account.id, email=RECIPIENT)

    mailer = MemoryMailer()
    worker = tb.Tenantbill(store=store, mailer=mailer, clock=FixedClock(AT), sender=SENDER)
    assert worker.billing.deliver().sent == 1

    (message,) = mailer.sent
    assert message["From"] == SENDER
    assert "tenantbill.invalid" not in message.as_string()
    assert message["Message-ID"].endswith("@skyhost.example.no>")
    assert issued.token in body_of(message)


# SpamAssassin


SPAMASSASSIN = shutil.which("spamassassin")
_SCORE = re.compile(rb"^X-Spam-Status: \w+, score=(-?\d+(?:\.\d+)?)", re.MULTILINE)


def spam_score(message: EmailMessage, home: Path) -> tuple[float, str]:
    """SpamAssassin's score of ``message`` with its local rules only, and its report."""
    if SPAMASSASSIN is None:  # pragma: no cover - CI installs it (dev.py system_tools)
        pytest.skip("spamassassin is not installed (Debian package spamassassin; dev.py test installs it)")
    result = subprocess.run(
        [SPAMASSASSIN, "-t", "-L"],
        input=message.as_bytes(policy=email.policy.SMTP),
        capture_output=True,
        check=True,
        timeout=120,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
    )
    found = _SCORE.search(result.stdout)
    assert found is not None, result.stdout.decode("utf-8", "replace")[:2000]
    report = result.stdout.decode("utf-8", "replace")
    return float(found[1]), report[report.find("Content analysis details") :]


def every_kind_of_message() -> dict[str, EmailMessage]:
    app, mailer, _ = make_app(invite_url="https://app.skyhost.example.no/invite/{token}")
    owner, platform = app.accounts.sign_up(
        name="Skyhost AS",
        email="ola@skyhost.example.no",
        org_number="974760673",
        bank_account="86011117947",
        address="Storgata 1\n0155 Oslo",
        vat_registered=True,
    )
    draft = tb.InvoiceDraft(
        bill_to=tb.Party(name="Fjordkaffe AS", address="Bryggen 2\n5003 Bergen", emails=(RECIPIENT,)),
        lines=[
            tb.Line(
                description="Web hosting, January",
                quantity=Decimal(1),
                unit_price=Decimal(149),
                vat_rate=Decimal("0.25"),
            )
        ],
    )
    app.invoices.issue(owner.id, platform.id, draft)
    for locale, name, address in [
        ("nb", "Fjordkaffe AS", "kari@fjordkaffe.example.no"),
        ("sv", "Ålands Design AB", "anna@alandsdesign.example.com"),
        ("en", "Northwind Ltd", "sam@northwind.example.com"),
    ]:
        customer, account = app.accounts.sign_up(name=name, email=f"owner-{address}", locale=locale)
        app.access.invite(customer.id, account.id, email=address, role=tb.Role.BILLING)
    report = app.billing.deliver()
    assert report.sent == 4, report.errors
    sent = {message["To"]: message for message in mailer.sent}  # delivered in no particular order
    return {
        "invoice e-mail with PDF": sent[RECIPIENT],
        "invitation nb": sent["kari@fjordkaffe.example.no"],
        "invitation sv": sent["anna@alandsdesign.example.com"],
        "invitation en": sent["sam@northwind.example.com"],
    }


@pytest.fixture(scope="module")
def messages() -> dict[str, EmailMessage]:
    return every_kind_of_message()


@pytest.mark.parametrize(
    "kind", ["invoice e-mail with PDF", "invitation nb", "invitation sv", "invitation en"]
)
def test_each_kind_of_message_scores_below_one_with_spamassassin(
    messages: dict[str, EmailMessage], kind: str, tmp_path: Path
) -> None:
    score, report = spam_score(messages[kind], tmp_path)

    assert score < 1.0, f"{kind} scored {score}:\n{report}"
    assert "MISSING_DATE" not in report
    assert "MISSING_MID" not in report
