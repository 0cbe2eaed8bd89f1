"""From config files to positioned lines of tokens: keepalived's preprocessing and tokenizing.

Theory of operation. Files are read whole (size, NUL bytes and UTF-8 checked first) and split into
physical lines. Comments (``!``/``#`` outside quotes) are cut first, so ``${_HASH}``/``${_BANG}`` can
still produce those characters. Lines ending in ``\\`` are joined into one multi-line item (used by
multi-line parameter definitions). Each logical line then goes through ``_process``:

1. ``@id`` / ``@^id`` conditional prefix against the config id;
2. ``$NAME=value`` parameter definition (stored, not emitted);
3. ``~SEQ(...)`` / ``~SEQx(...)`` / ``~LST(...)`` repetition of the rest of the line;
4. ``$NAME`` / ``${NAME}`` substitution; a changed line is processed again from step 1, since a
   value may itself be a conditional, a definition or a multi-line body;
5. tokenizing (quotes, escapes, ``{``/``}`` as tokens) and ``include`` handling.

Every emitted line keeps the file and line where it was written (for substitutions: the use site).
Everything is bounded (bytes, files, emitted lines, expansion depth) so hostile input ends quickly.
"""

from __future__ import annotations

import contextlib
import glob
import os
import random
import re
import stat
from dataclasses import dataclass

from tandem.config.findings import Findings
from tandem.config.model import Position

MAX_BYTES = 32 * 1024 * 1024
MAX_FILES = 1000
MAX_LINES = 1_000_000
MAX_EXPANDED_CHARS = 1 << 20
MAX_EXPANSION_DEPTH = 32
INCLUDE_KEYWORDS = frozenset({"include", "includer", "includem", "includew", "includeb", "includea"})

_COMMENT = re.compile(r"[!#]")
_UNTIL_COMMENT = re.compile(r"""(?:[^"'!#]+|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')*""")
_CONDITIONAL = re.compile(r"@(\^?)(\S*)\s*(.*)", re.S)
_DEFINITION = re.compile(r"\$([A-Za-z_]\w*)=(.*)", re.S)
_REPEAT = re.compile(r"~(SEQx?|LST)\(([^)]*)\)\s*(.*)", re.S)
_PARAM = re.compile(r"\$\{([A-Za-z_]\w*)((?:\s+\d+){0,2})\s*\}|\$([A-Za-z_]\w*)(?=\s|$)")
_TOKEN = re.compile(r"""[{}]|(?:[^\s{}"'\\]+|\\.?|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')+|["']""")
_TOKEN_PART = re.compile(r""""((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([^"']+)""", re.S)
_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]+|[0-7]{1,3}|c.|.)", re.S)
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_GLOB_CHARS = re.compile(r"[*?\[]")


@dataclass(frozen=True, slots=True)
class Line:
    """One logical config line after preprocessing: where it was written and its tokens."""

    pos: Position
    tokens: tuple[str, ...]


class _Abort(Exception):
    """A limit was hit; the finding is already recorded, reading stops and ``Reader.aborted`` is set."""


class _BadLine(Exception):
    """A line that cannot be tokenized; reported and skipped."""


