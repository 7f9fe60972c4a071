"""Errors that the command line reports as bad input (exit status 2) with one clear line."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """Where in an input a problem sits; every part is optional.

    Parameters
    ----------
    file : str or None
        Path or name of the input.
    row : int or None
        1-based data row (the header is row 0; for a DataFrame, its position + 1).
    column : str or None
        Column name as it appears in the input.
    """

    file: str | None = None
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        parts = []
        if self.file is not None:
            parts.append(str(self.file))
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:
            parts.append(f"column {self.column!r}")
        return ", ".join(parts)


class InputError(ValueError):
    """Bad input from a user: a file, a value, an option or a store that cannot be used.

    The message is one line that names the file, row and column where they apply and says what
    was expected. The command line prints it and exits with status 2; nothing is written.

    Parameters
    ----------
    message : str
        What is wrong and what was expected.
    file, row, column : optional
        Where; see :class:`Location`.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.location = Location(file, row, column)
        self.reason = message
        where = str(self.location)
        super().__init__(f"{where}: {message}" if where else message)


class StoreError(InputError):
    """A store that cannot be used: not DuckDB, a newer schema, or locked by another process."""
