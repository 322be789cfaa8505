"""``python -m bench``: run the benchmarks (see bench.cli)."""

from bench.cli import main

raise SystemExit(main())
