"""Test support for dalcore and its backend plugins: real servers and the conformance suite."""

from dalcore.testing.servers import ServerProcess, free_port, require_binary, wait_for_port

__all__ = ["ServerProcess", "free_port", "require_binary", "wait_for_port"]
