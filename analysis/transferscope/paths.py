"""Checks of the paths a user names, made before anything is opened or written.

A path given on the command line may be anything: a FIFO that never delivers a byte, a device,
a directory, a symbolic link that points at itself, a folder under a regular file, a place where
nobody may write, or the file system's root. These functions look with ``stat`` (which never
blocks) and say what is wrong in one line, as :class:`~transferscope.errors.InputError`, so that
a reader is never left hanging on a FIFO and a writer never fails half-way with a traceback.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

from transferscope.errors import InputError

__all__ = [
    "check_input_file",
    "check_output_file",
    "check_output_folder",
    "file_type",
    "stat_path",
]

_TYPES = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def file_type(mode: int) -> str:
    """Name the kind of file a ``st_mode`` describes.

    Parameters
    ----------
    mode : int
        ``os.stat(path).st_mode``.

    Returns
    -------
    str
        ``"a regular file"``, ``"a directory"``, ``"a FIFO (named pipe)"``, ``"a character
        device"``, ``"a block device"``, ``"a socket"`` or ``"not a regular file"``.
    """
    if stat.S_ISREG(mode):
        return "a regular file"
    for test, name in _TYPES:
        if test(mode):
            return name
    return "not a regular file"


def stat_path(path: Path, what: str) -> os.stat_result | None:
    """``os.stat`` (never blocks, follows links) that names the problem; None when nothing is there.

    Parameters
    ----------
    path : pathlib.Path
        Any path.
    what : str
        What was expected there, for the message.

    Returns
    -------
    os.stat_result or None
        The status, or None when the path does not exist.

    Raises
    ------
    InputError
        For a symbolic link loop, a broken link, a path under a regular file, or a path that
        cannot be looked at.
    """
    try:
        return path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError(
                "a symbolic link loop (the link points back at itself)", file=str(path)
            ) from None
        if exc.errno == errno.ENOENT:
            if path.is_symlink():
                raise InputError(
                    f"a broken symbolic link (it points at {os.readlink(path)!r}, which does not "
                    "exist)",
                    file=str(path),
                ) from None
            return None
        if exc.errno == errno.ENOTDIR:
            blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
            shown = repr(str(blocker)) if blocker is not None else "a part of the path"
            raise InputError(
                f"{shown} is a file, not a folder; expected {what}", file=str(path)
            ) from None
        raise InputError(f"cannot look at it ({exc.strerror or exc})", file=str(path)) from None


def check_input_file(path: str | Path, what: str = "a file") -> Path:
    """Check that ``path`` is an existing regular file that may be read, without opening it.

    Parameters
    ----------
    path : str or pathlib.Path
        The input.
    what : str
        What was expected, for the message (e.g. ``"a CSV file"``).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    InputError
        When nothing is there, for a broken link or a link loop, a directory, a FIFO, a device
        or a socket (which could block or never end), or a file this process may not read.
    """
    file = Path(path)
    info = stat_path(file, what)
    if info is None:
        raise InputError(f"no such file (expected {what})", file=str(file))
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"is a directory, expected {what}", file=str(file))
    if not stat.S_ISREG(info.st_mode):
        raise InputError(
            f"is {file_type(info.st_mode)}, not a regular file; expected {what}", file=str(file)
        )
    if not os.access(file, os.R_OK):
        raise InputError("cannot read the file (permission denied)", file=str(file))
    return file


def _probe(folder: Path, target: Path) -> None:
    """Create and remove a file in ``folder``: the only sure test that writing works."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".transferscope-probe-"):
            pass
    except OSError as exc:
        raise InputError(
            f"cannot write in {str(folder)!r} ({exc.strerror or exc})", file=str(target)
        ) from None


def check_output_folder(path: str | Path) -> Path:
    """Check that a folder can be written to, and create it; call before writing anything.

    Parameters
    ----------
    path : str or pathlib.Path
        The output folder; it and its missing parents are created.

    Returns
    -------
    pathlib.Path
        ``path``, now an existing folder this process can write in.

    Raises
    ------
    InputError
        For the file system's root, a path that is (or lies under) something other than a
        folder, or a place where the folder cannot be created or written to.
    """
    folder = Path(path)
    resolved = folder.resolve()
    if resolved.parent == resolved:
        raise InputError(
            "is the root of the file system; choose a folder of its own for the output",
            file=str(folder),
        )
    info = stat_path(folder, "a folder")
    if info is not None and not stat.S_ISDIR(info.st_mode):
        raise InputError(
            f"exists and is not a folder ({file_type(info.st_mode)}); expected an output folder",
            file=str(folder),
        )
    if info is None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(
                f"cannot create the folder ({exc.strerror or exc})", file=str(folder)
            ) from None
    _probe(folder, folder)
    return folder


def check_output_file(path: str | Path) -> Path:
    """Check that a file can be written (its folder exists and is writable); call before writing.

    Parameters
    ----------
    path : str or pathlib.Path
        The output file; an existing regular file is overwritten.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    InputError
        When the path is something other than a regular file, its folder does not exist (or
        is not a folder), or the folder cannot be written to.
    """
    file = Path(path)
    info = stat_path(file, "a file")
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise InputError(
            f"exists and is {file_type(info.st_mode)}; expected a file to write", file=str(file)
        )
    folder = file.parent
    parent = stat_path(folder, "a folder")
    if parent is None:
        raise InputError(f"the folder {str(folder)!r} does not exist", file=str(file))
    if not stat.S_ISDIR(parent.st_mode):
        raise InputError(f"{str(folder)!r} is not a folder", file=str(file))
    _probe(folder, file)
    return file
