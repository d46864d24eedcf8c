"""E-invoices: an issued invoice or credit note as EHF 3.0 / Peppol BIS Billing 3.0 UBL.

The glue behind :meth:`InvoiceService.ubl
<tenantbill.services.invoices.InvoiceService.ubl>`: load and authorize the
invoice like its PDF, map it to an :class:`~tenantbill.domain.einvoice.EDocument`
(:func:`~tenantbill.domain.einvoice.document_of`, which checks it against the
rules), render the PDF and write the UBL with the PDF embedded.
"""

from __future__ import annotations

from tenantbill.domain.einvoice import document_of, pdf_attachment
from tenantbill.services.base import Context
from tenantbill.services.invoices import InvoiceService, _viewer

__all__ = ["invoice_ubl"]


def invoice_ubl(ctx: Context, actor_id: str, invoice_id: str) -> bytes:
    """The UBL of an issued invoice or credit note the actor may view, with its PDF embedded.

    Members of the issuing or the billed account whose role may view
    invoices get it; anyone else gets the same ``PermissionDenied`` for an
    invoice that exists as for one that does not. Raises
    :class:`~tenantbill.errors.EInvoiceError` (before rendering the PDF)
    when the invoice lacks something an e-invoice needs.
    """
    from tenantbill.render.pdf import render_invoice
    from tenantbill.render.ubl import ubl

    with ctx.store.transaction() as tx:
        invoice = InvoiceService._load(tx, invoice_id)
        _viewer(tx, actor_id, invoice)
        credited = None
        if invoice.credits_invoice_id is not None:  # the credited invoice is the same account's
            credited = tx.invoices.get(invoice.credits_invoice_id)
    document = document_of(invoice, credited=credited)  # checked before the PDF is rendered
    # with_attachment does not check the document again: only the attachment is new
    return ubl(document.with_attachment(pdf_attachment(invoice, render_invoice(invoice))))
