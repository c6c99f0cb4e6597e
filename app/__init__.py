"""The top floor: the `ioc` command and the local stack (`ioc up`, `ioc down`, `ioc status`).

Each component exposes its own command group and stack steps; this package puts them together, and
nothing below it imports it. `python -m app` is the `ioc` command.
"""
