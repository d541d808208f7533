"""``python -m graphgrad``: the same as the ``graphgrad`` command."""

import sys

from graphgrad.cli import main

if __name__ == "__main__":
    sys.exit(main())