def _unescape(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        code = match[1]
        if code[0] == "x" and len(code) > 1:
            return chr(int(code[1:], 16) % 0x110000)
        if code[0] in "01234567":
            return chr(int(code, 8))
        if code[0] == "c" and len(code) == 2:
            return chr(ord(code[1].upper()) ^ 0x40)
        return _SIMPLE_ESCAPES.get(code, code)

    return _ESCAPE.sub(replace, text) if "\\" in text else text


def _unquote(token: str) -> str:
    parts = []
    for match in _TOKEN_PART.finditer(token):
        double, single, plain = match.groups()
        parts.append(plain if plain is not None else _unescape(double if double is not None else single))
    return "".join(parts)


def tokenize(text: str) -> tuple[str, ...]:
    """Split a preprocessed line into tokens; quotes group words, ``{``/``}`` stand alone."""
    if '"' not in text and "'" not in text:
        if "{" in text or "}" in text:
            text = text.replace("{", " { ").replace("}", " } ")
        return tuple(text.split())
    tokens = []
    for match in _TOKEN.finditer(text):
        token = match[0]
        if token in ('"', "'"):
            raise _BadLine(f"unterminated quoted string starting {text[match.start() :][:40]!r}")
        tokens.append(_unquote(token) if ('"' in token or "'" in token) else token)
    return tuple(tokens)


def strip_comment(raw: str) -> str:
    if '"' not in raw and "'" not in raw:
        match = _COMMENT.search(raw)
        return raw[: match.start()] if match else raw
    end = _UNTIL_COMMENT.match(raw).end()
    return raw[:end] if end < len(raw) and raw[end] in "!#" else raw


class Reader:
    """Reads a config (file or text) into ``lines``, recording problems in ``findings``."""

    def __init__(self, findings: Findings, config_id: str) -> None:
        self.findings = findings
        self.config_id = config_id
        self.lines: list[Line] = []
        self._params: dict[str, list[str]] = {}
        self._open_files: list[str] = []
        self._dirs: list[str] = []
        self._bytes = 0
        self._files = 0
        self.aborted = False

    def read_path(self, path: str) -> None:
        with contextlib.suppress(_Abort):
            self._read_file(path, Position(path, 1))

    def read_text(self, text: str, filename: str, directory: str) -> None:
        with contextlib.suppress(_Abort):
            self._bytes += len(text)
            if self._bytes > MAX_BYTES:
                self._fail(
                    Position(filename, 1), f"config is {len(text)} characters; over {MAX_BYTES >> 20} MiB"
                )
            self._read_lines(text, filename, directory)

    def _fail(self, pos: Position, message: str) -> None:
        self.findings.error(pos, message)
        self.aborted = True
        raise _Abort

    def _read_file(self, path: str, at: Position) -> None:
        real = os.path.realpath(path)
        if real in self._open_files:
            chain = " -> ".join([*self._open_files[self._open_files.index(real) :], real])
            self.findings.error(at, f"include loop: {chain}")
            return
        self._files += 1
        if self._files > MAX_FILES:
            self._fail(at, f"more than {MAX_FILES} config files included")
        data = self._read_bytes(path, at)
        if data is None:
            return
        text = self._decode(data, path)
        if text is None:
            return
        self._open_files.append(real)
        try:
            self._read_lines(text, path, os.path.dirname(os.path.abspath(path)))
        finally:
            self._open_files.pop()

    def _read_bytes(self, path: str, at: Position) -> bytes | None:
        try:
            info = os.stat(path)
            if not stat.S_ISREG(info.st_mode):
                kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
                self.findings.error(at, f"cannot read {path}: {kind}")
                return None
            self._bytes += info.st_size
            if self._bytes > MAX_BYTES:
                self._fail(
                    at, f"{path} is {info.st_size} bytes; configs over {MAX_BYTES >> 20} MiB are refused"
                )
            with open(path, "rb") as handle:
                return handle.read(MAX_BYTES + 1)
        except OSError as error:
            self.findings.error(at, f"cannot read {path}: {error.strerror or error}")
            return None

    def _decode(self, data: bytes, path: str) -> str | None:
        nul = data.find(b"\0")
        if nul >= 0:
            line = data.count(b"\n", 0, nul) + 1
            self.findings.error(Position(path, line), "binary data (NUL byte): not a config file")
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as error:
            line = data.count(b"\n", 0, error.start) + 1
            self.findings.error(Position(path, line), f"invalid UTF-8 (byte 0x{data[error.start]:02x})")
            return None

    def _read_lines(self, text: str, filename: str, directory: str) -> None:
        self._dirs.append(directory)
        try:
            physical = text.splitlines()
            count = len(physical)
            index = 0
            while index < count:
                pos = Position(filename, index + 1)
                line = strip_comment(physical[index]).strip()
                index += 1
                if not line:
                    continue
                if not line.endswith("\\"):
                    self._process(line, pos, 0)
                    continue
                segments = [line[:-1].strip()]
                while line.endswith("\\") and index < count:
                    line = strip_comment(physical[index]).strip()
                    index += 1
                    if line:
                        segments.append(line[:-1].strip() if line.endswith("\\") else line)
                self._process_multiline([s for s in segments if s], pos)
        finally:
            self._dirs.pop()

    def _process_multiline(self, segments: list[str], pos: Position) -> None:
        definition = _DEFINITION.fullmatch(segments[0]) if segments else None
        if definition:
            first = definition[2].strip()
            self._params[definition[1]] = ([first] if first else []) + segments[1:]
        elif segments:
            self._process(" ".join(segments), pos, 0)

    def _process(self, text: str, pos: Position, depth: int) -> None:
        if depth > MAX_EXPANSION_DEPTH:
            self.findings.error(
                pos, f"parameter expansion deeper than {MAX_EXPANSION_DEPTH} levels (recursive?)"
            )
            return
        if text[0] == "@":
            negate, ident, text = _CONDITIONAL.fullmatch(text).groups()
            if (ident == self.config_id) == bool(negate) or not text:
                return
        if text[0] == "$":
            definition = _DEFINITION.fullmatch(text)
            if definition:
                self._params[definition[1]] = [definition[2].strip()]
                return
        if text[0] == "~" and _REPEAT.match(text):
            self._repeat(text, pos, depth)
            return
        if "$" in text:
            expanded = _PARAM.sub(self._param_value, text)
            if len(expanded) > MAX_EXPANDED_CHARS:
                self._fail(pos, f"parameter expansion makes a line over {MAX_EXPANDED_CHARS} characters")
            if expanded != text:
                for line in expanded.split("\n"):
                    if line.strip():
                        self._process(line.strip(), pos, depth + 1)
                return
        try:
            tokens = tokenize(text)
        except _BadLine as error:
            self.findings.error(pos, str(error))
            return
        if tokens[0] in INCLUDE_KEYWORDS:
            self._include(tokens, pos)
            return
        if len(self.lines) >= MAX_LINES:
            self._fail(pos, f"config expands to more than {MAX_LINES} lines")
        self.lines.append(Line(pos, tokens))

    def _param_value(self, match: re.Match[str]) -> str:
        name = match[1] or match[3]
        if name in self._params:
            return "\n".join(self._params[name])
        if name == "_PWD":
            return self._dirs[-1]
        if name == "_INSTANCE":
            return self.config_id
        if name == "_HASH":
            return "#"
        if name == "_BANG":
            return "!"
        if name == "_RANDOM":
            bounds = [int(n) for n in (match[2] or "").split()]
            low = bounds[0] if bounds else 0
            high = bounds[1] if len(bounds) > 1 else 32767
            return str(random.randint(min(low, high), max(low, high)))
        return match[0]

    def _repeat(self, text: str, pos: Position, depth: int) -> None:
        kind, spec, rest = _REPEAT.match(text).groups()
        try:
            names, rows = _sequence(spec) if kind != "LST" else _list(spec)
        except ValueError as error:
            self.findings.error(pos, f"~{kind}({spec}): {error}")
            return
        if not rest:
            self.findings.error(pos, f"~{kind}(...) has nothing to repeat after it")
            return
        for row in rows:
            for name, value in zip(names, row, strict=True):
                self._params[name] = [f"{value:x}" if kind == "SEQx" else str(value)]
            self._process(rest, pos, depth + 1)

    def _include(self, tokens: tuple[str, ...], pos: Position) -> None:
        if len(tokens) != 2:
            self.findings.error(pos, f"{tokens[0]}: expected one file name or pattern")
            return
        pattern = os.path.join(self._dirs[-1], tokens[1])
        has_wildcard = bool(_GLOB_CHARS.search(tokens[1]))
        matches = sorted(glob.glob(pattern)) if has_wildcard else [pattern]
        if not matches:
            self.findings.warning(pos, f"{tokens[0]} {tokens[1]}: no file matches")
        for path in matches:
            self._read_file(path, pos)


def _sequence(spec: str) -> tuple[list[str], list[tuple[int]]]:
    name, *numbers = (part.strip() for part in spec.split(","))
    if not name.isidentifier() or not 1 <= len(numbers) <= 3:
        raise ValueError("expected VAR, [START, [STEP,]] END")
    try:
        values = [int(n, 0) for n in numbers]
    except ValueError:
        raise ValueError("START, STEP and END must be integers") from None
    end = values[-1]
    start = values[0] if len(values) > 1 else (1 if end > 0 else -1)
    step = values[1] if len(values) == 3 else (1 if end >= start else -1)
    if step == 0:
        raise ValueError("STEP must not be 0")
    stop = end + (1 if step > 0 else -1)
    if len(range(start, stop, step)) > MAX_LINES:
        raise ValueError(f"more than {MAX_LINES} repetitions")
    return [name], [(value,) for value in range(start, stop, step)]


def _list(spec: str) -> tuple[list[str], list[tuple[str, ...]]]:
    spec = spec.strip()
    if spec.startswith("{"):
        groups = re.findall(r"\{([^}]*)\}", spec)
        names, *rows = ([part.strip() for part in group.split(",")] for group in groups)
    else:
        names, *rows = ([part.strip()] for part in spec.split(","))
    if not rows or not all(name.isidentifier() for name in names):
        raise ValueError("expected VAR, VALUE, ... or {VAR, ...}, {VALUE, ...}, ...")
    if any(len(row) != len(names) for row in rows):
        raise ValueError(f"every value group needs {len(names)} values")
    return names, [tuple(row) for row in rows]
