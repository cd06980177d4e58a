"""Haina: collect, analyse and act on user behaviour."""

__version__ = "0.1.0"
