"""The command-centre wall: Apache Superset dashboards as code over the gold Delta tables.

    config.py       typed settings (IOC_WALL__* variables) and the generated, git-ignored secrets
    bundle.py       renders the YAML source in spec/ into Superset's import bundle (paths from config)
    server.py       runs Superset from its own venv: migrations, provisioning, gunicorn, health
    client.py       a small client for Superset's REST API (login, chart data)
    lakehouse.py    makes sure the gold tables the wall reads exist
    cli.py          `ioc wall start|stop|status|import`
    runtime/        code that runs inside Superset's venv (superset_config.py, provision.py)
    browser/        the playwright-core script that renders the wall in Debian's Chromium
"""
