"""The HTTP checkers' url ``regex``: Python's ``re`` on bytes standing in for keepalived's PCRE2.

Shared by the config (a bad pattern or option is an error at its line) and HTTP_GET/SSL_GET; it
imports nothing of Tandem, so the config can use it without loading the checkers.
"""

from __future__ import annotations

import functools
import re

# keepalived's regex_options (PCRE2 flags) that Python's re has; the config warns about the others.
REGEX_FLAGS = {
    "caseless": re.IGNORECASE,
    "multiline": re.MULTILINE,
    "dotall": re.DOTALL,
    "extended": re.VERBOSE,
}


@functools.lru_cache(maxsize=1024)
def compile_regex(pattern: str, options: tuple[str, ...] = ()) -> re.Pattern[bytes]:
    """The url's regex, compiled once; raises re.error for a bad pattern, KeyError for a bad option."""
    flags = 0
    for option in options:
        flags |= REGEX_FLAGS[option]
    return re.compile(pattern.encode(), flags)
