"""The keepalived.conf language: lexer, parser, schema, typed model (``model``), checks, ``tandemd -t``."""
