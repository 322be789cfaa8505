"""An OpenAI-compatible Files + Batches API server for local runs, tests and self-hosted models.

Start it with `batchrelay emulator` or `python -m emulator --port 8089`; point the official
SDK at it with `OPENAI_BASE_URL=http://127.0.0.1:8089/v1`. Tests use
`emulator.testing.running_emulator`. Faults are set by CLI flags, by `POST /_emulator/faults`
and per batch by `emulator_<fault>` metadata keys (see `emulator.config.BatchFaults`).
"""

from producers.extras import require

require("emulator", "the emulator")
