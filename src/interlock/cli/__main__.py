"""`python -m interlock.cli` runs the command line."""

import sys

from interlock.cli import main

sys.exit(main())
