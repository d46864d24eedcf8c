"""Use cases: each call is one store transaction, with the policy asked first."""
