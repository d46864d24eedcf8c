"""Test support: the pytest plugin, factories, and conformance suites for Store and Mailer adapters."""
