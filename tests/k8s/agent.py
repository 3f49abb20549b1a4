"""The agent container, for the pod test: the real OpenAI SDK, configured only by its environment.

It runs inside the pod's network namespace with the agent container's environment from the
manifests (OPENAI_BASE_URL, and OPENAI_API_KEY: its own key from a Secret), makes its calls and
prints what came back as JSON; one more call presents a key nobody issued.
"""

from __future__ import annotations

import sys
from typing import Any

import openai
import orjson

MESSAGE = "please write to bob@example.com today"
KEY_NOT_ISSUED = "chp_0123456789abcdefghijklmnopqrstuvwxyzABCDE"


def chat(client: openai.OpenAI, model: str) -> dict[str, Any]:
    try:
        completion = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": MESSAGE}], max_tokens=100
        )
    except openai.APIStatusError as exc:
        return {"status": exc.status_code, "error": exc.body}
    return {"status": 200, "content": completion.choices[0].message.content}


def stream(client: openai.OpenAI, model: str) -> dict[str, Any]:
    try:
        chunks = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": MESSAGE}], stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    except openai.APIStatusError as exc:
        return {"status": exc.status_code, "error": exc.body}
    return {"status": 200, "content": text}


def files(client: openai.OpenAI) -> dict[str, Any]:
    try:
        client.files.list()
    except openai.APIStatusError as exc:
        return {"status": exc.status_code, "error": exc.body}
    return {"status": 200}


def main() -> None:
    client = openai.OpenAI(max_retries=0, timeout=20)  # base URL and key from the environment
    results = {
        "base_url": str(client.base_url),
        "chat": chat(client, "gpt-4o-mini"),
        "stream": stream(client, "gpt-4o-mini"),
        "other_model": chat(client, "gpt-5-ultra"),
        "other_call": files(client),
        "unknown_key": chat(openai.OpenAI(api_key=KEY_NOT_ISSUED, max_retries=0, timeout=20), "gpt-4o-mini"),
    }
    sys.stdout.write(orjson.dumps(results).decode() + "\n")


if __name__ == "__main__":
    main()
