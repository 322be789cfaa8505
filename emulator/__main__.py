"""`python -m emulator --port N`."""

import sys

from emulator.cli import main

sys.exit(main())
