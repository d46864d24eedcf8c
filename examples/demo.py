"""The tenantbill demo: a small invoicing platform's month end on the embedded SQLite store.

The same as ``tenantbill demo`` (the console script of the ``cli`` extra):
sign-ups, an invitation, subscriptions with usage, two month-end runs that
write the invoice PDFs and show the e-mails that would go out.

    python examples/demo.py [--out DIR]
"""

from __future__ import annotations

import sys

from tenantbill.demo import main

if __name__ == "__main__":
    sys.exit(main())
