"""From token lines to a positioned syntax tree of statements and ``{ }`` blocks.

A statement is a keyword and its arguments, ending at the end of the line or at ``{``/``}``. A ``{``
opens the block of the statement before it, on the same line or the next (keepalived allows both).
The parser keeps an explicit stack (no recursion), so nesting depth costs no Python stack; blocks
nested deeper than ``MAX_DEPTH`` are reported once and their contents dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tandem.config.findings import Findings
from tandem.config.lexer import Line
from tandem.config.model import Position

MAX_DEPTH = 32


@dataclass(slots=True)
class Node:
    """A statement: ``keyword args...`` and, when followed by ``{ ... }``, its children."""

    keyword: str
    args: tuple[str, ...]
    pos: Position
    children: list[Node] | None = None
    block_pos: Position | None = field(default=None, repr=False)

    @property
    def words(self) -> tuple[str, ...]:
        return (self.keyword, *self.args)


def parse(lines: list[Line], findings: Findings) -> list[Node]:
    """Build the tree; unbalanced braces are reported where they occur and never abort the parse."""
    root: list[Node] = []
    stack: list[tuple[list[Node], Node | None]] = [(root, None)]
    dropped: list[Position] = []  # open blocks whose contents are dropped (too deep, or no keyword)
    awaiting: Node | None = None  # last statement of a line: its '{' may start the next line
    for line in lines:
        tokens = line.tokens
        count = len(tokens)
        index = 0
        while index < count:
            token = tokens[index]
            if token == "{":
                if dropped or len(stack) > MAX_DEPTH:
                    if not dropped:
                        findings.error(line.pos, f"blocks nested deeper than {MAX_DEPTH} levels")
                    dropped.append(line.pos)
                elif awaiting is None or awaiting.children is not None:
                    findings.error(line.pos, "'{' without a keyword before it")
                    dropped.append(line.pos)
                else:
                    awaiting.children = []
                    awaiting.block_pos = line.pos
                    stack.append((awaiting.children, awaiting))
                awaiting = None
                index += 1
            elif token == "}":
                if dropped:
                    dropped.pop()
                elif len(stack) > 1:
                    stack.pop()
                else:
                    findings.error(line.pos, "'}' without a matching '{'")
                awaiting = None
                index += 1
            else:
                end = index + 1
                while end < count and tokens[end] != "{" and tokens[end] != "}":
                    end += 1
                node = Node(token, tokens[index + 1 : end], line.pos)
                if not dropped:
                    stack[-1][0].append(node)
                awaiting = node
                index = end
    if dropped:
        findings.error(dropped[0], "'{' is never closed")
    for _children, owner in stack[1:]:
        findings.error(owner.block_pos, f"'{{' of {owner.keyword} is never closed")
    return root
