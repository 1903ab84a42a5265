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
from rarl.recipes.localization.metrics import Boxes
from rarl.utils.io import atomic_path, read_jsonl

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

    def boxes(items: Boxes, labels: Sequence[str] | None, colour: tuple[int, int, int]) -> None:
        for k, box in enumerate(items):
            x1, y1, x2, y2 = (float(v) * scale for v in box)
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
    Raises DataError naming the file when it is missing or holds no localization predictions.
    """
    path = Path(source)
    if path.is_dir():
        path = path / "predictions.jsonl"
    if not path.is_file():
        raise DataError(f"{path}: no such file (point at an evaluation folder or its predictions.jsonl)")
    try:
        rows = read_jsonl(path)
    except ValueError as e:
        raise DataError(f"{path}: not a JSON-lines file ({e})") from None
    if not any(isinstance(r, Mapping) and "pred_boxes" in r and "gt_boxes" in r for r in rows):
        raise DataError(
            f"{path}: no box predictions in it (was it written by `rarl eval --recipe vision-r1`?)"
        )
    wanted = {str(i) for i in sample_ids}
    chosen = [
        r
        for r in rows
        if isinstance(r, Mapping)
        and "pred_boxes" in r
        and (model is None or str(r.get("model")) == model)
        and (not wanted or str(r.get("sample_id")) in wanted)
    ]
    if not chosen:
        models = sorted({str(r.get("model")) for r in rows if isinstance(r, Mapping)})
        raise DataError(
            f"{path}: no rows for model {model!r} / sample ids {sorted(wanted)}; models: {models}"
        )
    missing = sum(1 for r in chosen if not os.path.isfile(str(r.get("image", ""))))
    target = Path(out) if out is not None else path.parent / "pictures"
    return draw_examples(target, chosen, per_model=limit, folder=""), missing
