"""Render evaluation reports (plain dicts from :mod:`aeids.metrics`)."""

from .text import format_report

__all__ = ["format_report"]
