"""The e-mail that carries an invoice, a credit note or a payment reminder to one recipient.

A short letter in the invoice's language (plain text with an HTML
alternative) says what is attached, how much to pay, by when, to which
account and with which payment reference (KID); the PDF is attached.
:func:`invoice_message` carries an invoice or credit note,
:func:`reminder_message` a reminder (purring) made by
:func:`tenantbill.render.pdf.render_reminder`. The texts live in :data:`_CATALOGUE`, one entry
per language: adding a language is adding an entry.

The message is a pure function of its arguments (the ``Date`` header comes
from the invoice or the reminder and the MIME boundaries from a hash of the content), so the
same invoice always yields the same bytes.

Names people typed (the seller, the customer, the account, the sender's
display name) are data: headers are written by :mod:`tenantbill.render.headers`,
which encodes them itself, and the bodies are quoted-printable.
:func:`invitation_message` is the e-mail that carries an invitation.
"""

from __future__ import annotations

import base64
import binascii
import email.policy
import functools
import hashlib
import html
import re
import struct
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime
from string import Formatter
from urllib.parse import urlsplit

import attrs

from tenantbill.domain.accounts import Role
from tenantbill.domain.invoices import Invoice
from tenantbill.domain.payments import Reminder, reminder_due_date
from tenantbill.domain.setup import check_interest_rate
from tenantbill.errors import InvalidEmail, InvalidInput
from tenantbill.render.headers import add_extra_headers, mailbox, one_line, parse_mailbox, unstructured

__all__ = [
    "INVITATION_LANGUAGES",
    "InvitationTexts",
    "check_invitation_texts",
    "check_invite_url",
    "invitation_message",
    "invoice_message",
    "reminder_message",
]


@attrs.frozen
class _Texts:
    """The words of the invoice e-mail in one language (``str.format`` templates)."""

    subject_invoice: str
    subject_credit_note: str
    greeting: str
    attached_invoice: str
    attached_credit_note: str
    credits_invoice: str
    amount_due: str
    due_date: str
    bank_account: str
    invoice_number: str
    payment_reference: str
    nothing_to_pay: str
    amount_credited: str
    credited_invoice: str
    credit_note_number: str
    regards: str
    kid: str
    kid_reference: str
    subject_reminder: str
    attached_reminder: str
    pay_by: str
    reminder_fee: str
    late_interest: str
    already_paid: str
    reminder_file: str
    """The attachment's name before the invoice number (ASCII letters, digits and ``-`` only)."""


