"""spark-submit main file: `spark-submit <conf> jobs/submit.py <job> [--option ...]`.

`ioc jobs submit-command <job> -- <options>` prints the full line, with the project's Spark conf.
The same commands and options as `ioc jobs <job>`; exit 1 with one line on bad arguments.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    # run as a script, this folder is sys.path[0]: put the project root there instead, so `jobs` is the package
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.path.insert(0, str(here.parent))
    from jobs.cli import main

    main()
