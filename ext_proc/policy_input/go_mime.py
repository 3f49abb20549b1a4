"""Go's mime.ParseMediaType and mime/multipart reader, for opa-envoy-plugin's multipart ``parsed_body``.

The plugin reads a ``multipart/form-data`` check body with ``multipart.NewReader`` part by part:
a part whose Content-Disposition is ``form-data`` with a ``name`` adds its body (parsed as JSON
when its Content-Type contains ``application/json``) to ``parsed_body[name]``; other parts are
skipped; any reader error fails the whole request (400 ``request_parse_error``). This module
follows the Go reader's rules on the whole body at once: the line-oriented search for boundary
lines (CRLF, or LF when the first boundary line ends so), preamble lines skipped, the 4,096-byte
line buffer, part bodies ending at "\\r\\n--boundary" followed by "--" or a line end, empty parts
without a leading CRLF, and transparent quoted-printable decoding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ext_proc.policy_input.go_url import go_quote, go_string

# bufio.Reader's default size in multipart.NewReader: a line without '\n' within it is an error.
_PEEK = 4096
_TSPECIALS = frozenset('()<>@,;:\\"/[]?=')
# unicode.IsSpace over the characters a header can hold.
_GO_SPACE = frozenset("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    chr(c) for c in range(0x2000, 0x200B)
)


class GoMimeError(ValueError):
    """A parse failure, with Go's error text."""


def _is_token_char(ch: str) -> bool:
    return 0x20 < ord(ch) < 0x7F and ch not in _TSPECIALS


def _consume_token(text: str) -> tuple[str, str]:
    for index, ch in enumerate(text):
        if not _is_token_char(ch):
            return text[:index], text[index:]
    return text, ""


def _lstrip_space(text: str) -> str:
    index = 0
    while index < len(text) and text[index] in _GO_SPACE:
        index += 1
    return text[index:]


def _consume_value(text: str) -> tuple[str, str]:
    if not text:
        return "", text
    if text[0] != '"':
        return _consume_token(text)
    out: list[str] = []
    literal = False
    for index, ch in enumerate(text[1:], start=1):
        if literal:
            out.append(ch)
            literal = False
        elif ch == '"':
            return "".join(out), text[index + 1 :]
        elif ch == "\\":
            literal = True
        elif ch not in "\r\n":
            out.append(ch)
        else:
            return "", text
    return "", text


def _consume_param(text: str) -> tuple[str, str, str]:
    rest = _lstrip_space(text)
    if not rest.startswith(";"):
        return "", "", text
    rest = _lstrip_space(rest[1:])
    key, rest = _consume_token(rest)
    key = key.lower()
    if not key:
        return "", "", text
    rest = _lstrip_space(rest)
    if not rest.startswith("="):
        return "", "", text
    value, rest = _consume_value(_lstrip_space(rest[1:]))
    if not value:
        return "", "", text
    return key, value, rest


def _check_media_type(media: str) -> None:
    kind, rest = _consume_token(media)
    if not kind:
        raise GoMimeError("mime: no media type")
    if not rest:
        return
    if not rest.startswith("/"):
        raise GoMimeError("mime: expected slash after first token")
    subtype, rest = _consume_token(rest[1:])
    if not subtype:
        raise GoMimeError("mime: expected token after slash")
    if rest:
        raise GoMimeError("mime: unexpected content after media subtype")


def parse_media_type(value: str) -> tuple[str, dict[str, str]]:
    """mime.ParseMediaType: (lower-cased type, parameters), RFC 2231 continuations stitched."""
    base = value.split(";", 1)[0]
    media = base.lower().strip(" \t\n\v\f\r")
    _check_media_type(media)
    params: dict[str, str] = {}
    continued: dict[str, dict[str, str]] = {}
    rest = value[len(base) :]
    while rest:
        rest = _lstrip_space(rest)
        if not rest:
            break
        key, param, after = _consume_param(rest)
        if not key:
            if after.strip(" \t\n\v\f\r") == ";":
                break  # a trailing semicolon is not an error
            raise GoMimeError("mime: invalid media parameter")
        table = params
        if "*" in key:
            table = continued.setdefault(key.split("*", 1)[0], {})
        if key in table and table[key] != param:
            raise GoMimeError("mime: duplicate parameter name")
        table[key] = param
        rest = after
    for name, pieces in continued.items():
        if name + "*" in pieces:
            params[name] = _decode_2231(pieces[name + "*"])
            continue
        joined: list[str] = []
        for n in range(len(pieces) + 1):
            if f"{name}*{n}" in pieces:
                joined.append(pieces[f"{name}*{n}"])
            elif f"{name}*{n}*" in pieces:
                encoded = pieces[f"{name}*{n}*"]
                joined.append(_decode_2231(encoded) if n == 0 else _percent_unescape(encoded))
            else:
                break
        if joined:
            params[name] = "".join(joined)
    return media, params


