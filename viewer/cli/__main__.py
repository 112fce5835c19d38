"""``python -m viewer.cli``: the console script (tests start servers this way)."""

import sys

from viewer.cli import main

sys.exit(main())
