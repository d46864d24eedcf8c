"""Test support: clocks, factories, the pytest plugin and the conformance suites for Store and Mailer adapters."""
