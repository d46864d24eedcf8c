"""Credit notes line by line: VAT that never drifts, and never more (or less) than a credit."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import tenantbill as tb
from tenantbill.clock import FixedClock
from tenantbill.memory import MemoryMailer, MemoryStore
from tenantbill.ports import Store
from tenantbill.testing.factories import Factory, SignedUp

D = Decimal
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CENT = D("0.01")


@pytest.fixture
def seller(store: Store) -> SignedUp:
    app = tb.Tenantbill(store=store, mailer=MemoryMailer(), clock=FixedClock(NOW))
    return Factory(app).account(name="Lager AS")


def _issue(seller: SignedUp, lines: list[tuple[str, str, str]]) -> tb.Invoice:
    """An invoice of ``(quantity, unit price, VAT rate)`` lines."""
    draft = tb.InvoiceDraft(
        bill_to=tb.Party(name="Kunde AS"),
        lines=[
            tb.Line(description=f"Vare {i}", quantity=D(q), unit_price=D(p), vat_rate=D(r))
            for i, (q, p, r) in enumerate(lines)
        ],
    )
    return seller.app.invoices.issue(seller.owner.id, seller.account.id, draft)


def _credit(seller: SignedUp, invoice: tb.Invoice, lines: list[int] | None = None) -> tb.Invoice:
    return seller.app.invoices.credit(seller.owner.id, invoice.id, reason="Retur", lines=lines)


def test_crediting_many_small_lines_one_by_one_keeps_each_notes_vat_with_its_base(seller: SignedUp) -> None:
    # 0.02 at 25 % is 0.005 of VAT a line: rounded on each note alone, every note would round up
    # and the last would have to give back more than the invoice's VAT (a credit note that charges).
    invoice = _issue(seller, [("1", "0.02", "0.25")] * 30)
    assert invoice.vat_total == D("0.15")
    notes = [_credit(seller, invoice, [i]) for i in range(30)]
    for note in notes:
        assert note.net_total == D("-0.02")
        assert D("-0.02") <= note.vat_total <= 0  # the sign of its base, within a cent of base × rate
        assert note.total <= 0
    assert sum(note.vat_total for note in notes) == -invoice.vat_total
    assert sum(note.total for note in notes) == -invoice.total
    assert seller.app.invoices.get(seller.owner.id, invoice.id).status is tb.InvoiceStatus.CREDITED


def test_crediting_a_discount_line_alone_is_refused_and_nothing_is_numbered(seller: SignedUp) -> None:
    invoice = _issue(seller, [("1", "1000", "0.25"), ("-1", "100", "0.25")])
    assert invoice.total == D("1125.00")
    with pytest.raises(tb.InvalidInvoice, match="not a credit"):
        _credit(seller, invoice, [1])
    with pytest.raises(tb.InvalidInvoice, match="more than is left"):
        _credit(seller, invoice, [0])  # 1 250.00 of an invoice of 1 125.00
    note = _credit(seller, invoice, [0, 1])
    assert note.total == D("-1125.00")
    assert note.sequence == invoice.sequence + 1  # the refused ones took no number
    assert seller.app.invoices.get(seller.owner.id, invoice.id).status is tb.InvoiceStatus.CREDITED


def test_a_discount_line_is_credited_with_lines_that_leave_a_credit(seller: SignedUp) -> None:
    invoice = _issue(seller, [("1", "1000", "0.25"), ("1", "500", "0.25"), ("-1", "100", "0.25")])
    first = _credit(seller, invoice, [1, 2])  # 500 less the discount of 100
    assert first.total == D("-500.00")
    last = _credit(seller, invoice)
    assert last.total == D("-1250.00")
    assert first.total + last.total == -invoice.total


_line = st.tuples(
    st.integers(min_value=-3, max_value=40),  # quantity: a few discount lines
    st.sampled_from(["0.01", "0.02", "0.03", "0.05", "0.07", "0.99", "1.01", "3.33"]),
    st.sampled_from(["0", "0.12", "0.15", "0.25"]),
)


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(_line, min_size=1, max_size=12), order=st.randoms(use_true_random=False))
def test_crediting_in_any_order_and_grouping_cancels_the_invoice_exactly(lines, order) -> None:  # type: ignore[no-untyped-def]
    app = tb.Tenantbill(store=MemoryStore(), mailer=MemoryMailer(), clock=FixedClock(NOW))
    seller = Factory(app).account(name="Lager AS")
    lines = [(str(q), p, r) for q, p, r in lines if q != 0] or [("1", "1", "0.25")]
    total = sum(D(q) * D(p) * (1 + D(r)) for q, p, r in lines)
    assume(total > CENT)  # an invoice asks for something (one of a negative total is refused)
    invoice = _issue(seller, lines)
    indexes = list(range(len(lines)))
    order.shuffle(indexes)
    notes: list[tb.Invoice] = []
    carried: list[int] = []  # lines of a refused note go with the next one
    while indexes:
        size = order.randint(1, len(indexes))
        take, indexes = carried + indexes[:size], indexes[size:]
        try:
            notes.append(_credit(seller, invoice, take))
            carried = []
        except tb.InvalidInvoice:
            carried = take
    if carried:
        notes.append(_credit(seller, invoice))  # all that is left at once: always allowed
    assert {i for note in notes for i in note.credited_lines} == set(range(len(lines)))
    for note in notes:
        assert -invoice.total <= note.total <= 0
        for group in note.vat:
            assert abs(group.vat - group.base * group.rate) <= CENT  # BR-CO-17: within one cent
            assert group.vat * group.base >= 0  # never of the other sign than its base
    assert sum(note.total for note in notes) == -invoice.total
    assert sum(note.vat_total for note in notes) == -invoice.vat_total
