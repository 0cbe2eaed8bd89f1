"""Tandem: a keepalived-compatible VRRP runtime (daemon ``tandemd``, CLI ``tandemctl``)."""

__version__ = "0.1.0"
