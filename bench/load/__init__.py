"""The load generator: a separate uvloop process driving the gateway (or a
baseline server) over loopback, in named, bounded scenarios.

``python -m bench.load --help``; bench/README.md ("Load") has the commands and
the latest figures.
"""
