"""Synthetic demo data: a Chinese online shop or B2B SaaS site, as Segment messages."""

from haina.demo.generator import Kind, estimate_events, generate

__all__ = ["Kind", "estimate_events", "generate"]
