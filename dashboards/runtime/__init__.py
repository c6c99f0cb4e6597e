"""Code that runs inside Superset's own venv (never imported by the project's venv)."""
