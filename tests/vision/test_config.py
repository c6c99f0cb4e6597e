"""The camera configuration: the shipped example loads, mistakes fail with where they are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ioc.paths import PROJECT_ROOT
from vision.config import ZoneKind, load_config, parse_config
from vision.exceptions import VisionConfigError

EXAMPLE = PROJECT_ROOT / "vision" / "cameras.example.yaml"


def camera(**overrides: Any) -> dict[str, Any]:
    base = {"id": "cam-1", "city": "230100", "source": "rtsp://10.0.0.7:554/stream1"}
    return {**base, **overrides}


def test_example_file_loads_with_every_zone_kind() -> None:
    config = load_config(EXAMPLE, environ={})
    kinds = {z.kind for c in config.cameras for z in c.zones}
    assert kinds == set(ZoneKind)
    assert config.cameras[0].file_path.is_absolute()
    plaza = config.cameras[1].zones[0]
    assert plaza.area_m2 is None and plaza.ground_area_m2 == pytest.approx(768 * 376 * 0.02 * 0.05)


def test_environment_overrides_the_file() -> None:
    config = load_config(EXAMPLE, environ={"IOC_VISION__RUNTIME__MAX_BATCH": "3",
                                           "IOC_VISION__RUNTIME__PROVIDERS": '["cpu"]'})
    assert config.runtime.max_batch == 3
    assert config.runtime.providers == ["cpu"]


def test_toml_works_too(tmp_path: Path) -> None:
    path = tmp_path / "cams.toml"
    path.write_text('[[cameras]]\nid = "c1"\ncity = "230200"\nsource = "rtsp://h/s"\n')
    assert load_config(path, environ={}).cameras[0].city.name == "QIQIHAR"


@pytest.mark.parametrize(("values", "message"), [
    ({"cameras": [camera(fps=5)]}, "cameras.0.fps"),
    ({"cameras": [camera(city="110000")]}, "cameras.0.city"),
    ({"cameras": [camera(source="ftp://x/y")]}, "scheme 'ftp'"),
    ({"cameras": [camera(), camera()]}, "used twice"),
    ({"cameras": []}, "cameras"),
    ({"cameras": [camera(analytics_fps=0)]}, "analytics_fps"),
    ({"cameras": [camera(zones=[{"id": "z", "kind": "crowd", "points": [[0, 0], [10, 10]]}])]},
     "at least 3 points"),
    ({"cameras": [camera(zones=[{"id": "z", "kind": "crowd", "points": [[0, 0], [5, 5], [10, 10]]}])]},
     "no area"),
    ({"cameras": [camera(zones=[{"id": "l", "kind": "counting_line", "points": [[0, 0], [0, 10]]}])]},
     "in_direction"),
    ({"cameras": [camera(zones=[{"id": "l", "kind": "counting_line", "points": [[0, 0], [0, 10]],
                                 "in_direction": [1, 0], "capacity": 5}])]}, "do not apply"),
    ({"cameras": [camera(zones=[{"id": "z", "kind": "crowd", "points": [[0, 0], [9, 0], [9, 9]],
                                 "homography": [[1, 0], [0, 1]]}])]}, "3x3"),
    ({"cameras": [camera(zones=[{"id": "z", "kind": "crowd", "points": [[0, 0], [9, 0], [9, 9]]},
                                {"id": "z", "kind": "restricted", "points": [[0, 0], [9, 0], [9, 9]]}])]},
     "used twice"),
    ({"cameras": [camera()], "detector": {"type": "yolo"}}, "model_path"),
    ({"cameras": [camera()], "detector": {"type": "detr", "model_path": "x"}}, "detector"),
    ({"cameras": [camera()], "tracker": {"low_threshold": 0.6, "high_threshold": 0.5}}, "low_threshold"),
    ({"cameras": [camera()], "runtime": {"providers": ["rocm"]}}, "providers"),
])
def test_bad_configs_fail_naming_the_problem(values: dict[str, Any], message: str) -> None:
    with pytest.raises(VisionConfigError) as info:
        parse_config(values)
    assert message in str(info.value)
    assert info.value.hint


def test_missing_and_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(VisionConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml", environ={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("cameras: [\n")
    with pytest.raises(VisionConfigError, match="does not parse"):
        load_config(bad, environ={})
    with pytest.raises(VisionConfigError, match="no camera configuration"):
        load_config(None, environ={})


def test_stream_credentials_stay_secret() -> None:
    config = parse_config({"cameras": [camera(source="rtsp://10.0.0.7:554/ch1", username="ops", password="p@ss:w")]})
    cam = config.cameras[0]
    assert cam.stream_url() == "rtsp://ops:p%40ss%3Aw@10.0.0.7:554/ch1"
    assert "p@ss" not in repr(cam) and "p@ss" not in config.model_dump_json()
