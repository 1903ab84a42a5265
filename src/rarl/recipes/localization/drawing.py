"""Pictures of Vision-R1 predictions: ground truth (green) and predicted boxes (red, labelled) on the image.

    draw_predictions(image, pred_boxes, gt_boxes, "out.png", pred_labels=["cat"], gt_labels=["cat"])
    paths, missing = draw_prediction_file("runs/eval")      # `rarl draw`: the rows of predictions.jsonl

`draw_examples` draws the first few predictions of each model for the evaluation report
(`rarl.recipes.localization.evaluation.write_localization_report`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from rarl.data.errors import DataError
from rarl.data.images import load_rgb
from rarl.data.readers.safe import show
from rarl.recipes.localization.metrics import Boxes
from rarl.recipes.localization.records import read_boxes, read_id, text_list, text_value
from rarl.utils.io import atomic_path, read_jsonl_numbered

__all__ = ["EXAMPLES_PER_MODEL", "draw_examples", "draw_prediction_file", "draw_predictions"]

EXAMPLES_PER_MODEL = 4
"""Pictures drawn per model in the report."""


def draw_predictions(
    image: Image.Image | str | os.PathLike,
    pred_boxes: Boxes,
    gt_boxes: Boxes,
    out_png: str | os.PathLike,
    *,
    pred_labels: Sequence[str] | None = None,
    gt_labels: Sequence[str] | None = None,
    min_side: int = 336,
) -> Path:
    """Save `image` with ground-truth boxes (green) and predicted boxes (red, labelled) as a PNG.

    Boxes are (x1, y1, x2, y2) in pixels of `image`. Small images are enlarged (nearest neighbour) so that
    their shorter side is at least `min_side`, boxes scaled alike. Returns the PNG's path.
    """
    if isinstance(image, (str, os.PathLike)):
        picture = load_rgb(image)
    else:
        picture = image.convert("RGB")
    scale = max(1.0, min_side / max(1, min(picture.size)))
    if scale > 1.0:
        picture = picture.resize(
            (round(picture.width * scale), round(picture.height * scale)), Image.Resampling.NEAREST
        )
    draw = ImageDraw.Draw(picture)
    width = max(2, round(min(picture.size) / 150))

    limit = 2.0 * max(picture.size)  # a box far outside is drawn clipped near the picture, not at 1e300

    def boxes(items: Boxes, labels: Sequence[str] | None, colour: tuple[int, int, int]) -> None:
        for k, box in enumerate(items):
            a, b, c, d = (min(limit, max(-limit, float(v) * scale)) for v in box)
            x1, y1, x2, y2 = min(a, c), min(b, d), max(a, c), max(b, d)  # reversed corners drawn as meant
            draw.rectangle((x1, y1, max(x1, x2 - 1), max(y1, y2 - 1)), outline=colour, width=width)
            if labels is not None and k < len(labels) and labels[k]:
                left, top, right, bottom = draw.textbbox((x1 + width, y1 + width), str(labels[k]))
                draw.rectangle((left - 1, top - 1, right + 1, bottom + 1), fill=colour)
                draw.text((x1 + width, y1 + width), str(labels[k]), fill=(0, 0, 0))

    boxes(gt_boxes, gt_labels, (40, 220, 60))
    boxes(pred_boxes, pred_labels, (240, 40, 40))
    out = Path(out_png)
    with atomic_path(out, suffix=".png") as tmp:
        picture.save(tmp, format="PNG")
    return out


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80] or "x"


def draw_examples(
    out: Path,
    rows: Sequence[Mapping[str, Any]],
    per_model: int = EXAMPLES_PER_MODEL,
    folder: str = "examples",
) -> list[Path]:
    """Pictures of the first `per_model` predictions of each model under `out/<folder>/<model>/`."""
    done: dict[str, int] = {}
    paths = []
    for row in rows:
        model = str(row.get("model", "model"))
        if done.get(model, 0) >= per_model or not os.path.isfile(str(row.get("image", ""))):
            continue
        done[model] = done.get(model, 0) + 1
        path = out / folder / _safe(model) / f"{_safe(str(row['sample_id']))}.png"
        paths.append(
            draw_predictions(
                row["image"],
                row.get("pred_boxes", []),
                row.get("gt_boxes", []),
                path,
                pred_labels=row.get("pred_labels"),
                gt_labels=row.get("gt_labels"),
            )
        )
    return paths


def _row(rec: object, where: str) -> dict[str, Any]:
    """A prediction row checked for what drawing reads; DataError naming `where` and the field otherwise."""
    if not isinstance(rec, Mapping):
        raise DataError(f"{where}: expected a JSON object, got {show(rec)}")
    try:
        if "sample_id" not in rec:
            raise DataError("no 'sample_id'")
        if not isinstance(rec.get("model", ""), str):
            raise DataError(f"'model' must be text, got {show(rec['model'])}")
        row: dict[str, Any] = {"sample_id": _sample_id(rec), "model": rec.get("model", "model")}
        row["image"] = text_value(rec.get("image"), "image")
        for key in ("pred_boxes", "gt_boxes"):
            row[key] = read_boxes(rec.get(key, []), key)
        for key in ("pred_labels", "gt_labels"):
            row[key] = None if rec.get(key) is None else text_list(rec[key], key)
    except DataError as e:
        raise DataError(f"{where}: {e}") from None
    return row


def _sample_id(rec: Mapping[str, Any]) -> str:
    """The row's `sample_id` as text (an integer kept as its text)."""
    try:
        return read_id(rec["sample_id"])
    except DataError:
        raise DataError(
            f"'sample_id' must be non-empty text or an integer, got {show(rec['sample_id'])}"
        ) from None