_CATALOGUE: dict[str, _Texts] = {
    "nb": _Texts(
        subject_invoice="Faktura {number} fra {seller}",
        subject_credit_note="Kreditnota {number} fra {seller}",
        greeting="Hei {customer},",
        attached_invoice="Vedlagt er faktura {number} fra {seller}.",
        attached_credit_note="Vedlagt er kreditnota {number} fra {seller}.",
        credits_invoice="Kreditnotaen krediterer faktura {number}.",
        amount_due="Å betale",
        due_date="Forfallsdato",
        bank_account="Kontonummer",
        invoice_number="Fakturanummer",
        payment_reference="Oppgi fakturanummeret når du betaler.",
        nothing_to_pay="Du har ingenting å betale: beløpet er dekket av kreditten din.",
        amount_credited="Kreditert beløp",
        credited_invoice="Gjelder faktura",
        credit_note_number="Kreditnotanummer",
        regards="Vennlig hilsen",
        kid="KID",
        kid_reference="Oppgi KID når du betaler.",
        subject_reminder="Purring på faktura {number} fra {seller}",
        attached_reminder=(
            "Vedlagt er en purring på faktura {number} fra {seller}, som forfalt {due}. "
            "Vi kan ikke se at den er betalt i sin helhet."
        ),
        pay_by="Betal innen",
        reminder_fee="Purregebyr",
        late_interest="Ved betaling etter forfall kan det kreves forsinkelsesrente på {rate} per år.",
        already_paid="Har du betalt i mellomtiden, kan du se bort fra denne purringen.",
        reminder_file="purring",
    ),
    "sv": _Texts(
        subject_invoice="Faktura {number} från {seller}",
        subject_credit_note="Kreditfaktura {number} från {seller}",
        greeting="Hej {customer},",
        attached_invoice="Bifogat finns faktura {number} från {seller}.",
        attached_credit_note="Bifogat finns kreditfaktura {number} från {seller}.",
        credits_invoice="Kreditfakturan krediterar faktura {number}.",
        amount_due="Att betala",
        due_date="Förfallodatum",
        bank_account="Kontonummer",
        invoice_number="Fakturanummer",
        payment_reference="Ange fakturanumret när du betalar.",
        nothing_to_pay="Du har inget att betala: beloppet täcks av ditt tillgodohavande.",
        amount_credited="Krediterat belopp",
        credited_invoice="Avser faktura",
        credit_note_number="Kreditfakturanummer",
        regards="Med vänliga hälsningar",
        kid="OCR-nummer",
        kid_reference="Ange OCR-numret när du betalar.",
        subject_reminder="Betalningspåminnelse för faktura {number} från {seller}",
        attached_reminder=(
            "Bifogat finns en betalningspåminnelse för faktura {number} från {seller}, som förföll "
            "till betalning {due}. Vi kan inte se att den är betald i sin helhet."
        ),
        pay_by="Betala senast",
        reminder_fee="Påminnelseavgift",
        late_interest="Vid betalning efter förfallodagen kan dröjsmålsränta på {rate} per år debiteras.",
        already_paid="Om du redan har betalat kan du bortse från denna påminnelse.",
        reminder_file="paminnelse",
    ),
    "en": _Texts(
        subject_invoice="Invoice {number} from {seller}",
        subject_credit_note="Credit note {number} from {seller}",
        greeting="Hello {customer},",
        attached_invoice="Please find attached invoice {number} from {seller}.",
        attached_credit_note="Please find attached credit note {number} from {seller}.",
        credits_invoice="It credits invoice {number}.",
        amount_due="Amount due",
        due_date="Due date",
        bank_account="Bank account",
        invoice_number="Invoice number",
        payment_reference="Please quote the invoice number with your payment.",
        nothing_to_pay="There is nothing to pay: the amount is covered by your credit balance.",
        amount_credited="Amount credited",
        credited_invoice="Credits invoice",
        credit_note_number="Credit note number",
        regards="Kind regards",
        kid="Payment reference (KID)",
        kid_reference="Please quote the payment reference (KID) with your payment.",
        subject_reminder="Payment reminder for invoice {number} from {seller}",
        attached_reminder=(
            "Please find attached a payment reminder for invoice {number} from {seller}, which was "
            "due on {due}. According to our records it has not been paid in full."
        ),
        pay_by="Please pay by",
        reminder_fee="Reminder fee",
        late_interest="Late-payment interest of {rate} a year may be charged on payment after the due date.",
        already_paid="If you have paid in the meantime, please disregard this reminder.",
        reminder_file="reminder",
    ),
}

_FALLBACK = "en"

# Languages without an entry of their own that read one of the catalogue's well.
_ALIASES = {"no": "nb", "nn": "nb"}

_UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")
_BASE64_LINE = 76  # base64 lines are at most 76 characters long (RFC 2045)


@attrs.frozen
class _Letter:
    """What the e-mail says, before it is written out as text or HTML."""

    lang: str
    subject: str
    greeting: str
    paragraphs: tuple[str, ...]
    facts: tuple[tuple[str, str], ...]
    notes: tuple[str, ...]
    closing: tuple[str, ...]


