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


MAX_FINDINGS = 1000


class Findings:
    """Collects findings while a config is read; ``error``/``warning`` take the position to blame.

    After ``MAX_FINDINGS`` one last error says so and the rest are dropped (a binary or generated
    mess would otherwise print millions of lines).
    """

    def __init__(self) -> None:
        self.items: list[Finding] = []
        self.has_errors = False

    @property
    def full(self) -> bool:
        return len(self.items) > MAX_FINDINGS

    def error(self, pos: Position, message: str) -> None:
        self.has_errors = True
        self._add(Finding(pos.file, pos.line, "error", message))

    def warning(self, pos: Position, message: str) -> None:
        self._add(Finding(pos.file, pos.line, "warning", message))

    def _add(self, finding: Finding) -> None:
        if len(self.items) < MAX_FINDINGS:
            self.items.append(finding)
        elif len(self.items) == MAX_FINDINGS:
            message = f"more than {MAX_FINDINGS} findings; the rest are not shown"
            self.items.append(Finding(finding.file, finding.line, "error", message))
            self.has_errors = True
