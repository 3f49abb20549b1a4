"""Values hidden by an encoding or an obfuscation are found and redacted: in the normalized view
(escapes, URL encoding, HTML references, invisible characters, look-alikes) and in decoded
segments (base64, hex, characters interleaved with a separator), in blocks and in streams cut at
every point."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ext_proc.scanning import StreamRedactor, redact_text, views

VALUES = {
    "EMAIL": "john.doe@example.com",
    "PHONE": "(415) 555-0100",
    "CREDIT_CARD": "4111 1111 1111 1111",
    "US_SSN": "536-22-1234",
    "AWS_ACCESS_KEY": "AKIAIOSFODNN7EXAMPLE",
    "GITHUB_TOKEN": "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",
    "IP_ADDRESS": "192.168.10.24",
}


def every_char(template: str) -> Callable[[str], str]:
    return lambda value: "".join(template.format(ord(c)) for c in value)


def url_encoded(value: str) -> str:
    return "".join(f"%{ord(c):02X}" if not c.isalnum() else c for c in value)


def zero_width(value: str) -> str:
    return "\u200b".join(value)


def fullwidth(value: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in value)


def cyrillic(value: str) -> str:
    return value.replace("a", "\u0430").replace("e", "\u0435").replace("o", "\u043e").replace("A", "\u0410")


def mime(value: str) -> str:
    """A value inside a longer text, base64-encoded in lines as a mail body is (RFC 2045)."""
    body = f"Customer record, please keep it private: {value}. Last updated in the spring."
    return base64.encodebytes(body.encode()).decode().replace("\n", "\r\n").strip()


ENCODINGS: dict[str, Callable[[str], str]] = {
    "url_every_char": every_char("%{:02X}"),
    "url_specials": url_encoded,
    "base64": lambda v: base64.b64encode(v.encode()).decode(),
    "base64url_unpadded": lambda v: base64.urlsafe_b64encode(v.encode()).decode().rstrip("="),
    "hex": lambda v: v.encode().hex(),
    "zero_width_between_every_char": zero_width,
    "soft_hyphens": "\u00ad".join,
    "word_joiners": "\u2060".join,
    "literal_u_escapes": every_char("\\u{:04x}"),
    "literal_x_escapes": every_char("\\x{:02x}"),
    "html_decimal": every_char("&#{};"),
    "html_hex": every_char("&#x{:x};"),
    "fullwidth": fullwidth,
    "cyrillic_lookalikes": cyrillic,
    "interleaved_spaces": " ".join,
    "interleaved_dots": ".".join,
    # Encoded twice, and the wrappings that dumps and mail use.
    "url_twice": every_char("%25{:02X}"),
    "u_escapes_escaped_again": every_char("\\\\u{:04x}"),
    "html_escaped_again": every_char("&amp;#{};"),
    "base64_of_url_encoded": lambda v: base64.b64encode(every_char("%{:02X}")(v).encode()).decode(),
    "base64_mime_lines": mime,
    "hex_spaced": lambda v: " ".join(f"{b:02x}" for b in v.encode()),
    "hex_byte_array": lambda v: ", ".join(f"0x{b:02X}" for b in v.encode()),
}


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("finding_type", VALUES)
def test_an_encoded_value_is_found_and_its_original_span_redacted(encoding: str, finding_type: str) -> None:
    encoded = ENCODINGS[encoding](VALUES[finding_type])
    text = f"Here it is: {encoded}\nThanks."
    redaction = redact_text(text)
    assert [f.type for f in redaction.findings] == [finding_type]
    assert redaction.text == f"Here it is: [REDACTED:{finding_type}]\nThanks."


def test_a_partly_escaped_value_redacts_the_original_span_only() -> None:
    text = "mail john\\u002edoe\\u0040example.com or call"
    redaction = redact_text(text)
    assert redaction.text == "mail [REDACTED:EMAIL] or call"
    finding = redaction.findings[0]
    assert text[finding.start : finding.end] == "john\\u002edoe\\u0040example.com"


def test_a_url_encoded_query_string_redacts_each_value() -> None:
    text = "GET /signup?email=jane%40example.org&phone=%28415%29%20555-0100&plan=pro"
    assert redact_text(text).text == ("GET /signup?email=[REDACTED:EMAIL]&phone=[REDACTED:PHONE]&plan=pro")


@pytest.mark.parametrize(
    "text",
    [
        "Use 100% of the budget & more; see &amp; and \\n in C strings.",
        "The hash is e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.",
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
        "id 3f1c2a9e-8b7d-4e6f-a1b2-c3d4e5f60718 at 2024-05-17T10:23:45Z",
        "a b c d e f g h i j k",
        "\u041f\u0440\u0438\u0432\u0435\u0442, \u03b5\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac.",
        "caf\u00e9 na\u00efve \u2014 \u201cquotes\u201d \u2018single\u2019 \u2026 end",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9 is a JWT header",
    ],
)
def test_ordinary_text_with_encodings_has_no_finding(text: str) -> None:
    assert redact_text(text).findings == ()


def stream_text(pieces: list[str]) -> str:
    redactor = StreamRedactor()
    out = [redactor.feed(piece).emit for piece in pieces]
    out.append(redactor.finish().emit)
    return "".join(out)


@pytest.mark.parametrize(
    "encoding",
    ["url_every_char", "base64", "hex", "zero_width_between_every_char", "literal_u_escapes", "html_decimal",
     "interleaved_spaces", "fullwidth", "url_twice", "base64_mime_lines", "hex_byte_array"],
)  # fmt: skip
def test_a_stream_cut_at_every_point_emits_the_block_redaction(encoding: str) -> None:
    text = f"ok {ENCODINGS[encoding](VALUES['EMAIL'])}\nand {ENCODINGS[encoding](VALUES['PHONE'])}\n."
    expected = redact_text(text).text
    assert "[REDACTED:EMAIL]" in expected
    for cut in range(len(text) + 1):
        assert stream_text([text[:cut], text[cut:]]) == expected, cut
    assert stream_text(list(text)) == expected


def test_nothing_of_an_encoded_value_is_emitted_before_it_is_judged() -> None:
    encoded = ENCODINGS["url_every_char"](VALUES["EMAIL"])
    redactor = StreamRedactor()
    emitted = "".join(redactor.feed(char).emit for char in "to " + encoded + " ok")
    assert "%" not in emitted


def test_a_long_base64_run_is_held_back_at_most_its_bound() -> None:
    redactor = StreamRedactor()
    blob = base64.b64encode(bytes(range(256)) * 40).decode()  # 13,656 characters, binary
    held = []
    for index in range(0, len(blob), 50):
        redactor.feed(blob[index : index + 50])
        held.append(redactor.held)
    assert max(held) <= 4_200


def test_a_long_run_of_base64_lines_is_held_back_at_most_its_bound() -> None:
    redactor = StreamRedactor()
    blob = base64.encodebytes(bytes(range(256)) * 40).decode()  # 18,000 characters in 76-char lines
    held = []
    for index in range(0, len(blob), 50):
        redactor.feed(blob[index : index + 50])
        held.append(redactor.held)
    assert max(held) <= 6_200


def test_a_line_of_text_after_base64_lines_is_not_part_of_the_segment() -> None:
    encoded = mime(VALUES["EMAIL"])
    redaction = redact_text(f"{encoded}\nThanks\nBob")
    assert redaction.text == "[REDACTED:EMAIL]\nThanks\nBob"


@pytest.mark.parametrize(
    "text",
    [
        "Run 12 34 56 78 90 12 34 56 and 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07 are bytes.",
        "MAC 00:1a:2b:3c:4d:5e at 10:23:45, ORDER NUMBER ORD2024000123456, SKU AB12-CD34-EF56-7890.",
        "HEADLINE: INTERNATIONALIZATION AND LOCALIZATION 2024",
        "100%25 of %2525 is fine, &amp;amp; too",
    ],
)
def test_ordinary_text_like_an_encoding_has_no_finding(text: str) -> None:
    assert redact_text(text).findings == ()


segments = st.sampled_from(
    [
        "john.doe@example.com", "\\u0040", "\\u00", "%40", "%4", "&#64;", "&#", "\u200b", "\uff20",
        "am9obi5kb2VAZXhhbXBsZS5jb20=", "6a6f686e40657861", "j o h n @ e x a m p l e . c o m", " ",
        "x", "4-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1", "(415) 555-0100", "\u0430", "é", ".", "@", "\n",
        "%25", "%2540", "%25C3%25A9", "%2", "&amp;", "&amp;#64;", "\\\\u0040", "0x6a, 0x6f, ", "6a 6f 68 6e ",
        "\r\n", "NTM5LTY3LTU0NTI=", "Q3VzdG9tZXIgcmVjb3JkOiBqb2huLmRvZUBl\r\n", "eGFtcGxlLmNvbQ==",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(segments, max_size=16).map("".join), st.lists(st.integers(1, 12), max_size=30))
def test_random_texts_stream_as_they_redact(text: str, sizes: list[int]) -> None:
    pieces = []
    index = 0
    for size in sizes:
        pieces.append(text[index : index + size])
        index += size
    pieces.append(text[index:])
    assert stream_text(pieces) == redact_text(text).text


def test_a_view_maps_each_character_back_to_what_it_was_read_from() -> None:
    text = "a\\u0040b%40c\u200bd&#64;e"
    view = views.build(text)
    assert view.text == "a@b@cd@e"
    assert view.span(1, 2) == (1, 7)  # the whole escape
    assert view.span(5, 6) == (13, 14)  # d, after the removed zero-width space
    assert view.span(0, len(view.text)) == (0, len(text))


def test_a_streams_view_stops_before_an_escape_still_being_written() -> None:
    assert views.build("mail a\\u00", final=False).consumed == len("mail a")
    assert views.build("mail a%25", final=False).consumed == len("mail a")
    assert views.build("mail a%25C3%25A", final=False).consumed == len("mail a")
    assert views.build("mail a&amp;", final=False).consumed == len("mail a")
    assert views.build("50%", final=False).consumed == 2
    assert views.build("50% off", final=False).consumed == len("50% off")
