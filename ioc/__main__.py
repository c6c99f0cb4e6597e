"""`python -m ioc`: the same entry point as the `ioc` command."""

from ioc.cli import main

main()
