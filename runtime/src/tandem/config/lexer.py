"""From config files to positioned lines of tokens: keepalived's preprocessing and tokenizing.

Theory of operation. Files are read whole (size, NUL bytes and UTF-8 checked first) and split into
physical lines at ``\\n`` only (as keepalived's fgets: ``\\r``, ``\\f``, ``\\v``, U+0085 or U+2028 never
start a line, so line numbers are keepalived's). Comments (``!``/``#`` outside ``"`` quotes, ``\\#`` and
``\\!`` for the characters themselves) are cut first, as keepalived's ``decomment``, so ``${_HASH}`` /
``${_BANG}`` can still produce those characters. A line ending in ``\\`` continues only a ``$NAME=``
definition (a comment line ending in ``\\`` continues it too, an empty or comment-only line ends it);
anywhere else the ``\\`` stays part of the line's last word, as in keepalived (a lone ``\\`` line is an
unknown keyword there). Each logical line then goes through ``_process``:

1. ``@id`` / ``@^id`` conditional prefix against the config id;
2. ``$NAME=value`` parameter definition (stored, not emitted);
3. ``~SEQ(...)`` / ``~SEQx(...)`` / ``~LST(...)`` repetition of the rest of the line;
4. ``$NAME`` / ``${NAME}`` substitution; a changed line is processed again from step 1, since a
   value may itself be a conditional, a definition or a multi-line body;
5. tokenizing (quotes, escapes, ``{``/``}`` as tokens) and ``include`` handling.

Every emitted line keeps the file and line where it was written (for substitutions: the use site).
Everything is bounded (bytes, files, emitted lines and words, expansion depth, expanded characters, and
one step budget for the whole load that every physical line, processed line, ~SEQ/~LST row and
directory entry an include's wildcard looks at spends), so hostile input ends quickly with an error
naming the file and line where the budget ran out, and memory stays within a few times the input.
"""

from __future__ import annotations

import contextlib
import fnmatch
import glob
import os
import random
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from tandem.config.findings import Findings
from tandem.config.model import Position

MAX_BYTES = 32 * 1024 * 1024
MAX_FILES = 1000
MAX_INCLUDE_DEPTH = 64  # files open at once (an include chain of 400 files escaped as RecursionError)
MAX_LINES = 1_000_000
MAX_EXPANDED_CHARS = 1 << 20
MAX_EXPANSION_DEPTH = 32
MAX_STEPS = 500_000  # physical lines + processed lines + repetitions, for the whole load
# Words (tokens) of the whole load: what the memory of its lines grows with (~60 bytes a word). Before,
# one 15 MB line of two-letter words (within the step budget) peaked at 450 MB. A line over LONG_LINE
# characters is checked against the bound before it is split.
MAX_WORDS = 2_000_000
LONG_LINE = 4096
MAX_TOTAL_EXPANDED_CHARS = 8 << 20  # characters made by parameter substitution, for the whole load
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1  # keepalived reads ~SEQ numbers with strtol
INCLUDE_KEYWORDS = frozenset({"include", "includer", "includem", "includew", "includeb", "includea"})

