"""pytest plugin (entry point ``pytest11: dalcore``): fixtures shared by dalcore's test suites."""

from __future__ import annotations