def invoice_message(
    invoice: Invoice,
    *,
    recipient: str,
    sender: str,
    pdf: bytes,
    locale: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    """The e-mail of ``invoice`` to ``recipient`` with ``pdf`` attached, in ``locale`` or the invoice's.

    Languages with texts are Norwegian (``nb``), Swedish (``sv``) and English
    (``en``); a regional code such as ``nb_NO`` uses its language, and any other
    language gets English. Raises :class:`~tenantbill.errors.InvalidEmail` for
    a recipient or sender that is not one address, and
    :class:`~tenantbill.errors.InvalidInput` for ``pdf`` that is not a PDF.
    ``headers`` are extra ASCII header fields (the outbox passes ``Message-ID``).
    """
    _check_pdf(pdf)
    from_value = _address("From", sender, "sender")
    to_value = _address("To", recipient, "recipient")
    letter = _letter(invoice, locale or invoice.locale)
    return _with_pdf(
        letter,
        sender=from_value,
        recipient=to_value,
        date=format_datetime(invoice.issued_at),
        filename=_filename(invoice.number),
        pdf=pdf,
        headers=headers or {},
    )


def reminder_message(
    invoice: Invoice,
    reminder: Reminder,
    *,
    recipient: str,
    sender: str,
    pdf: bytes,
    locale: str | None = None,
    interest_rate: Decimal | None = None,
    sent_at: datetime | None = None,
    headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    """The e-mail of the payment reminder ``reminder`` of ``invoice`` to ``recipient``, ``pdf`` attached.

    Built like :func:`invoice_message` (same languages, the same protection of
    names people typed), with the reminder's PDF from
    :func:`~tenantbill.render.pdf.render_reminder` attached as
    ``purring-<number>.pdf`` (``paminnelse-`` in Swedish, ``reminder-`` in
    English). It gives what is due now, the new due date, this reminder's fee,
    the bank account and the KID (or the invoice number), and with
    ``interest_rate`` (the account's yearly late-payment interest) that such
    interest may be charged. ``sent_at`` is the ``Date`` (an aware datetime;
    by default noon UTC on the day the reminder is sent, the same calendar
    day everywhere it is read). Raises :class:`~tenantbill.errors.InvalidEmail`
    for a recipient or sender that is not one address and
    :class:`~tenantbill.errors.InvalidInput` for ``pdf`` that is not a PDF, a
    reminder of another invoice, an interest rate that is not a fraction in
    [0, 1) or a naive ``sent_at``.
    """
    _check_pdf(pdf)
    if not isinstance(reminder, Reminder) or reminder.invoice_id != invoice.id:
        raise InvalidInput(f"the reminder must be a tenantbill Reminder of invoice {invoice.number}")
    rate = check_interest_rate(interest_rate)
    if sent_at is None:
        sent_at = datetime.combine(reminder.sent_on, time(12), tzinfo=UTC)
    elif not isinstance(sent_at, datetime) or sent_at.tzinfo is None:
        raise InvalidInput(f"sent_at must be an aware datetime, got {sent_at!r}")
    from_value = _address("From", sender, "sender")
    to_value = _address("To", recipient, "recipient")
    letter = _reminder_letter(invoice, reminder, locale or invoice.locale, rate)
    t = _CATALOGUE[letter.lang]
    return _with_pdf(
        letter,
        sender=from_value,
        recipient=to_value,
        date=format_datetime(sent_at),
        filename=_filename(f"{t.reminder_file}-{invoice.number}"),
        pdf=pdf,
        headers=headers or {},
    )


def _check_pdf(pdf: object) -> None:
    if not isinstance(pdf, bytes) or not pdf.startswith(b"%PDF-"):
        raise InvalidInput("pdf must be the bytes of a PDF document (starting with b'%PDF-')")


def _with_pdf(
    letter: _Letter,
    *,
    sender: str,
    recipient: str,
    date: str,
    filename: str,
    pdf: bytes,
    headers: Mapping[str, str],
) -> EmailMessage:
    """The message of ``letter`` (text and HTML) with ``pdf`` attached; From and To already encoded."""
    text = _as_text(letter)
    markup = _as_html(letter)
    digest = hashlib.sha256(
        b"\0".join(part.encode("utf-8", "replace") for part in (sender, recipient, text, markup, filename))
        + pdf
    ).hexdigest()[:32]
    return _assemble(
        sender=sender,
        recipient=recipient,
        subject=unstructured("Subject", letter.subject),
        date=date,
        text=text,
        markup=markup,
        filename=filename,
        pdf=pdf,
        digest=digest,
        headers=headers,
    )


_TOKEN = re.compile(r"[A-Za-z0-9_-]+")


@attrs.frozen
class InvitationTexts:
    """The words of the invitation e-mail in one language, as ``str.format`` templates.

    A host passes its own with ``Tenantbill(invitation_texts={"nb": InvitationTexts(...)})``.
    The placeholders are ``{account}`` (the account's name), ``{role}`` (the
    role in the language, with what it gives: "member (full access)"),
    ``{link}`` (the accept link made from ``invite_url``), ``{code}`` (the
    invitation code, the token itself) and ``{expires}`` (when it expires, in
    UTC). Only these, without conversions or format specs; the body must use
    ``{link}`` or ``{code}``, and ``{link}`` only if the app has an
    ``invite_url``. The values are inserted as text: a name containing braces
    or ``=?`` is never read as a template or as an encoded word. The subject
    is one line (line breaks become spaces).
    """

    subject: str
    body: str


@attrs.frozen
class _Invitation:
    """The built-in invitation texts of one language, with its role names and date format."""

    subject: str
    body_link: str
    body_code: str
    member: str
    billing: str
    expires: str  # a strftime format for the expiry in UTC


_INVITATION_CATALOGUE: dict[str, _Invitation] = {
    "nb": _Invitation(
        subject="Du er invitert til {account}",
        body_link=(
            "Hei,\n\ndu er invitert til å bli med i {account}.\nRolle: {role}\n\n"
            "Godta invitasjonen her:\n{link}\n\nLenken kan brukes én gang og utløper {expires}.\n"
        ),
        body_code=(
            "Hei,\n\ndu er invitert til å bli med i {account}.\nRolle: {role}\n\n"
            "Invitasjonskoden din: {code}\n\nDen kan brukes én gang og utløper {expires}.\n"
        ),
        member="medlem (full tilgang)",
        billing="fakturering (kun fakturaer)",
        expires="%d.%m.%Y kl. %H:%M UTC",
    ),
    "sv": _Invitation(
        subject="Du är inbjuden till {account}",
        body_link=(
            "Hej,\n\ndu har bjudits in att gå med i {account}.\nRoll: {role}\n\n"
            "Acceptera inbjudan här:\n{link}\n\nLänken kan användas en gång och går ut {expires}.\n"
        ),
        body_code=(
            "Hej,\n\ndu har bjudits in att gå med i {account}.\nRoll: {role}\n\n"
            "Din inbjudningskod: {code}\n\nDen kan användas en gång och går ut {expires}.\n"
        ),
        member="medlem (full åtkomst)",
        billing="fakturering (endast fakturor)",
        expires="%Y-%m-%d kl. %H:%M UTC",
    ),
    "en": _Invitation(
        subject="You are invited to {account}",
        body_link=(
            "Hello,\n\nYou have been invited to join {account}.\nRole: {role}\n\n"
            "Accept the invitation here:\n{link}\n\nThe link can be used once and expires at {expires}.\n"
        ),
        body_code=(
            "Hello,\n\nYou have been invited to join {account}.\nRole: {role}\n\n"
            "Your invitation code: {code}\n\nIt can be used once and expires at {expires}.\n"
        ),
        member="member (full access)",
        billing="billing (invoices only)",
        expires="%Y-%m-%d %H:%M UTC",
    ),
}

INVITATION_LANGUAGES = tuple(_INVITATION_CATALOGUE)
"""The languages the invitation e-mail has texts for (a host may override them, not add to them)."""

_PLACEHOLDERS = ("account", "role", "link", "code", "expires")
_URL_TEMPLATE_MAX = 2000


def check_invite_url(template: object) -> str:
    """``template`` if it can make accept links, else :class:`~tenantbill.errors.InvalidInput`.

    It must be an http(s) URL with a host and ``{token}`` exactly once, with no
    whitespace or control characters (the link is written into the e-mail as
    it is, the token put in place of ``{token}``).
    """
    problem = (
        "invite_url must be an http(s) URL with {token} once where the invitation token goes, "
        "e.g. 'https://app.example/invite/{token}'"
    )
    if not isinstance(template, str):
        raise InvalidInput(f"{problem}; got {type(template).__name__}")
    if len(template) > _URL_TEMPLATE_MAX:
        raise InvalidInput(f"{problem}; this one is longer than {_URL_TEMPLATE_MAX} characters")
    if template.count("{token}") != 1:
        raise InvalidInput(f"{problem}; {template!r} has {template.count('{token}')} of them")
    if any(char.isspace() or not char.isprintable() for char in template):
        raise InvalidInput(f"{problem}; {template!r} contains whitespace or control characters")
    try:
        parts = urlsplit(template.replace("{token}", "token"))
    except ValueError:
        raise InvalidInput(f"{problem}; {template!r} is not a URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"{problem}; {template!r} is not an http:// or https:// URL with a host")
    return template


def check_invitation_texts(texts: object, *, has_link: bool) -> dict[str, InvitationTexts]:
    """The host's invitation texts by language, checked: known languages, known placeholders only.

    Raises :class:`InvalidInput` naming the language and the problem.
    ``has_link`` says whether the app has an ``invite_url`` (``{link}`` needs one).
    """
    if not isinstance(texts, Mapping):
        raise InvalidInput(
            'invitation_texts must be a mapping such as {"nb": InvitationTexts(subject=..., body=...)}'
        )
    checked: dict[str, InvitationTexts] = {}
    for language, entry in texts.items():
        if language not in _INVITATION_CATALOGUE:
            raise InvalidInput(
                f"invitation_texts can be given for {', '.join(INVITATION_LANGUAGES)}; got {language!r}"
            )
        if not isinstance(entry, InvitationTexts):
            raise InvalidInput(
                f"invitation_texts[{language!r}] must be an InvitationTexts(subject=..., body=...)"
            )
        used: set[str] = set()
        for part in ("subject", "body"):
            used |= _placeholders(getattr(entry, part), f"invitation_texts[{language!r}].{part}")
        if "link" in used and not has_link:
            raise InvalidInput(
                f"invitation_texts[{language!r}] uses {{link}}, which needs "
                "Tenantbill(invite_url='https://…/{token}'); without one use {code}"
            )
        body = _placeholders(entry.body, "")
        if not body & {"link", "code"}:
            raise InvalidInput(
                f"invitation_texts[{language!r}].body must contain {{link}} or {{code}}: "
                "without them the invitation cannot be accepted"
            )
        checked[language] = entry
    return checked


def _placeholders(template: object, where: str) -> set[str]:
    """The placeholders ``template`` uses; :class:`InvalidInput` for anything but the documented ones."""
    allowed = ", ".join("{" + name + "}" for name in _PLACEHOLDERS)
    if not isinstance(template, str):
        raise InvalidInput(f"{where} must be text, got {type(template).__name__}")
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion in Formatter().parse(template)]
    except ValueError as error:
        raise InvalidInput(
            f"{where} is not a valid template ({error}); write a literal brace as {{{{ or }}}}"
        ) from None
    used: set[str] = set()
    for name, spec, conversion in fields:
        if name is None:
            continue
        if name not in _PLACEHOLDERS or spec or conversion:
            shown = "{" + name + ("!" + conversion if conversion else "") + (":" + spec if spec else "") + "}"
            raise InvalidInput(f"{where} has the placeholder {shown}; the placeholders are {allowed}")
        used.add(name)
    return used


def invitation_message(
    *,
    account_name: str,
    role: Role | str,
    recipient: str,
    sender: str,
    token: str,
    created_at: datetime,
    expires_at: datetime,
    locale: str = "en",
    invite_url: str | None = None,
    texts: Mapping[str, InvitationTexts] | None = None,
    headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    """The e-mail that invites ``recipient`` to join ``account_name`` with ``role``, carrying ``token``.

    Plain text in the language of ``locale`` (``nb``, ``sv`` or ``en``,
    resolved as for invoices; any other language gets English), from
    ``texts`` for that language if given, else the built-in texts. With
    ``invite_url`` (a template checked by :func:`check_invite_url`) the
    e-mail carries the accept link; without, the code. ``created_at`` is the
    ``Date``; ``expires_at`` is written in UTC. The same arguments always give
    the same bytes. Raises :class:`~tenantbill.errors.InvalidEmail` for a
    recipient or sender that is not one address and
    :class:`~tenantbill.errors.InvalidInput` for a token that is not URL-safe
    text or a role an invitation cannot offer. ``headers`` are extra ASCII
    header fields.
    """
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise InvalidInput("the invitation token must be URL-safe text (letters, digits, '-' and '_')")
    for name, value in (("created_at", created_at), ("expires_at", expires_at)):
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise InvalidInput(f"{name} must be an aware datetime, got {value!r}")
    try:
        offered = Role(role)
    except ValueError:
        offered = Role.OWNER
    if offered is Role.OWNER:
        raise InvalidInput(f"an invitation offers the member or billing role, not {role!r}")
    lang = _resolve(locale if isinstance(locale, str) else "")[0]
    built_in = _INVITATION_CATALOGUE.get(lang) or _INVITATION_CATALOGUE[_FALLBACK]
    link = None if invite_url is None else check_invite_url(invite_url).replace("{token}", token)
    override = (texts or {}).get(lang)
    if override is not None:
        subject_template, body_template = override.subject, override.body
    else:
        subject_template = built_in.subject
        body_template = built_in.body_code if link is None else built_in.body_link
    values = {
        "account": one_line(str(account_name)),
        "role": built_in.member if offered is Role.MEMBER else built_in.billing,
        "code": token,
        "expires": f"{expires_at.astimezone(UTC):{built_in.expires}}",
    }
    if link is not None:
        values["link"] = link
    try:
        subject = subject_template.format_map(values)
        text = body_template.format_map(values)
    except (KeyError, IndexError, ValueError, AttributeError) as error:
        raise InvalidInput(f"the invitation texts for {lang!r} are not a valid template: {error}") from None
    root = EmailMessage(policy=email.policy.compat32)
    root["From"] = _address("From", sender, "sender")
    root["To"] = _address("To", recipient, "recipient")
    root["Subject"] = unstructured("Subject", subject)
    root["Date"] = format_datetime(created_at.astimezone(UTC))
    add_extra_headers(root, headers or {})
    root["MIME-Version"] = "1.0"
    root["Content-Type"] = 'text/plain; charset="utf-8"'
    root["Content-Transfer-Encoding"] = "quoted-printable"
    root.set_payload(_quoted_printable(text if text.endswith("\n") else text + "\n"))
    root.policy = email.policy.default
    return root


def _assemble(
    *,
    sender: str,
    recipient: str,
    subject: str,
    date: str,
    text: str,
    markup: str,
    filename: str,
    pdf: bytes,
    digest: str,
    headers: Mapping[str, str],
) -> EmailMessage:
    """Write the MIME tree out directly, then hand it over as a modern :class:`EmailMessage`.

    Building through the modern API parses every header it sets, which costs
    more than rendering the PDF. Here the parts are assembled with the legacy
    (``compat32``) calls from values that are already valid and encoded, and
    only then switched to ``email.policy.default``, which parses a header the
    first time it is read. The header values come from
    :mod:`tenantbill.render.headers`, folded so that no policy refolds them.
    Fixed boundaries derived from a hash of the content
    keep the bytes reproducible (and the content cannot contain them).
    """
    legacy = email.policy.compat32
    root = EmailMessage(policy=legacy)
    root["From"] = sender
    root["To"] = recipient
    root["Subject"] = subject
    root["Date"] = date
    add_extra_headers(root, headers)
    root["MIME-Version"] = "1.0"
    root["Content-Type"] = f'multipart/mixed; boundary="tenantbill-mixed-{digest}"'

    alternative = EmailMessage(policy=legacy)
    alternative["Content-Type"] = f'multipart/alternative; boundary="tenantbill-alternative-{digest}"'
    for body, subtype in ((text, "plain"), (markup, "html")):
        part = EmailMessage(policy=legacy)
        part["Content-Type"] = f'text/{subtype}; charset="utf-8"'
        part["Content-Transfer-Encoding"] = "quoted-printable"
        part.set_payload(_quoted_printable(body))
        alternative.attach(part)

    attachment = EmailMessage(policy=legacy)
    attachment["Content-Type"] = "application/pdf"
    # The file name is made of [A-Za-z0-9._-] only (see _filename): no encoding needed.
    attachment["Content-Disposition"] = f'attachment; filename="{filename}"'
    attachment["Content-Transfer-Encoding"] = "base64"
    attachment.set_payload(_base64_lines(pdf))

    root.attach(alternative)
    root.attach(attachment)
    for part in root.walk():
        part.policy = email.policy.default
    return root


def _letter(invoice: Invoice, locale: str) -> _Letter:
    """The content of the e-mail in the catalogue language closest to ``locale``."""
    lang, fmt_locale = _resolve(locale)
    t = _CATALOGUE[lang]
    seller = one_line(invoice.seller.name)
    number = invoice.number

    def money(amount: Decimal) -> str:
        return _money(str(amount), invoice.currency, fmt_locale)

    facts: list[tuple[str, str]]
    notes: list[str] = []
    if invoice.is_credit_note:
        subject = t.subject_credit_note.format(number=number, seller=seller)
        paragraphs = [t.attached_credit_note.format(number=number, seller=seller)]
        if invoice.credits_number:
            paragraphs.append(t.credits_invoice.format(number=invoice.credits_number))
        facts = [(t.amount_credited, money(-invoice.total)), (t.credit_note_number, number)]
        if invoice.credits_number:
            facts.append((t.credited_invoice, invoice.credits_number))
    else:
        subject = t.subject_invoice.format(number=number, seller=seller)
        paragraphs = [t.attached_invoice.format(number=number, seller=seller)]
        facts = [(t.amount_due, money(invoice.amount_due))]
        if invoice.amount_due > 0:
            facts.append((t.due_date, _long_date(invoice.due_date, fmt_locale)))
            how, reference = _how_to_pay(invoice, t)
            facts.extend(how)
            notes.append(reference)
        else:
            facts.append((t.invoice_number, number))
            notes.append(t.nothing_to_pay)
    return _Letter(
        lang=lang,
        subject=subject,
        greeting=t.greeting.format(customer=one_line(invoice.bill_to.name)),
        paragraphs=tuple(paragraphs),
        facts=tuple(facts),
        notes=tuple(notes),
        closing=(t.regards, seller),
    )


def _how_to_pay(invoice: Invoice, t: _Texts) -> tuple[list[tuple[str, str]], str]:
    """The bank account, the KID if any and the invoice number as facts, and what to quote when paying."""
    facts: list[tuple[str, str]] = []
    account = invoice.seller.bank_account
    if account:
        giro, shown = _display_account(account)
        facts.append((giro or t.bank_account, shown))
    kid = _kid(invoice)
    if kid:
        facts.append((t.kid, kid))
    facts.append((t.invoice_number, invoice.number))
    return facts, t.kid_reference if kid else t.payment_reference


def _kid(invoice: Invoice) -> str | None:
    """The invoice's KID, or ``None`` (also when a stored invoice's KID cannot be made)."""
    try:
        return invoice.kid
    except InvalidInput:
        return None


def _reminder_letter(invoice: Invoice, reminder: Reminder, locale: str, rate: Decimal | None) -> _Letter:
    """The content of the reminder e-mail in the catalogue language closest to ``locale``."""
    lang, fmt_locale = _resolve(locale)
    t = _CATALOGUE[lang]
    seller = one_line(invoice.seller.name)
    number = invoice.number
    currency = reminder.currency or invoice.currency
    due = _long_date(invoice.due_date, fmt_locale)
    facts = [
        (t.amount_due, _money(str(reminder.amount_due), currency, fmt_locale)),
        (t.pay_by, _long_date(reminder_due_date(reminder), fmt_locale)),
    ]
    if reminder.fee > 0:
        facts.append((t.reminder_fee, _money(str(reminder.fee), currency, fmt_locale)))
    how, reference = _how_to_pay(invoice, t)
    notes = [reference]
    if rate is not None:
        notes.append(t.late_interest.format(rate=_percent(str(rate), fmt_locale)))
    notes.append(t.already_paid)
    return _Letter(
        lang=lang,
        subject=t.subject_reminder.format(number=number, seller=seller),
        greeting=t.greeting.format(customer=one_line(invoice.bill_to.name)),
        paragraphs=(t.attached_reminder.format(number=number, seller=seller, due=due),),
        facts=(*facts, *how),
        notes=tuple(notes),
        closing=(t.regards, seller),
    )


@functools.lru_cache(maxsize=256)
def _percent(rate: str, locale: str) -> str:
    """A rate (a decimal's exact text) as a percentage, as ``locale`` writes it."""
    from babel.numbers import format_percent

    return str(format_percent(Decimal(rate), locale=locale, decimal_quantization=False))


# A month-end run formats the same few amounts and due dates thousands of times.
@functools.lru_cache(maxsize=4096)
def _money(amount: str, currency: str, locale: str) -> str:
    """``amount`` (a decimal's exact text) in ``currency``, formatted for ``locale``."""
    from babel.numbers import format_currency

    return str(format_currency(Decimal(amount), currency, locale=locale))


@functools.lru_cache(maxsize=1024)
def _long_date(day: date, locale: str) -> str:
    from babel.dates import format_date

    return str(format_date(day, "long", locale=locale))


@functools.lru_cache(maxsize=256)
def _resolve(locale: str) -> tuple[str, str]:
    """The catalogue language for ``locale`` and the locale to format numbers and dates in.

    A regional locale of a catalogue language keeps its region for formatting
    (``en_GB`` writes "29 January 2026"); anything else is formatted like the
    catalogue language the texts are in, so words and numbers agree.
    """
    from babel import Locale, UnknownLocaleError

    code = locale.strip().replace("-", "_")
    language = code.split("_", 1)[0].split("@", 1)[0].split(".", 1)[0].lower()
    lang = _ALIASES.get(language, language)
    if lang not in _CATALOGUE:
        return _FALLBACK, _FALLBACK
    try:
        parsed = Locale.parse(code)
    except (ValueError, UnknownLocaleError):
        return lang, lang
    return lang, str(parsed) if parsed.language == lang else lang


def _as_text(letter: _Letter) -> str:
    """The plain-text body."""
    width = max(len(label) for label, _ in letter.facts)
    facts = [f"{label + ':':<{width + 1}} {value}" for label, value in letter.facts]
    blocks = [letter.greeting, *letter.paragraphs, "\n".join(facts), *letter.notes, "\n".join(letter.closing)]
    return "\n\n".join(blocks) + "\n"


def _as_html(letter: _Letter) -> str:
    """The HTML body; every piece of text is escaped, since names and numbers come from users."""
    e = html.escape
    rows = "\n".join(
        f'<tr><th align="left">{e(label)}</th><td>{e(value)}</td></tr>' for label, value in letter.facts
    )
    paragraphs = "\n".join(f"<p>{e(p)}</p>" for p in letter.paragraphs)
    notes = "".join(f"<p>{e(n)}</p>\n" for n in letter.notes)
    closing = "<br>\n".join(e(line) for line in letter.closing)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{e(letter.lang)}">\n'
        f'<head><meta charset="utf-8"><title>{e(letter.subject)}</title></head>\n'
        "<body>\n"
        f"<p>{e(letter.greeting)}</p>\n"
        f"{paragraphs}\n"
        f"<table>\n{rows}\n</table>\n"
        f"{notes}"
        f"<p>{closing}</p>\n"
        "</body>\n"
        "</html>\n"
    )


def _address(field: str, value: object, role: str) -> str:
    """The ``field`` value for ``value``: one address, bare or with a display name (encoded if need be)."""
    if not isinstance(value, str):
        raise InvalidEmail(f"the {role} must be one e-mail address such as name@example.com, got {value!r}")
    return mailbox(field, *parse_mailbox(value, role))


@functools.lru_cache(maxsize=64)
def _line_splitter(lines: int) -> struct.Struct:
    """Cuts ``lines`` lines of base64 out of the encoded bytes in one call (a PDF has a few hundred)."""
    return struct.Struct(f"{_BASE64_LINE}s" * lines)


def _base64_lines(data: bytes) -> str:
    """``data`` in base64, in lines of 76 characters joined by ``\\n`` (no line break at the end)."""
    encoded = base64.b64encode(data)
    full, rest = divmod(len(encoded), _BASE64_LINE)
    lines = list(_line_splitter(full).unpack_from(encoded)) if full else []
    if rest:
        lines.append(encoded[full * _BASE64_LINE :])
    return b"\n".join(lines).decode("ascii")


def _quoted_printable(text: str) -> str:
    """``text`` as quoted-printable UTF-8, soft breaks at 76 characters as RFC 2045 asks."""
    return binascii.b2a_qp(text.encode("utf-8"), istext=True).decode("ascii")


def _filename(number: str) -> str:
    """``<number>.pdf`` with anything unsafe in a file name (``/``, spaces, …) replaced by ``_``."""
    stem = _UNSAFE_IN_FILENAME.sub("_", number).strip("._-")
    return f"{stem or 'invoice'}.pdf"


@functools.lru_cache(maxsize=256)
def _display_account(account: str) -> tuple[str | None, str]:
    """A bank account's giro name (None if it is no giro number) and how people write it.

    ``1234.56.78903`` for Norwegian digits, ``5050-1055`` for a Bankgiro number,
    an IBAN in fours.
    """
    from tenantbill.domain.identity import display_bank_account, giro_name

    return giro_name(account), display_bank_account(account)
