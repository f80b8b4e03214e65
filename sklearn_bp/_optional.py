"""Optional dependencies: which are not installed, and the one message that names them all.

sklearn-bp is installed from a checkout (``pip install ".[cli]"``) and is on no package index,
so ``pip install "sklearn-bp[cli]"`` fails: the messages name the packages themselves, which
``pip install`` finds wherever sklearn-bp came from. Every package here is imported under the
name it has on PyPI.
"""

from importlib.util import find_spec


def missing_packages(packages):
    """The packages among ``packages`` that are not installed, in their order.

    Looked up, not imported: nothing runs, and a command learns what it lacks in a moment.
    """
    return [package for package in packages if find_spec(package) is None]


def missing_message(what, packages):
    """The message for ``what``, which needs ``packages`` that are not installed: every one
    named, and one command that installs them all."""
    packages = list(dict.fromkeys(packages))
    names = packages[-1] if len(packages) == 1 else f"{', '.join(packages[:-1])} and {packages[-1]}"
    verb = "is" if len(packages) == 1 else "are"
    return f"{what} needs {names}, which {verb} not installed: pip install {' '.join(packages)}"
