"""The command line: ``sklearn-bp`` and ``python -m sklearn_bp`` (see ``_commands``)."""

from ._commands import exact_floats, main

__all__ = ["exact_floats", "main"]
