"""VAT categories (UNCL 5305, as EHF and Peppol use them) and the default category of a line."""

from __future__ import annotations

import enum
from decimal import Decimal

from tenantbill.errors import InvalidInvoice

__all__ = ["VatCategory", "default_category", "parse_category", "rate_conflict"]


class VatCategory(enum.Enum):
    """The VAT category of a line (UNCL 5305, as EHF and Peppol use it)."""

    S = "S"  # standard rate
    Z = "Z"  # zero rated
    E = "E"  # exempt
    AE = "AE"  # reverse charge
    K = "K"  # intra-EU supply
    G = "G"  # export outside the EU
    O = "O"  # noqa: E741 - not subject to VAT; the code is the name

    # A member is equal only to itself, so its identity hash will do: Enum's own hashes the
    # name in Python, and categories are keys of sets, dicts and caches on every export.
    __hash__ = object.__hash__

    @property
    def needs_exemption_reason(self) -> bool:
        """Whether the VAT breakdown must say why no VAT is charged (BR-E-10, BR-AE-10, BR-IC-10, …)."""
        return self not in (VatCategory.S, VatCategory.Z)


def parse_category(value: object) -> VatCategory | None:
    """A :class:`VatCategory` from itself or its code (``"S"``, ``"Z"``, …), ``None`` for none."""
    if value is None or isinstance(value, VatCategory):
        return value
    if isinstance(value, str):
        try:
            return VatCategory(value.strip().upper())
        except ValueError:
            pass
    codes = ", ".join(category.value for category in VatCategory)
    raise InvalidInvoice(f"vat_category is a tenantbill.VatCategory or one of {codes}, got {value!r}")


def default_category(category: VatCategory | None, rate: Decimal, *, vat_registered: bool) -> VatCategory:
    """The category a line is issued with: its own, else O for a seller not VAT-registered, else S or Z.

    A seller that is not VAT-registered charges no VAT: every line is O (not
    subject to VAT) whatever was asked, and a rate above 0 is an error the
    caller reports. A registered seller's line without a category is S when
    its rate is above 0 and Z at 0.
    """
    if not vat_registered:
        return VatCategory.O
    if category is not None:
        return category
    return VatCategory.S if rate > 0 else VatCategory.Z


def rate_conflict(category: VatCategory, rate: Decimal) -> str | None:
    """What is wrong with a line of ``category`` at ``rate``, or ``None``: only S has a rate above 0."""
    if category is VatCategory.S:
        return None if rate else "category S has a rate above 0 (BR-S-05); use Z for 0 %"
    if rate:
        return (
            f"category {category.value} has rate 0 and carries no VAT, got {rate}; "
            "only category S has a rate above 0"
        )
    return None
