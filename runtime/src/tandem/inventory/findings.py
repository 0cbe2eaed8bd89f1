"""What validation reports: a finding names the group, host and field it is about, and what was expected."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Severity(Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    severity: Severity
    group: str | None
    host: str | None
    field: str
    message: str

    def as_dict(self) -> dict[str, str | None]:
        return {
            "severity": self.severity.value,
            "group": self.group,
            "host": self.host,
            "field": self.field,
            "message": self.message,
        }

    def __str__(self) -> str:
        where = [f"group '{self.group}'"] if self.group else []
        where += [f"host '{self.host}'"] if self.host else []
        where.append(f"field '{self.field}'")
        return f"{', '.join(where)}: {self.message}"


def error(group: str | None, host: str | None, field: str, message: str) -> Finding:
    return Finding(Severity.ERROR, group, host, field, message)


def warning(group: str | None, host: str | None, field: str, message: str) -> Finding:
    return Finding(Severity.WARNING, group, host, field, message)


def field_path(*parts: str | int) -> str:
    """``("members", 1, "priority")`` -> ``members[1].priority``."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
