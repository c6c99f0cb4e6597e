"""`python -m app`: the same entry point as the `ioc` command."""

from app.cli import main

main()
