"""Channel keys: one key per text stream of a response.

A response carries several texts that grow independently (each choice's content, each tool
call's arguments, each content block); redaction state is kept per channel. The same key names a
text in a complete response (``TextField.channel``) and in streamed events, so both paths can
share the scanners' state. The keys are plain strings, stable across versions:

- OpenAI Chat Completions: ``choice {i} content``, ``choice {i} refusal``,
  ``choice {i} audio transcript``,
  ``choice {i} tool_call {k} arguments`` (``i`` the choice's ``index``, ``k`` the tool call's
  ``index``), ``choice {i} function_call arguments`` (the legacy function call), and
  ``choice {i} reasoning_content`` / ``choice {i} reasoning`` (the reasoning text that compatible
  servers such as DeepSeek, vLLM or OpenRouter add beside ``content``);
- OpenAI Responses: ``output {x} content {y} text``, ``output {x} content {y} refusal``,
  ``output {x} arguments`` (function call), ``output {x} input`` (custom tool call),
  ``output {x} output`` (an MCP call's output), ``output {x} summary {y} text`` and
  ``output {x} reasoning {y} text`` (``x`` the ``output_index``, ``y`` the content, summary or
  reasoning part index);
- Anthropic Messages: ``block {i}`` (``i`` the content block index; the text's kind says whether
  it is text, tool input JSON or thinking).
"""

from __future__ import annotations


def chat_choice_prefix(choice: int) -> str:
    """What every channel of a choice starts with."""
    return f"choice {choice} "


def chat_tool_call_prefix(choice: int) -> str:
    """What every tool call channel of a choice starts with."""
    return f"choice {choice} tool_call "


def chat_content(choice: int) -> str:
    return f"choice {choice} content"


def chat_refusal(choice: int) -> str:
    return f"choice {choice} refusal"


def chat_reasoning(choice: int, field: str) -> str:
    """``field`` is the message or delta key: ``reasoning_content`` or ``reasoning``."""
    return f"choice {choice} {field}"


def chat_audio_transcript(choice: int) -> str:
    return f"choice {choice} audio transcript"


def chat_tool_arguments(choice: int, call: int) -> str:
    return f"choice {choice} tool_call {call} arguments"


def chat_function_arguments(choice: int) -> str:
    return f"choice {choice} function_call arguments"


def responses_output_prefix(output: int) -> str:
    """What every channel of an output item starts with."""
    return f"output {output} "


def responses_text(output: int, content: int) -> str:
    return f"output {output} content {content} text"


def responses_refusal(output: int, content: int) -> str:
    return f"output {output} content {content} refusal"


def responses_arguments(output: int) -> str:
    return f"output {output} arguments"


def responses_input(output: int) -> str:
    return f"output {output} input"


def responses_output(output: int) -> str:
    return f"output {output} output"


def responses_summary(output: int, summary: int) -> str:
    return f"output {output} summary {summary} text"


def responses_reasoning(output: int, content: int) -> str:
    return f"output {output} reasoning {content} text"


def anthropic_block(index: int) -> str:
    return f"block {index}"
