"""The control interface: newline-delimited JSON over a root-only unix socket, tandemctl, Prometheus.

protocol — the Handler the daemon implements and the records it returns; Broadcaster for ``watch``
server.ControlServer, client.request/watch, cli (tandemctl subcommands), metrics.MetricsServer
"""
