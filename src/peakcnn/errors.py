"""Errors raised for bad input: one line naming the file, the line and the fix."""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input (a file, a config value); the message is one line with the fix."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}")
        self.path = path
        self.line = line
