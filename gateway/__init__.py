"""The gateway: OpenAI's Files and Batches API in front of batchrelay, for unchanged SDK clients.

Start it with `batchrelay gateway` or `python -m gateway --port 8090`; point the official
`openai` SDK at it with `OPENAI_BASE_URL=http://127.0.0.1:8090/v1` and a tenant's key
(BATCHRELAY_GATEWAY_KEYS). Every replica keeps its state in Redis only, so any number can run
behind one load balancer. `gateway.app.create_app` builds the app; `gateway.testing
.running_gateway` runs it as a subprocess for tests.
"""

from producers.extras import require

require("gateway", "the gateway")