def _decode_2231(value: str) -> str:
    parts = value.split("'", 2)
    if len(parts) != 3 or parts[0].lower() not in ("us-ascii", "utf-8"):
        return ""
    return _percent_unescape(parts[2])


def _percent_unescape(value: str) -> str:
    raw = value.encode("utf-8")
    out = bytearray()
    i = 0
    while i < len(raw):
        if raw[i] == 0x25:
            try:
                out.append(int(raw[i + 1 : i + 3], 16))
            except ValueError:
                return ""  # Go returns the error, which the caller ignores: an empty value
            if len(raw[i + 1 : i + 3]) != 2:
                return ""
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return go_string(bytes(out))


# -- the multipart reader -----------------------------------------------------------------------


@dataclass
class Part:
    headers: dict[str, list[str]] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str:
        values = self.headers.get(name.lower())
        return values[0] if values else ""

    def form_name(self) -> str:
        """Part.FormName: the ``name`` of a ``form-data`` Content-Disposition, else ""."""
        try:
            disposition, params = parse_media_type(self.header("content-disposition"))
        except GoMimeError:
            return ""
        return params.get("name", "") if disposition == "form-data" else ""


class _Reader:
    def __init__(self, data: bytes, boundary: str) -> None:
        self.data = data
        self.pos = 0
        self.parts_read = 0
        self.nl = b"\r\n"
        self.dash_boundary = b"--" + boundary.encode("utf-8")
        self.dash_boundary_dash = self.dash_boundary + b"--"

    @property
    def nl_dash_boundary(self) -> bytes:
        return self.nl + self.dash_boundary

    def read_line(self) -> tuple[bytes, bool]:
        """bufio.ReadSlice('\\n'): (line, at_eof); raises for a line longer than the buffer."""
        end = self.data.find(b"\n", self.pos)
        if end == -1:
            line = self.data[self.pos :]
            if len(line) >= _PEEK:
                raise GoMimeError("multipart: NextPart: bufio: buffer full")
            self.pos = len(self.data)
            return line, True
        if end + 1 - self.pos > _PEEK:
            raise GoMimeError("multipart: NextPart: bufio: buffer full")
        line = self.data[self.pos : end + 1]
        self.pos = end + 1
        return line, False

    def is_final_boundary(self, line: bytes) -> bool:
        if not line.startswith(self.dash_boundary_dash):
            return False
        rest = line[len(self.dash_boundary_dash) :].lstrip(b" \t")
        return not rest or rest == self.nl

    def is_boundary_line(self, line: bytes) -> bool:
        if not line.startswith(self.dash_boundary):
            return False
        rest = line[len(self.dash_boundary) :].lstrip(b" \t")
        if self.parts_read == 0 and rest == b"\n":
            self.nl = b"\n"  # the first boundary line ends in LF alone: the whole body does
        return rest == self.nl

    def next_part(self) -> Part | None:
        expect_new_part = False
        while True:
            line, eof = self.read_line()
            if eof and self.is_final_boundary(line):
                return None
            if eof:
                raise GoMimeError("multipart: NextPart: EOF")
            if self.is_boundary_line(line):
                self.parts_read += 1
                part = Part(headers=self.read_headers())
                part.body = self.read_body()
                if part.header("content-transfer-encoding").lower() == "quoted-printable":
                    del part.headers["content-transfer-encoding"]
                    part.body = _quoted_printable(part.body)
                return part
            if self.is_final_boundary(line):
                return None
            if expect_new_part:
                raise GoMimeError(f"multipart: expecting a new Part; got line {go_quote(line)}")
            if self.parts_read == 0:
                continue  # preamble
            if line == self.nl:
                expect_new_part = True
                continue
            raise GoMimeError(f"multipart: unexpected line in Next(): {go_quote(line)}")

    def read_headers(self) -> dict[str, list[str]]:
        """textproto.Reader.ReadMIMEHeader: lines up to a blank one, continuations joined."""
        headers: dict[str, list[str]] = {}
        first = True
        while True:
            end = self.data.find(b"\n", self.pos)
            if end == -1:
                raise GoMimeError("unexpected EOF" if self.pos < len(self.data) else "EOF")
            raw = self.data[self.pos : end].removesuffix(b"\r")
            self.pos = end + 1
            if first and raw[:1] in (b" ", b"\t"):
                raise GoMimeError(f"malformed MIME header initial line: {go_string(raw)}")
            first = False
            if not raw:
                return headers
            while self.data[self.pos : self.pos + 1] in (b" ", b"\t"):  # continuation lines
                end = self.data.find(b"\n", self.pos)
                if end == -1:
                    break
                raw = raw.rstrip(b" \t") + b" " + self.data[self.pos : end].removesuffix(b"\r").strip(b" \t")
                self.pos = end + 1
            key, colon, value = raw.partition(b":")
            if not colon or not key or any(not _is_token_char(chr(c)) for c in key):
                raise GoMimeError(f"malformed MIME header line: {go_string(raw)}")
            text = go_string(value.strip(b" \t"))
            headers.setdefault(key.decode("ascii").lower(), []).append(text)

    def read_body(self) -> bytes:
        """A part's bytes, up to the next real boundary (Part.Read's peek-window search)."""
        rest = self.data[self.pos : self.pos + _PEEK]
        if self._empty_part(rest):
            return b""
        start = search = self.pos
        marker = self.nl_dash_boundary
        while True:
            index = self.data.find(marker, search)
            if index == -1:
                raise GoMimeError("unexpected EOF")
            if self._ends_part(self.data[index + len(marker) : index + _PEEK]):
                self.pos = index
                return self.data[start:index]
            search = index + 1

    def _empty_part(self, peek: bytes) -> bool:
        if peek.startswith(self.dash_boundary_dash):
            rest = peek[len(self.dash_boundary_dash) :].lstrip(b" \t")
            return rest.startswith(self.nl) or not rest
        if not peek.startswith(self.dash_boundary):
            return False
        return peek[len(self.dash_boundary) :].lstrip(b" \t").startswith(self.nl)

    @staticmethod
    def _ends_part(after: bytes) -> bool:
        if after.startswith(b"--"):
            return True
        after = after.lstrip(b" \t")
        if b"\n" not in after:
            return False
        return after.startswith((b"\n", b"\r\n"))