_DECOMMENT = re.compile(r'[!#"\\]')
_CONDITIONAL = re.compile(r"@(\^?)([^ \t]*)[ \t]+(.*)", re.S)
_DEFINITION = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)=(.*)", re.S)
_REPEAT = re.compile(r"~(SEQx?|LST)[ \t]*\(([^)]*)\)[ \t]*(.*)", re.S)
_PARAM = re.compile(
    r"\$\{([A-Za-z_][A-Za-z0-9_]*)((?: +[0-9]+){0,2})\}|\$([A-Za-z_][A-Za-z0-9_]*)(?=[ \t,)]|$)"
)
_WORDS = re.compile(r"[^ \t\n\v\f\r{}]+|[{}]")  # keepalived's white space is ASCII only
# keepalived's alloc_strvec. The quoted part is an unrolled loop with possessive repeats: sre keeps no
# backtracking state per character (``(?:[^"\\]|\\.)*`` took ~130 bytes a character: a 12 MB quoted
# word, within the step budget, made the load peak at 1.7 GB).
_TOKEN = re.compile(r'"([^"\\]*+(?:\\.[^"\\]*+)*+)"|([{}])|([^ \t\n\v\f\r{}"]+)|(")')
_QUOTED = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"')
_QUOTED_ESCAPE = re.compile(r'\\([\\"])')
_STRTOL = re.compile(r"[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
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


def tokenize(text: str) -> tuple[str, ...]:
    """Split a preprocessed line into words as keepalived does: ASCII white space separates, ``"..."``
    is one word (without the quotes; a quote also ends the word before it), ``{``/``}`` stand alone.
    A backslash is an ordinary character, except ``\\"`` and ``\\\\`` inside quotes (as keepalived reads
    script command lines)."""
    if '"' not in text:
        return tuple(_WORDS.findall(text))
    tokens = []
    for quoted, brace, word, lone in _TOKEN.findall(text):
        if lone:
            start = text.rfind('"')
            raise _BadLine(f"unterminated quoted string starting {text[start:][:40]!r}")
        if quoted and "\\" in quoted:
            quoted = _QUOTED_ESCAPE.sub(r"\1", quoted)
        tokens.append(brace or word or quoted)
    return tuple(tokens)


def decomment(raw: str) -> tuple[str, bool]:
    """keepalived's ``decomment``: leading blanks, the comment (``!``/``#`` outside ``"`` quotes) and
    trailing blanks go; ``\\#``/``\\!`` outside quotes become ``#``/``!``; a final ``\\`` is kept, right
    after the last word (its blanks removed), also when a comment stood before it. Returns the line
    and whether a ``"`` is left open."""
    line = raw.lstrip(" \t")
    if _DECOMMENT.search(line) is None:
        return line.rstrip(" \t"), False
    quote = False
    comment = None  # where the comment starts
    continued = False
    removed: list[int] = []  # backslashes of \# and \!
    index = 0
    length = len(line)
    while (match := _DECOMMENT.search(line, index)) is not None:
        at = match.start()
        char = line[at]
        if char == '"':
            if comment is None:
                quote = not quote
            index = at + 1
        elif char == "\\":
            if at + 1 == length:
                continued = True
                length = at
                break
            if not quote and line[at + 1] in "#!":
                removed.append(at)
            index = at + 2
        else:
            if not quote and comment is None:
                comment = at
            index = at + 1
    end = min(length, comment if comment is not None else length)
    parts = []
    last = 0
    for at in removed:
        if at >= end:
            break
        parts.append(line[last:at])
        last = at + 1
    parts.append(line[last:end])
    text = "".join(parts)
    text = text.rstrip(" \t")
    return (text + "\\" if continued else text), quote


def _physical_lines(text: str) -> Iterator[str]:
    """Lines split at ``\\n`` only (keepalived reads with fgets), one at a time: a list of them all
    cost ~8 times the file (32 MiB of empty lines: 290 MB) before the step budget ended the read."""
    start, end = 0, len(text)
    while start < end:
        stop = text.find("\n", start)
        if stop < 0:
            stop = end
        yield text[start:stop]
        start = stop + 1


def shown(text: str) -> str:
    """A file name or word as it can be printed: quoted with escapes when not printable."""
    return text if text.isprintable() else repr(text)


class Reader:
    """Reads a config (file or text) into ``lines``, recording problems in ``findings``."""

    def __init__(self, findings: Findings, config_id: str, all_config: bool = False) -> None:
        self.findings = findings
        self.config_id = config_id
        self.all_config = all_config  # an include matching no file is an error (keepalived's -e)
        self.lines: list[Line] = []
        self._params: dict[str, list[str]] = {}
        self._open_files: list[str] = []
        self._dirs: list[str] = []
        self._bytes = 0
        self._files = 0
        self._steps = 0
        self._expanded = 0
        self._words = 0
        self._at = Position("", 1)  # the line being read (where a RecursionError is reported)
        self._continuing: str | None = None  # the multi-line definition being read
        self.aborted = False

    def read_path(self, path: str) -> None:
        self._at = Position(path, 1)
        with contextlib.suppress(_Abort), self._recursion_is_a_finding():
            self._read_file(path, Position(path, 1))

    def read_text(self, text: str, filename: str, directory: str) -> None:
        self._at = Position(filename, 1)
        with contextlib.suppress(_Abort), self._recursion_is_a_finding():
            self._bytes += len(text)
            if self._bytes > MAX_BYTES:
                self._fail(
                    Position(filename, 1), f"config is {len(text)} characters; over {MAX_BYTES >> 20} MiB"
                )
            self._read_lines(text, filename, directory)

    @contextlib.contextmanager
    def _recursion_is_a_finding(self):
        """Includes (MAX_INCLUDE_DEPTH) inside expansions (MAX_EXPANSION_DEPTH) at every level could
        still go deeper than Python's stack: an error at the line last read, not an escape."""
        try:
            yield
        except RecursionError:
            self.findings.error(self._at, "includes and parameter expansions nested too deeply to read")
            self.aborted = True

    def _fail(self, pos: Position, message: str) -> None:
        self.findings.error(pos, message)
        self.aborted = True
        raise _Abort

    def _spend(self, pos: Position, steps: int = 1) -> None:
        self._at = pos
        self._steps += steps
        if self._steps > MAX_STEPS:
            self._fail(
                pos,
                f"reading the config takes more than {MAX_STEPS} steps (lines, expansions and "
                "~SEQ/~LST repetitions); nested or recursive expansion?",
            )

    def _read_file(self, path: str, at: Position) -> None:
        try:
            real = os.path.realpath(path)
        except (OSError, ValueError) as error:  # NUL, lone surrogates, ELOOP...
            self.findings.error(at, f"cannot read {shown(path)}: {_reason(error)}")
            return
        if real in self._open_files:
            chain = " -> ".join(
                shown(name) for name in [*self._open_files[self._open_files.index(real) :], real]
            )
            self.findings.error(at, f"include loop: {chain}")
            return
        if len(self._open_files) >= MAX_INCLUDE_DEPTH:
            self.findings.error(
                at, f"includes nested deeper than {MAX_INCLUDE_DEPTH} files: {shown(path)} not read"
            )
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
                self.findings.error(at, f"cannot read {shown(path)}: {kind}")
                return None
            self._bytes += info.st_size
            if self._bytes > MAX_BYTES:
                self._fail(
                    at,
                    f"{shown(path)} is {info.st_size} bytes; configs over {MAX_BYTES >> 20} MiB are refused",
                )
            with open(path, "rb") as handle:
                data = handle.read(MAX_BYTES + 1)
        except (OSError, ValueError) as error:
            self.findings.error(at, f"cannot read {shown(path)}: {_reason(error)}")
            return None
        self._bytes += max(0, len(data) - info.st_size)  # /proc files say 0 bytes
        if self._bytes > MAX_BYTES:
            self._fail(at, f"{shown(path)}: configs over {MAX_BYTES >> 20} MiB are refused")
        return data

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
        self._continuing = None
        try:
            for number, raw in enumerate(_physical_lines(text), 1):
                pos = Position(filename, number)
                self._spend(pos)
                raw = raw.rstrip("\r")
                if self._continuing is not None:
                    self._continue_definition(raw, pos)
                    continue
                line, open_quote = decomment(raw)
                if open_quote:
                    self.findings.error(pos, f"unterminated quoted string: {line[:60]!r}")
                elif line:
                    self._process(line, pos, 0)
        finally:
            self._continuing = None
            self._dirs.pop()

    def _continue_definition(self, raw: str, pos: Position) -> None:
        """A line after ``$NAME=...\\``: added to NAME; it goes on while lines end in ``\\``."""
        line, open_quote = decomment(raw) if raw else ("", False)
        if open_quote:
            self.findings.error(pos, f"unterminated quoted string: {line[:60]!r}")
        if not line:  # an empty or comment-only line ends the definition (as keepalived)
            self._continuing = None
            return
        value = self._params[self._continuing]
        if line.endswith("\\"):
            line = line[:-1].rstrip(" \t")
        else:
            self._continuing = None
        if line:
            value.append(line)

    def _process(self, text: str, pos: Position, depth: int) -> None:
        self._spend(pos, 1 + len(text) // 32)  # a long line repeated by ~SEQ costs by its length
        if depth > MAX_EXPANSION_DEPTH:
            self.findings.error(
                pos, f"parameter expansion deeper than {MAX_EXPANSION_DEPTH} levels (recursive?)"
            )
            return
        if text[0] == "@":
            conditional = _CONDITIONAL.fullmatch(text)
            if conditional is None:  # nothing after the id
                return
            negate, ident, text = conditional.groups()
            if (ident == self.config_id) == bool(negate) or not text:
                return
        if text[0] == "$":
            definition = _DEFINITION.fullmatch(text)
            if definition:
                value = definition[2].lstrip(" \t")
                if value.endswith("\\"):
                    first = value[:-1].rstrip(" \t")
                    self._params[definition[1]] = [first] if first else []
                    self._continuing = definition[1]
                else:
                    self._params[definition[1]] = [value]
                return
        if text[0] == "~":
            if text.startswith(("~SEQ", "~LST")):
                self._repeat(text, pos, depth)
                return
        elif "$" in text:
            expanded = self._substitute(text, pos)
            if expanded != text:
                for line in expanded.split("\n"):
                    line = line.strip(" \t")
                    if line:
                        self._process(line, pos, depth + 1)
                return
        if len(text) > LONG_LINE:  # an upper bound of its words, before the list of them is made
            bare = _QUOTED.sub('""', text) if '"' in text else text
            if self._words + sum(map(bare.count, ' \t\v\f\r{}"')) > MAX_WORDS:
                self._fail(pos, f"config has more than {MAX_WORDS} words")
        try:
            tokens = tokenize(text)
        except _BadLine as error:
            self.findings.error(pos, str(error))
            return
        if not tokens:
            return
        self._words += len(tokens)
        if self._words > MAX_WORDS:
            self._fail(pos, f"config has more than {MAX_WORDS} words")
        if tokens[0] in INCLUDE_KEYWORDS and len(tokens) >= 2:
            # keepalived takes the rest of the line as the file name (or pattern), blanks included
            self._include(tokens[0], " ".join(tokens[1:]), pos)
            return
        if len(self.lines) >= MAX_LINES:
            self._fail(pos, f"config expands to more than {MAX_LINES} lines")
        self.lines.append(Line(pos, tokens))

    def _substitute(self, text: str, pos: Position) -> str:
        """``$NAME``/``${NAME}`` replaced; as keepalived, nothing after a value starting with ``~``
        (a ``~SEQ`` in a parameter: the rest is substituted at each repetition)."""
        parts = []
        last = 0
        for match in _PARAM.finditer(text):
            value = self._param_value(match)
            parts += (text[last : match.start()], value)
            last = match.end()
            if value is not match[0] and value.lstrip(" \t").startswith("~"):
                break
        parts.append(text[last:])
        expanded = "".join(parts)
        self._expanded += len(expanded)
        if len(expanded) > MAX_EXPANDED_CHARS:
            self._fail(pos, f"parameter expansion makes a line over {MAX_EXPANDED_CHARS} characters")
        if self._expanded > MAX_TOTAL_EXPANDED_CHARS:
            self._fail(pos, f"parameter expansion makes over {MAX_TOTAL_EXPANDED_CHARS >> 20} MiB of text")
        return expanded

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
            bounds = [min(LONG_MAX, _magnitude(n, 10)) for n in (match[2] or "").split()]
            low = bounds[0] if bounds else 0
            high = bounds[1] if len(bounds) > 1 else 32767
            return str(random.randint(min(low, high), max(low, high)))
        return match[0]

    def _repeat(self, text: str, pos: Position, depth: int) -> None:
        repeat = _REPEAT.match(text)
        if repeat is None:
            self.findings.error(pos, f"invalid {text[:4]} specification {shown(text[:60])}")
            return
        kind, spec, rest = repeat.groups()
        if "$" in spec:  # ~SEQ(i, 1, $N): parameters in the numbers are replaced first
            spec = self._substitute(spec, pos)
            if "\n" in spec:
                self.findings.error(pos, f"~{kind}(...): a parameter in it is a multi-line definition")
                return
        try:
            names, rows, count = _sequence(spec, kind == "SEQx") if kind != "LST" else _list(spec)
        except ValueError as error:
            self.findings.error(pos, f"~{kind}({shown(spec[:60])}): {error}")
            return
        if not rest:
            self.findings.warning(pos, f"~{kind}(...) has nothing to repeat after it; ignored")
            return
        if count > MAX_STEPS - self._steps:
            self._fail(pos, f"~{kind}(...) repeats {count} times; over the limit of {MAX_STEPS} steps")
        for row in rows:
            self._spend(pos)
            for name, value in zip(names, row, strict=True):
                self._params[name] = [value]
            self._process(rest, pos, depth + 1)

    def _include(self, keyword: str, name: str, pos: Position) -> None:
        try:
            pattern = os.path.join(self._dirs[-1], name)
            has_wildcard = bool(_GLOB_CHARS.search(name))
            matches = self._glob(pattern, pos) if has_wildcard else [pattern]
        except (OSError, ValueError) as error:
            self.findings.error(pos, f"{keyword} {shown(name)}: {_reason(error)}")
            return
        if not matches:
            report = self.findings.error if self.all_config else self.findings.warning
            report(pos, f"{keyword} {shown(name)}: no file matches")
        for path in matches:
            self._read_file(path, pos)

    def _glob(self, pattern: str, pos: Position) -> list[str]:
        """``glob.glob(pattern)``, sorted, with every directory entry it looks at spending a step: a
        pattern such as ``/*/*/*/*/*/*/*/*`` walked the whole file system (over 10 minutes, without
        end in /proc) before MAX_FILES could stop it."""
        absolute = pattern.startswith("/")
        parts = [part for part in pattern.split("/") if part]
        paths = ["/" if absolute else ""]
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if not glob.has_magic(part):
                paths = [os.path.join(path, part) for path in paths]
                continue
            found = []
            for path in paths:
                try:
                    with os.scandir(path or ".") as entries:
                        for entry in entries:
                            self._spend(pos)
                            if (
                                (part[0] == "." or entry.name[0] != ".")
                                and fnmatch.fnmatchcase(entry.name, part)
                                and (last or _is_dir(entry))
                            ):
                                found.append(os.path.join(path, entry.name))
                except OSError:
                    continue
            paths = found
        return sorted(path for path in paths if os.path.lexists(path))


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _reason(error: Exception) -> str:
    if isinstance(error, OSError):
        return error.strerror or type(error).__name__
    if isinstance(error, UnicodeError):
        return "the name is not valid UTF-8"
    return str(error).split("\n")[0] or type(error).__name__


def _strtol(text: str) -> int:
    """One ~SEQ number as keepalived reads it (strtol base 0: 0x hex, 0 octal; clamped to a long);
    empty is 0."""
    if not text.strip(" \t"):
        return 0
    number = _STRTOL.fullmatch(text.rstrip(" \t"))
    if number is None:
        raise ValueError(f"{shown(text.strip()[:30])} is not an integer")
    sign, digits = number.groups()
    hexadecimal = digits[1:2] in ("x", "X")
    value = _magnitude(
        digits[2:] if hexadecimal else digits, 16 if hexadecimal else 8 if digits[0] == "0" else 10
    )
    return max(LONG_MIN, min(LONG_MAX, -value if sign == "-" else value))


def _magnitude(digits: str, base: int) -> int:
    """Digits as a number, at most 2**64 (beyond any long, which strtol clamps to): thousands of digits
    never reach int() and its 4,300-digit limit (a ValueError escaped from ``${_RANDOM 99...9}``)."""
    digits = digits.lstrip("0") or "0"
    return 1 << 64 if len(digits) > 64 else min(1 << 64, int(digits, base))


def _sequence(spec: str, hexadecimal: bool) -> tuple[list[str], Iterator[tuple[str]], int]:
    """``VAR, [START, [STEP,]] END`` with keepalived's defaults; rows are made lazily."""
    name, comma, rest = spec.partition(",")
    name = name.strip(" \t")
    if not name or not comma or any(c in name for c in " \t"):
        raise ValueError("expected VAR, [START, [STEP,]] END")
    numbers = [_strtol(part) for part in rest.split(",")]
    if len(numbers) > 3:
        raise ValueError("expected VAR, [START, [STEP,]] END")
    if len(numbers) == 1:
        end = numbers[0]
        step, start = (-1 if end < 1 else 1), (-1 if end < 0 else 1)
    elif len(numbers) == 2:
        start, end = numbers
        step = 1 if start <= end else -1
    else:
        start, step, end = numbers
        if step == 0 or (start < end and step < 0) or (start > end and step > 0):
            raise ValueError("STEP must not be 0 and must go from START towards END")
    if hexadecimal and (start < 0 or end < 0):
        raise ValueError("~SEQx is only valid for positive numbers")
    count = (end - start) // step + 1
    form = "{:x}" if hexadecimal else "{}"
    rows = ((form.format(value),) for value in range(start, start + count * step, step))
    return [name], rows, count


def _list(spec: str) -> tuple[list[str], Iterator[tuple[str, ...]], int]:
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
    return names, iter([tuple(row) for row in rows]), len(rows)
