"""The revisions, oldest first: ``r<revision>_<slug>.py``."""
