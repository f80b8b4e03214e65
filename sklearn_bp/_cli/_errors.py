"""How the command line refuses: the user's mistakes in one line, and the files they name.

A :class:`UserError` ends a command with one line on stderr and exit status 1, no traceback.
Messages name a data or model file as :func:`shown` writes it; ``-`` (:data:`STDIN`) as a data
file is standard input.
"""

from pathlib import Path

from .._optional import missing_message, missing_packages

PROGRAM = "sklearn-bp"


class UserError(Exception):
    """A mistake of the user: reported in one line, exit status 1, no traceback."""


def one_line(error):
    text = " ".join(str(error).split())
    return text or type(error).__name__


def require(what, packages):
    """Refuse to start ``what`` while any of ``packages`` is missing, naming them all."""
    missing = missing_packages(dict.fromkeys(packages))
    if missing:
        raise UserError(missing_message(what, missing))


STDIN = "-"  # as a data file: CSV from standard input


def is_stdin(path):
    return str(path) == STDIN


def shown(path):
    """A data or model file as the messages name it."""
    return "standard input" if is_stdin(path) else repr(str(path))


def check_file(path):
    if is_stdin(path):
        return path
    path = Path(path)
    if not path.exists():
        raise UserError(f"No such file: {shown(path)}.")
    if not path.is_file():
        raise UserError(f"{shown(path)} is not a file.")
    return path
