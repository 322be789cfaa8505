"""A FastAPI service that submits work items and long-polls their results, without blocking
its event loop (AsyncProducer). Run it with `uvicorn fastapi_service:app`, next to
BATCHRELAY_REDIS_URL and a batchrelay worker."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException

from producers import AsyncProducer, ItemNotFound, WaitTimeout


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with AsyncProducer.from_url() as producer:  # BATCHRELAY_REDIS_URL
        app.state.producer = producer
        yield


app = FastAPI(lifespan=lifespan)


@app.post("/reviews")
async def submit_review(text: str) -> dict[str, str]:
    """Queue a review for classification at batch prices; answer with its id at once."""
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"Classify: {text}"}]}
    item_id = await app.state.producer.submit({"body": body})
    return {"id": item_id}


@app.get("/reviews/{item_id}")
async def review(item_id: str, wait: float = 0) -> dict[str, Any]:
    """The review's result; with ?wait=SECONDS (at most 60), wait for it that long."""
    producer: AsyncProducer = app.state.producer
    result: dict[str, Any] | None
    try:
        if wait > 0:
            result = await producer.wait(item_id, timeout=min(wait, 60))
        else:
            result = await producer.result(item_id)
    except ItemNotFound:
        raise HTTPException(404, f"no review {item_id}") from None
    except WaitTimeout:
        result = None
    if result is None:
        return {"id": item_id, "status": "pending"}
    answer = result["response"]["body"]["choices"][0]["message"]["content"]
    return {"id": item_id, "status": result["status"], "answer": answer}
