"""Pure domain rules and immutable values; no I/O, no adapters."""
