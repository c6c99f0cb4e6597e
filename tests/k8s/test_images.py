"""Container build files: hadolint-clean, and in step with pyproject.toml and the JVM poms.

They cannot be built here (no container engine); these checks catch the drift that breaks a build
later: another Python or pyspark than the project's, hadoop-aws that does not match pyspark's Hadoop,
a file the image copies that no longer exists.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
import types
from pathlib import Path

import pyspark
import pytest
import yaml

from ioc.paths import PROJECT_ROOT
from k8s.tools.generate import SPARK_VERSION

IMAGES = PROJECT_ROOT / "k8s" / "images"
DOCKERFILES = sorted(IMAGES.glob("*/Dockerfile"))
PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())


def _pin(package: str) -> str:
    for requirement in PYPROJECT["project"]["dependencies"]:
        if requirement.startswith(f"{package}=="):
            return requirement.split("==", 1)[1]
    raise AssertionError(f"{package} is not pinned with == in pyproject.toml")


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=[d.parent.name for d in DOCKERFILES])
def test_hadolint_is_clean(dockerfile, hadolint):
    result = subprocess.run([str(hadolint), "--no-color", str(dockerfile)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile(hadolint, tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install -y curl\n")
    result = subprocess.run([str(hadolint), "--no-color", str(bad)], capture_output=True, text=True)
    assert result.returncode != 0 and "DL3007" in result.stdout and "DL3008" in result.stdout


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=[d.parent.name for d in DOCKERFILES])
def test_copied_sources_exist(dockerfile):
    for line in dockerfile.read_text().splitlines():
        if line.startswith("COPY") and "--from=" not in line:
            sources = line.split()[1:-1]
            for source in sources:
                if source.startswith(".ioc/"):
                    continue  # built by `make setup` before an image build (stated in the Dockerfile)
                assert (PROJECT_ROOT / source).exists(), f"{dockerfile}: COPY {source} does not exist"


def test_python_and_spark_match_the_project():
    requires = PYPROJECT["project"]["requires-python"]
    assert ">=3.11" in requires and "<3.12" in requires
    for dockerfile in (IMAGES / "spark-job/Dockerfile", IMAGES / "vision-worker/Dockerfile"):
        text = dockerfile.read_text()
        assert re.search(r"FROM python:3\.11\.\d+-slim", text), f"{dockerfile}: not Python 3.11"
        assert "pip install -e ." in text and "COPY pyproject.toml" in text, "the image must install pyproject.toml"
    assert _pin("pyspark") == SPARK_VERSION == pyspark.__version__
    assert f"FROM apache/spark:{SPARK_VERSION} " in (IMAGES / "spark-job/Dockerfile").read_text()


def test_hadoop_aws_matches_pyspark_hadoop():
    jars = Path(pyspark.__file__).parent / "jars"
    (client,) = jars.glob("hadoop-client-api-*.jar")
    hadoop = client.name.removeprefix("hadoop-client-api-").removesuffix(".jar")
    pom = (IMAGES / "spark-job/pom.xml").read_text()
    assert f"<hadoop.version>{hadoop}</hadoop.version>" in pom


def test_vision_image_carries_onnxruntime_gpu_on_a_cuda_base():
    assert any(r.startswith("onnxruntime-gpu") for r in PYPROJECT["project"]["dependencies"])
    text = (IMAGES / "vision-worker/Dockerfile").read_text()
    assert re.search(r"FROM nvidia/cuda:\d+\.\d+\.\d+-cudnn-runtime", text)
    # the worker's default model path, relative to the project root the image installs at /opt/ioc
    assert "COPY .ioc/models/nanodet.onnx .ioc/models/nanodet.onnx" in text


def test_superset_values_reference_secrets_only():
    values = yaml.safe_load((PROJECT_ROOT / "k8s/superset/values.yaml").read_text())
    assert values["postgresql"]["enabled"] and values["redis"]["enabled"]
    assert values["postgresql"]["auth"]["existingSecret"] and values["redis"]["auth"]["existingSecret"]

    def literals(node, path=""):
        if isinstance(node, dict):
            for key, value in node.items():
                yield from literals(value, f"{path}.{key}")
        elif isinstance(node, str) and re.search(r"(password|_pass|secret_key)$", path, re.I) and node:
            yield path

    assert list(literals(values)) == []
    assert 'os.environ["SUPERSET_SECRET_KEY"]' in values["configOverrides"]["secret"]
    requirements = (PROJECT_ROOT / "dashboards/requirements-superset.txt").read_text()
    superset_pin = re.search(r"apache-superset==([\d.]+)", requirements).group(1)
    assert f"FROM apache/superset:{superset_pin}" in (IMAGES / "superset/Dockerfile").read_text()


def test_superset_on_kubernetes_installs_the_login_beacon_guard(monkeypatch):
    """The guard the local wall's Superset runs (tests/wall/test_login.py) is in the image and in the config."""
    values = yaml.safe_load((PROJECT_ROOT / "k8s/superset/values.yaml").read_text())
    override = values["configOverrides"]["login_beacon"]
    dockerfile = (IMAGES / "superset/Dockerfile").read_text()
    assert "COPY dashboards/runtime/login_beacon.py" in dockerfile
    assert "/app/pythonpath/login_beacon" not in dockerfile, "the chart mounts its config Secret over /app/pythonpath"
    assert (PROJECT_ROOT / "dashboards/runtime/login_beacon.py").is_file()

    monkeypatch.syspath_prepend(str(PROJECT_ROOT / "dashboards/runtime"))
    config: dict = {}
    exec(compile(override, "configOverrides.login_beacon", "exec"), config)  # what the chart's config runs

    app = types.SimpleNamespace(before_request_funcs={None: ["csrf_protect", "fab_before_request"]})  # Flask's
    config["FLASK_APP_MUTATOR"](app)
    assert [getattr(f, "__name__", f) for f in app.before_request_funcs[None]] == [
        "drop_anonymous_event_log", "csrf_protect", "fab_before_request"]
