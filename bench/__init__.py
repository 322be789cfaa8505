"""batchrelay benchmarks: each figure is a ratio against a baseline measured in the same run.

Run ``python -m bench`` (full size) or ``python -m bench --quick`` (small N). A summary with
the machine it ran on is written to ``bench/results/latest.json``.
"""
