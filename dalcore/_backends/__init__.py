"""The backends that ship inside dalcore; each module is a plugin like any external one."""
