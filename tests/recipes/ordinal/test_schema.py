"""OrdinalTask / OrdinalItem / OrdinalSample: validation, value formatting, round trips."""

from __future__ import annotations

from pathlib import Path

import pytest
from data_fixtures import write_jpeg

from rarl.data.errors import DataError
from rarl.recipes.ordinal.readers.ava import AVA_TASK
from rarl.recipes.ordinal.readers.utkface import UTKFACE_TASK
from rarl.recipes.ordinal.schema import OrdinalItem, OrdinalSample, OrdinalTask


def test_format_value_and_range_text():
    assert UTKFACE_TASK.format_value(23) == "23"
    assert UTKFACE_TASK.format_value(22.5) == "23"  # half-up, not banker's rounding
    assert UTKFACE_TASK.range_text() == "0-116"
    assert AVA_TASK.format_value(5.635) == "5.64"  # half-up in decimal despite binary 5.63499...
    assert AVA_TASK.format_value(5) == "5.00"
    assert AVA_TASK.format_value(-0.001) == "0.00"  # never "-0.00"
    assert AVA_TASK.range_text() == "1-10"
    t = OrdinalTask("t", "x", (0.5, 9.25), "float", 1, 0.5, "srcc")
    assert t.range_text() == "0.5-9.3"
    assert t.quantize(3.14159) == 3.1


def test_task_round_trip_and_coercion():
    t = OrdinalTask("t", "rule", [0, 10], "float", 2, 1, "mae")  # type: ignore[arg-type]
    assert t.value_range == (0.0, 10.0) and isinstance(t.delta, float)
    assert OrdinalTask.from_dict(t.to_dict()) == t
    assert hash(t) == hash(OrdinalTask.from_dict(t.to_dict()))
    assert t.with_rule("other").rule == "other" and t.with_rule(None) is t


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"value_range": (10, 0)}, "lo < hi"),
        ({"value_range": (1, 1)}, "lo < hi"),
        ({"value_range": (0,)}, "two numbers"),
        ({"precision": -1, "value_type": "float"}, "precision must be an int >= 0"),
        ({"precision": 2}, "int task has precision 0"),
        ({"delta": 0}, "delta must be > 0"),
        ({"metric": "rmse"}, "metric must be one of"),
        ({"value_type": "str"}, "value_type must be one of"),
        ({"rule": " "}, "rule must be a non-empty string"),
    ],
)
def test_task_validation(kwargs, message):
    base = {"name": "t", "rule": "r", "value_range": (0, 10)}
    with pytest.raises(DataError, match=message):
        OrdinalTask(**{**base, **kwargs})


def test_task_from_dict_errors():
    with pytest.raises(DataError, match="unknown keys \\['colour'\\]"):
        OrdinalTask.from_dict({"name": "t", "rule": "r", "value_range": [0, 1], "colour": 1})
    with pytest.raises(DataError, match="missing keys \\['rule'\\]"):
        OrdinalTask.from_dict({"name": "t", "value_range": [0, 1]})


def test_item_and_sample(tmp_path: Path):
    a = write_jpeg(tmp_path / "a.jpg", 10, mode="L")
    b = write_jpeg(tmp_path / "b.jpg", 200)
    item = OrdinalItem(a, 3)  # type: ignore[arg-type]
    assert item.image == str(a) and item.label == 3.0 and item.meta == {}
    assert hash(item) == hash(OrdinalItem(str(a), 3.0, {"ignored": "in hash"}))
    s = OrdinalSample("s1", UTKFACE_TASK, [item, OrdinalItem(str(b), 40.0)])  # type: ignore[arg-type]
    assert isinstance(s.items, tuple) and s.n == 2 and s.labels == [3.0, 40.0]
    images = s.load_images()
    assert [im.mode for im in images] == ["RGB", "RGB"] and images[0].size == (32, 32)
    with pytest.raises(DataError, match="outside the task's range 0-116"):
        OrdinalSample("s2", UTKFACE_TASK, (OrdinalItem(str(a), 117.0),))
    with pytest.raises(DataError, match="no items"):
        OrdinalSample("s3", UTKFACE_TASK, ())
    with pytest.raises(DataError, match="label must be a number"):
        OrdinalItem("x.jpg", "old")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="finite"):
        OrdinalItem("x.jpg", float("nan"))


def test_plcc_is_a_one_image_metric_like_the_others():
    from rarl.recipes.ordinal.schema import METRICS
    from rarl.recipes.ordinal.scoring import ONE_IMAGE_METRICS

    assert set(METRICS) == set(ONE_IMAGE_METRICS)
    task = OrdinalTask(
        name="q", rule="quality", value_range=(0, 5), value_type="float", precision=2, metric="plcc"
    )
    assert OrdinalTask.from_dict(task.to_dict()) == task
