"""Errors that name the file, the line or item, and what was expected.

Bad input must stop with a message a person can act on, never be silently skipped
or turned into a score.
"""

from __future__ import annotations

from pathlib import Path


class SafeVLMError(Exception):
    """Base class for errors safevlm raises on purpose."""


class DataError(SafeVLMError):
    """A data file is missing, malformed, or lacks a field.

    ``where`` is ``path`` plus, when known, ``:line`` (1-based) or ``[item]``.
    """

    def __init__(self, path: str | Path, problem: str, *, line: int | None = None, item: str | None = None):
        self.path = str(path)
        self.problem = problem
        self.line = line
        self.item = item
        where = self.path
        if line is not None:
            where += f":{line}"
        if item is not None:
            where += f" (item {item})"
        self.where = where
        super().__init__(f"{where}: {problem}")

    def in_context(self, context: str) -> DataError:
        """The same error with ``context`` appended (e.g. which benchmark and spec read the file)."""
        return DataError(self.path, f"{self.problem} ({context})", line=self.line, item=self.item)


class ConfigError(SafeVLMError):
    """A benchmark spec, config file or command-line value is invalid."""
