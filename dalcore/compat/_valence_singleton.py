"""``singleton.Singleton``: the metaclass Valence put on its drivers (one instance per process)."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

__all__ = ["Singleton"]


class Singleton(type):
    """Calling the class returns the one instance, created on the first call.

    Unlike Valence's, two threads making the first call at once get the same instance.
    """

    _instances: ClassVar[dict[type, Any]] = {}
    _lock: ClassVar[threading.RLock] = threading.RLock()

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        instance = Singleton._instances.get(cls)
        if instance is None:
            with Singleton._lock:
                instance = Singleton._instances.get(cls)
                if instance is None:
                    instance = super().__call__(*args, **kwargs)
                    Singleton._instances[cls] = instance
        return instance

    def forget_instance(cls) -> None:
        """Drop the instance, so that the next call makes a new one (tests, reconfiguration)."""
        with Singleton._lock:
            Singleton._instances.pop(cls, None)
