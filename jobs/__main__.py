"""`python -m jobs <job> [--option ...]`: the jobs' command line without the rest of `ioc`."""

from jobs.cli import main

main()