def read_parts(body: bytes, boundary: str) -> list[Part]:
    """Every part of a multipart body, or GoMimeError as multipart.Reader.NextPart would fail."""
    reader = _Reader(body, boundary)
    parts = []
    while (part := reader.next_part()) is not None:
        parts.append(part)
    return parts


def _quoted_printable(body: bytes) -> bytes:
    """mime/quotedprintable.Reader: =XX in either case (a '=' before anything else is kept),
    soft line breaks, trailing blanks dropped, each line's own CRLF or LF kept."""
    out = bytearray()
    lines = body.split(b"\n")
    for number, raw in enumerate(lines):
        ending = b""
        line = raw
        if number < len(lines) - 1:
            ending = b"\r\n" if raw.endswith(b"\r") else b"\n"
            line = raw.removesuffix(b"\r")
        line = line.rstrip(b" \t")
        if line.endswith(b"="):
            line, ending = line[:-1], b""
        i = 0
        while i < len(line):
            byte = line[i]
            if byte == 0x3D and len(line) >= i + 3 and _is_hex(line[i + 1 : i + 3]):
                out.append(int(line[i + 1 : i + 3], 16))
                i += 3
                continue
            if (byte < 0x20 or byte > 0x7E) and byte != 0x09:
                raise GoMimeError(f"quotedprintable: invalid unescaped byte 0x{byte:02x} in body")
            out.append(byte)
            i += 1
        out.extend(ending)
    return bytes(out)


def _is_hex(pair: bytes) -> bool:
    return all(c in b"0123456789abcdefABCDEF" for c in pair)
