#!/usr/bin/env bash
# Installs everything the project needs, from the project's own files, on a fresh machine.
# Idempotent: each step leaves a stamp (a hash of its inputs) under .ioc/stamps and is skipped while
# its inputs are unchanged. Component steps live in scripts/setup.d/NN-name.sh, run in order.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export ROOT
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

PYTHON=${PYTHON:-python3.11}

require_tool java "Java 17 runs the Kafka broker and Spark: apt-get install openjdk-17-jdk-headless"
require_tool mvn "Maven fetches the JVM jars: apt-get install maven"
require_tool "$PYTHON" "Python 3.11 is the project's runtime: install it, or set PYTHON=/path/to/python3.11"

# 1. The project's virtual environment and Python packages.
if ! stamp_fresh python "$(hash_files pyproject.toml)"; then
  step "Python environment (.venv) with the project's packages"
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  stamp_write python "$(hash_files pyproject.toml)"
else
  skip "Python environment"
fi

# 2. JVM artifacts: Delta + Spark's Kafka connector for Spark, and the Kafka broker, from Maven Central.
for module in spark-extras:spark kafka-broker:kafka; do
  pom_dir=jvm/${module%%:*}
  out=.ioc/jars/${module##*:}
  if ! stamp_fresh "jars-${module##*:}" "$(hash_files "$pom_dir/pom.xml")"; then
    step "JVM jars for ${module%%:*} into $out"
    rm -rf "$out"
    (cd "$pom_dir" && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$ROOT/$out")
    stamp_write "jars-${module##*:}" "$(hash_files "$pom_dir/pom.xml")"
  else
    skip "JVM jars for ${module%%:*}"
  fi
done

# 3. Component steps (models, footage, Superset, Kubernetes tools, ...).
for hook in scripts/setup.d/*.sh; do
  [ -e "$hook" ] || continue
  bash "$hook"
done

step "set-up complete"
