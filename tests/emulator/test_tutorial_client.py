"""A client written as OpenAI's Batch API tutorial writes it, run unchanged in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from emulator.testing import RunningEmulator

TUTORIAL_SCRIPT = """
import json
import time

from openai import OpenAI

client = OpenAI()

reviews = [
    "An absolute delight from start to finish, beautifully shot.",
    "Terrible pacing and awful dialogue. I would not recommend it.",
    "A heartfelt story with great performances.",
    "Bad acting, bad plot, a waste of two hours.",
]
system_prompt = (
    "Your goal is to extract the sentiment of movie reviews. "
    "You will be provided with a movie review, and you will output "
    "'positive' or 'negative' depending on the sentiment of the review."
)

tasks = []
for index, review in enumerate(reviews):
    task = {
        "custom_id": f"task-{index}",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": "gpt-4o-mini",
            "temperature": 0.1,
            "messages": [
                {"role": "system", "content": system_prompt},
                {"role": "user", "content": review},
            ],
        },
    }
    tasks.append(task)

file_name = "batch_tasks_movies.jsonl"
with open(file_name, "w") as file:
    for obj in tasks:
        file.write(json.dumps(obj) + "\\n")

batch_file = client.files.create(file=open(file_name, "rb"), purpose="batch")
batch_job = client.batches.create(
    input_file_id=batch_file.id,
    endpoint="/v1/chat/completions",
    completion_window="24h",
)

while True:
    batch_job = client.batches.retrieve(batch_job.id)
    if batch_job.status == "completed":
        break
    if batch_job.status in ("failed", "expired", "cancelled"):
        raise SystemExit(f"batch ended {batch_job.status}")
    time.sleep(0.2)

result_file_id = batch_job.output_file_id
result = client.files.content(result_file_id).text

results = []
for line in result.splitlines():
    json_object = json.loads(line.strip())
    results.append(json_object)

for res in sorted(results, key=lambda r: r["custom_id"]):
    task_id = res["custom_id"]
    index = int(task_id.split("-")[-1])
    result = res["response"]["body"]["choices"][0]["message"]["content"]
    print(f"{task_id}: {result}")
"""


def test_tutorial_client_runs_unchanged(emu: RunningEmulator, tmp_path: Path) -> None:
    script = tmp_path / "tutorial.py"
    script.write_text(TUTORIAL_SCRIPT)
    env = {"OPENAI_BASE_URL": emu.base_url, "OPENAI_API_KEY": "sk-tutorial"}

    finished = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.splitlines() == [
        "task-0: positive",
        "task-1: negative",
        "task-2: positive",
        "task-3: negative",
    ]
