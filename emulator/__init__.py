"""OpenAI's Files + Batches API and Anthropic's Messages + Message Batches API, served for local
runs, tests and self-hosted models.

Start it with `batchrelay emulator` or `python -m emulator --port 8089`; point the official
SDKs at it with `OPENAI_BASE_URL=http://127.0.0.1:8089/v1` and
`ANTHROPIC_BASE_URL=http://127.0.0.1:8089`. Tests use `emulator.testing.running_emulator`
(`.client()`, `.anthropic_client()`). Faults are set by CLI flags, by `POST /_emulator/faults`
and per OpenAI batch by `emulator_<fault>` metadata keys (see `emulator.config.BatchFaults`).
"""

from producers.extras import require

require("emulator", "the emulator")
