"""``python -m sklearn_bp``: the command line (see ``sklearn_bp._cli``); bare, the digits demo."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
