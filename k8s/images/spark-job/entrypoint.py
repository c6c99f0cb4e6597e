"""Python main file of the Spark Operator's applications: `entrypoint.py <ioc command...>`.

The SparkApplication runs `spark-submit ... local:///opt/ioc/entrypoint.py streaming run`. It lives
outside the `ioc` package on purpose: run as a script from `ioc/`, that folder would become
sys.path[0] and `ioc/kafka/` would shadow the kafka-python package.
"""

from app.cli import main

if __name__ == "__main__":
    main()
