"""The sans-IO login core: no I/O, no trio, no HTTP.

Everything here takes a clock and a store by injection and returns results or
raises the typed errors of ``gateway.errors``. ``gateway.auth.core.LoginCore``
wires the pieces together for the edge.
"""
