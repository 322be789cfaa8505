"""`python -m gateway --host 127.0.0.1 --port 8090`: the same as `batchrelay gateway`."""

import sys

from worker.cli.main import main

sys.exit(main(["gateway", *sys.argv[1:]]))
