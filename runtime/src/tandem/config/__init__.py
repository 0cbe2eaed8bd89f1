"""The keepalived.conf language: lexer, parser, schema, typed model (``model``), checks, ``tandemd -t``.

load_config(path) -> LoadResult(config, findings)       # config is None if any finding is an error
load_config_text(text, filename="<string>") -> LoadResult
ConfigSource(path, config_id, all_config).load()        # the file as tandemd's options (-f, -i, -e) say
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING, NamedTuple

# the findings (and with them the model), lexer, parser, schema and blocks are imported by the loading
# functions, not here: a process that only uses the model (tandemd's children get their config from the
# supervisor, already loaded) does not carry the rest (about 3 MB and 30 ms), and tandemd's supervisor
# names its ConfigSource and starts its first child before importing any of it
if TYPE_CHECKING:
    from tandem.config.findings import Finding, Findings
    from tandem.config.lexer import Reader
    from tandem.config.model import Config

__all__ = ["ConfigSource", "LoadResult", "default_config_id", "load_config", "load_config_text"]


class LoadResult(NamedTuple):  # not a dataclass: tandem.config imports no dataclasses (see above)
    """A config (None when any finding is an error) and every finding, in file order per phase."""

    config: Config | None
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")


def default_config_id() -> str:
    """keepalived's default config id (for ``@id`` lines): the host name up to the first dot."""
    return socket.gethostname().split(".")[0]


def load_config(
    path: str | os.PathLike[str], config_id: str | None = None, all_config: bool = False
) -> LoadResult:
    """``all_config`` (keepalived's ``-e``): an include that matches no file is an error, not a warning."""
    from tandem.config.findings import Findings
    from tandem.config.lexer import Reader

    findings = Findings()
    reader = Reader(findings, config_id or default_config_id(), all_config)
    reader.read_path(os.fspath(path))
    return _finish(reader, findings)


def load_config_text(text: str, filename: str = "<string>", config_id: str | None = None) -> LoadResult:
    """Load from a string; relative includes resolve against the current directory."""
    from tandem.config.findings import Findings
    from tandem.config.lexer import Reader

    findings = Findings()
    reader = Reader(findings, config_id or default_config_id())
    reader.read_text(text, filename, os.getcwd())
    return _finish(reader, findings)


class ConfigSource(NamedTuple):
    """Which config a daemon reads, and how: ``-f FILE``, ``-i ID`` (``@ID`` lines), ``-e`` (every
    include must match a file). Given to each process that reads the file (it pickles to a child)."""

    path: str
    config_id: str | None = None
    all_config: bool = False

    def load(self) -> LoadResult:
        return load_config(self.path, self.config_id, self.all_config)

    def __str__(self) -> str:
        return self.path


def _finish(reader: Reader, findings: Findings) -> LoadResult:
    from tandem.config.build import build_config
    from tandem.config.checks import check_config
    from tandem.config.parser import parse

    if reader.aborted:  # a size limit was hit: what was read is incomplete, checking it is noise
        return LoadResult(None, tuple(findings.items))
    tree = parse(reader.lines, findings)
    config = build_config(tree, findings)
    check_config(config, findings)
    return LoadResult(None if findings.has_errors else config, tuple(findings.items))
