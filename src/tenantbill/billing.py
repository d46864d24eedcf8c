"""Billing cycles and prorating: pure functions, no store needed.

Periods are half-open ``[start, end)`` ranges of calendar days in the
account's time zone (convert instants with :func:`local_date` first)::

    from datetime import date
    from decimal import Decimal
    from tenantbill.billing import BillingCycle, prorate

    period = BillingCycle.MONTHLY.period(date(2026, 1, 31), 1)
    # Period(start=date(2026, 2, 28), end=date(2026, 3, 31))
    prorate(Decimal("300"), period, date(2026, 3, 15), period.end)
"""

from tenantbill.domain.billing import BillingCycle, Period, local_date, prorate

__all__ = ["BillingCycle", "Period", "local_date", "prorate"]
