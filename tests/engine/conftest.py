import pytest

# Before the suite is imported, so its plain asserts explain their failures.
pytest.register_assert_rewrite("dalcore.testing.engine")