def draw_prediction_file(
    source: str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    model: str | None = None,
    limit: int = 16,
    sample_ids: Sequence[str] = (),
) -> tuple[list[Path], int]:
    """Draw the rows of an evaluation's predictions.jsonl (or of the folder holding it) as PNGs.

    Pictures go to `out/<model>/<sample_id>.png` (default `<folder>/pictures`); at most `limit` per model,
    only `model` and `sample_ids` when given. Returns (paths, rows skipped because their image is gone).
    Every row with `pred_boxes` is checked before anything is drawn: a DataError names the file, the line and
    the field for a row without a `sample_id`, boxes that are not lists of four finite numbers, labels that
    are not lists of text, or a (model, sample id) pair listed twice; also when the file is missing, not
    JSON lines, or holds no localization predictions. Boxes outside the image are drawn clipped, boxes with
    reversed corners as the rectangle they span.
    """
    path = Path(source)
    if path.is_dir():
        path = path / "predictions.jsonl"
    if not path.is_file():
        raise DataError(f"{path}: no such file (point at an evaluation folder or its predictions.jsonl)")
    try:
        numbered = read_jsonl_numbered(path)
    except RecursionError:
        raise DataError(f"{path}: not usable JSON lines (nested too deeply for the parser)") from None
    except ValueError as e:  # names the file and line
        raise DataError(str(e)) from None
    candidates = [(n, r) for n, r in numbered if isinstance(r, Mapping) and "pred_boxes" in r]
    if not candidates or not any("gt_boxes" in r for _, r in candidates):
        raise DataError(
            f"{path}: no box predictions in it (was it written by `rarl eval --recipe vision-r1`?)"
        )
    rows = [(n, _row(r, f"{path}:{n}")) for n, r in candidates]
    seen: dict[tuple[str, str], int] = {}
    for n, r in rows:
        key = (r["model"], r["sample_id"])
        if key in seen:
            raise DataError(
                f"{path}:{n}: model {show(key[0])} sample {show(key[1])} is also on line {seen[key]}; "
                "each (model, sample_id) pair may appear once (its picture would be overwritten)"
            )
        seen[key] = n
    wanted = {str(i) for i in sample_ids}
    chosen = [
        r
        for _, r in rows
        if (model is None or r["model"] == model) and (not wanted or r["sample_id"] in wanted)
    ]
    if not chosen:
        models = sorted({r["model"] for _, r in rows})
        asked = [f"model {model!r}"] if model is not None else []
        asked += [f"sample ids {show(sorted(wanted))}"] if wanted else []
        raise DataError(f"{path}: no rows for {' and '.join(asked)}; models: {show(models)}")
    missing = sum(1 for r in chosen if not os.path.isfile(r["image"]))
    target = Path(out) if out is not None else path.parent / "pictures"
    return draw_examples(target, chosen, per_model=limit, folder=""), missing
