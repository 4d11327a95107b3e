"""pytest plugin (entry point ``pytest11: dalcore``): fixtures shared by dalcore's test suites.

Loaded by pytest in every project that has dalcore installed, so a backend package running the
conformance suite gets its assertion rewriting and the ``slow`` marker without configuration.
"""

from __future__ import annotations

import pytest

# Before any test module imports the suite, so its asserts explain their failures.
pytest.register_assert_rewrite(
    "dalcore.testing.conformance",
    "dalcore.testing._store_machine",
    "dalcore.testing.engine",
    "dalcore.testing.queries",
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: tests that take several seconds (process pools, expiry)"
    )
