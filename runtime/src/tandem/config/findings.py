"""Findings: what `tandemd -t` reports, each pointing at a file and line."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from tandem.config.model import Position

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem in a config: ``FILE:LINE: severity: message``."""

    file: str
    line: int
    severity: Severity
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.severity}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class Findings:
    """Collects findings while a config is read; ``error``/``warning`` take the position to blame."""

    def __init__(self) -> None:
        self.items: list[Finding] = []
        self.has_errors = False

    def error(self, pos: Position, message: str) -> None:
        self.items.append(Finding(pos.file, pos.line, "error", message))
        self.has_errors = True

    def warning(self, pos: Position, message: str) -> None:
        self.items.append(Finding(pos.file, pos.line, "warning", message))
