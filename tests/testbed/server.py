"""Entry point: ``python tests/testbed/server.py --port 5123``."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crossvault_testbed.server import main  # noqa: E402

if __name__ == "__main__":
    main()
