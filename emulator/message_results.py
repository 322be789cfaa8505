"""A Message Batch's run: the shared BatchJob executes its `/v1/messages` lines (with the same
compressed time, faults, cancel, expiry and forwarding as an OpenAI batch); their OpenAI-format
output lines then become Anthropic's result lines, shuffled into one results file, and only then
does the batch end."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections import Counter
from typing import Any

import orjson

from emulator.anthropic_errors import OVERLOADED_MESSAGE, error_envelope, translated
from emulator.files import FileStore
from emulator.lines import CANCELLED_CODE, EXPIRED_CODE, custom_id_of
from emulator.message_batches import MessageBatchRecord
from emulator.outputs import ShuffledJsonlWriter
from emulator.processor import BatchJob
from emulator.validation import input_lines

EMULATOR_FAILURE = "The emulator failed before running this request."


def errored(error_type: str, message: str) -> dict[str, Any]:
    return {"type": "errored", "error": error_envelope(error_type, message)}


def result_of(line: dict[str, Any]) -> dict[str, Any]:
    """The result of one output line (`{"custom_id", "response", "error"}`)."""
    error = line.get("error")
    if error is not None:
        if error.get("code") == CANCELLED_CODE:
            return {"type": "canceled"}
        if error.get("code") == EXPIRED_CODE:
            return {"type": "expired"}
        # The line_error_rate fault: a request that failed without an answer.
        return errored("overloaded_error", error.get("message") or OVERLOADED_MESSAGE)
    response = line["response"]
    status, body = response["status_code"], response["body"]
    if not 200 <= status < 300:
        return {"type": "errored", "error": translated(status, body)}
    usage = body.get("usage") if isinstance(body, dict) else None
    if isinstance(usage, dict):
        body = {**body, "usage": {**usage, "service_tier": "batch"}}
    return {"type": "succeeded", "message": body}


def unfinished_result(status: str) -> dict[str, Any]:
    """The result of a request never run, by the status the batch finished in."""
    if status == "cancelled":
        return {"type": "canceled"}
    if status == "expired":
        return {"type": "expired"}
    return errored("api_error", EMULATOR_FAILURE)


class MessageBatchJob(BatchJob):
    """No validating step (a bad request errors alone); the results file is its last step."""

    @property
    def message_batch(self) -> MessageBatchRecord:
        assert isinstance(self.batch, MessageBatchRecord)
        return self.batch

    async def validate(self) -> bool:
        await self.conclude("in_progress")
        return self.batch.status == "in_progress"

    async def run(self) -> None:
        failure: Exception | None = None
        try:
            await super().run()
        except Exception as exc:
            # Still end the batch (every request errored) so that clients polling for `ended`
            # stop; the runner logs the failure.
            failure = exc
        batch = self.message_batch
        counts, results_file_id = await asyncio.to_thread(self.write_results)
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id is not None:
                self.context.files.delete(file_id)
        batch.output_file_id = batch.error_file_id = None
        batch.result_counts, batch.results_file_id = counts, results_file_id
        batch.ended_at = time.time()
        if failure is not None:
            raise failure

    def write_results(self) -> tuple[Counter[str], str]:
        """Converts the output lines (or, when none were written, answers every request by how
        the batch finished); returns the counts per result type and the results file's id."""
        batch, files = self.message_batch, self.context.files
        work_dir = self.context.work_root / f"{batch.id}-results"
        work_dir.mkdir(parents=True, exist_ok=True)
        writer = ShuffledJsonlWriter(work_dir, "results", self.rng)
        counts: Counter[str] = Counter()

        def put(custom_id: str, result: dict[str, Any]) -> None:
            counts[result["type"]] += 1
            line = orjson.dumps({"custom_id": custom_id, "result": result}) + b"\n"
            writer.write(line, custom_id)

        outputs = [f for f in (batch.output_file_id, batch.error_file_id) if f is not None]
        for file_id in outputs:
            with files.body_path(file_id).open("rb") as lines:
                for raw in lines:
                    line = orjson.loads(raw)
                    put(line["custom_id"], result_of(line))
        if not outputs:
            unfinished = unfinished_result(batch.status)
            with files.body_path(batch.input_file_id).open("rb") as stream:
                for _, raw in input_lines(stream):
                    put(custom_id_of(raw), unfinished)
        results_file_id, path = files.reserve()
        writer.join_into(path)
        shutil.rmtree(work_dir, ignore_errors=True)
        files.body_path(batch.input_file_id).unlink(missing_ok=True)
        return counts, results_file_id


def remove_results(files: FileStore, batch: MessageBatchRecord) -> None:
    for file_id in (batch.results_file_id, batch.input_file_id):
        if file_id is not None:
            files.body_path(file_id).unlink(missing_ok=True)
