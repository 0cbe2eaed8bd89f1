"""Command-line entry points: ``tandemd`` (the daemon) and ``tandemctl`` (its control client)."""
