"""Pictures of Vision-R1 predictions: ground truth (yellow) and predicted boxes (magenta) on the image, a legend.

    draw_predictions(image, pred_boxes, gt_boxes, "out.png", pred_labels=["cat"], gt_labels=["cat"])
    paths, missing = draw_prediction_file("runs/eval")      # `rarl draw`: the rows of predictions.jsonl

`draw_examples` draws a few test images for every model of the evaluation report
(`rarl.recipes.localization.evaluation.write_localization_report`): the same images for each model, chosen
by `choose_examples` (positives with several objects first, at most one negative). Each model's pictures go
to a folder named after the model without its leading punctuation (`model_folders`: "+ Vision-R1" ->
`Vision-R1/`).

The two colours differ in hue and in lightness (yellow and magenta stay apart for the common colour-vision
deficiencies and against the synthetic task's red, green and blue shapes); ground-truth boxes are drawn
twice as thick, under the predictions, so a prediction on the exact ground-truth box shows both colours;
ground-truth labels sit at the bottom of their box, predicted labels at the top. A strip under the image
names the colours and counts the boxes of each.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from rarl.data.errors import DataError
from rarl.data.images import load_rgb
from rarl.data.readers.safe import show
from rarl.recipes.localization.metrics import Boxes
from rarl.recipes.localization.records import read_boxes, read_id, text_list, text_value
from rarl.utils.io import atomic_path, read_jsonl_numbered

__all__ = [
    "EXAMPLES_PER_MODEL",
    "GT_COLOUR",
    "PRED_COLOUR",
    "choose_examples",
    "draw_examples",
    "draw_prediction_file",
    "draw_predictions",
    "match_model",
    "model_folders",
]

EXAMPLES_PER_MODEL = 4
"""Pictures drawn per model in the report."""
GT_COLOUR = (255, 205, 0)
"""Ground-truth boxes: yellow."""
PRED_COLOUR = (230, 0, 230)
"""Predicted boxes: magenta."""


def _font(size: int) -> Any:
    return ImageFont.load_default(size=size)


def draw_predictions(
    image: Image.Image | str | os.PathLike,
    pred_boxes: Boxes,
    gt_boxes: Boxes,
    out_png: str | os.PathLike,
    *,
    pred_labels: Sequence[str] | None = None,
    gt_labels: Sequence[str] | None = None,
    min_side: int = 336,
    legend: bool = True,
) -> Path:
    """Save `image` with ground-truth boxes (GT_COLOUR) and predicted boxes (PRED_COLOUR), labelled, as a PNG.

    Boxes are (x1, y1, x2, y2) in pixels of `image`. Small images are enlarged (nearest neighbour) so that
    their shorter side is at least `min_side`, boxes scaled alike. With `legend`, a white strip under the
    image names the two colours with their box counts. Returns the PNG's path.
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
    font = _font(max(10, round(min(picture.size) / 28)))

    limit = 2.0 * max(picture.size)  # a box far outside is drawn clipped near the picture, not at 1e300

    def corners(box: Sequence[float]) -> tuple[float, float, float, float]:
        a, b, c, d = (min(limit, max(-limit, float(v) * scale)) for v in box)
        return min(a, c), min(b, d), max(a, c), max(b, d)  # reversed corners drawn as meant

    def outlines(items: Boxes, colour: tuple[int, int, int], line: int) -> None:
        for box in items:
            x1, y1, x2, y2 = corners(box)
            draw.rectangle((x1, y1, max(x1, x2 - 1), max(y1, y2 - 1)), outline=colour, width=line)

    def captions(items: Boxes, labels: Sequence[str] | None, colour: tuple[int, int, int], line: int) -> None:
        for box, label in zip(items, labels or (), strict=False):
            if not label:
                continue
            x1, y1, _, y2 = corners(box)
            left, top, right, low = draw.textbbox((0, 0), str(label), font=font)
            at = (x1 + line, y2 - line - low - 1) if colour == GT_COLOUR else (x1 + line, y1 + line)
            at = (  # inside the picture, even for a box partly outside it
                min(max(at[0], 1), max(1, picture.width - right - 2)),
                min(max(at[1], 1 - top), max(1 - top, picture.height - low - 2)),
            )
            draw.rectangle((at[0] - 1, at[1] + top - 1, at[0] + right + 1, at[1] + low + 1), fill=colour)
            draw.text(at, str(label), fill=(0, 0, 0), font=font)

    outlines(gt_boxes, GT_COLOUR, 2 * width)  # under the predictions, twice as thick: both show on a match
    outlines(pred_boxes, PRED_COLOUR, width)
    captions(gt_boxes, gt_labels, GT_COLOUR, 2 * width)  # labels over every outline: at the bottom for the
    captions(pred_boxes, pred_labels, PRED_COLOUR, width)  # ground truth, at the top for predictions
    if legend:
        picture = _with_legend(picture, len(gt_boxes), len(pred_boxes), font)
    out = Path(out_png)
    with atomic_path(out, suffix=".png") as tmp:
        picture.save(tmp, format="PNG")
    return out


def _with_legend(picture: Image.Image, n_gt: int, n_pred: int, font: Any) -> Image.Image:
    """`picture` above a white strip: a swatch and a name with the box count for each colour."""
    entries = [(GT_COLOUR, f"ground truth ({n_gt})"), (PRED_COLOUR, f"prediction ({n_pred})")]
    height = font.size + 10
    out = Image.new("RGB", (picture.width, picture.height + height), (255, 255, 255))
    out.paste(picture, (0, 0))
    draw = ImageDraw.Draw(out)
    x, y = 5, picture.height + 5
    for colour, text in entries:
        draw.rectangle((x, y, x + font.size - 1, y + font.size - 1), fill=colour)
        x += font.size + 4
        draw.text((x, y), text, fill=(0, 0, 0), font=font)
        x += round(draw.textlength(text, font=font)) + 12
    return out


# --------------------------------------------------------------------------------------------------------------
# Which pictures, and where


def _folder_name(name: str) -> str:
    """`name` as a folder name: runs of characters other than letters, digits, `-`, `_`, `.` become one `_`,
    and punctuation at either end is dropped ("+ Vision-R1" -> "Vision-R1", "Tiny-VL base" -> "Tiny-VL_base")."""
    parts, run = [], False
    for c in name:
        if c.isalnum() or c in "-_.":
            parts.append(c)
            run = False
        elif not run:
            parts.append("_")
            run = True
    return "".join(parts).strip("_-.")[:80].rstrip("_-.") or "model"


def _unique(names: Iterable[str]) -> dict[str, str]:
    """Each name -> its folder (or file) name, made unique by `-2`, `-3`, ... in order of appearance."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        if name in out:
            continue
        base = candidate = _folder_name(name)
        k = 1
        while candidate.lower() in taken:  # also apart on case-insensitive file systems
            k += 1
            candidate = f"{base}-{k}"
        taken.add(candidate.lower())
        out[name] = candidate
    return out


def model_folders(models: Iterable[str]) -> dict[str, str]:
    """Model name -> the folder its pictures go to: the name without leading punctuation, unique among the
    models ("+ SFT" -> "SFT"; "SFT" and "+ SFT" together -> "SFT" and "SFT-2")."""
    return _unique(models)


def match_model(asked: str, models: Sequence[str]) -> str | None:
    """The model of `models` that `asked` names: the exact name, else the one whose name is `asked` with or
    without the table's "+ " prefix, or whose picture folder is `asked`; None when none or several do."""
    if asked in models:
        return asked
    bare = asked.strip().lstrip("+").strip()
    folders = model_folders(models)
    hits = [m for m in models if bare in (m.strip().lstrip("+").strip(), folders[m])]
    return hits[0] if len(hits) == 1 else None


def choose_examples(rows: Sequence[Mapping[str, Any]], per_model: int = EXAMPLES_PER_MODEL) -> list[str]:
    """The sample ids to draw for every model: at most `per_model` samples whose image exists, positives with
    two or more ground-truth boxes first, then those with one, and negatives (no box) at most a quarter of
    them (at least one when there are any); in the rows' order within each group."""
    first: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        sample = str(row.get("sample_id"))
        if sample not in first and os.path.isfile(str(row.get("image", ""))):
            first[sample] = row
    groups: dict[str, list[str]] = {"several": [], "one": [], "none": []}
    for sample, row in first.items():
        n = len(row.get("gt_boxes") or [])
        groups["several" if n >= 2 else "one" if n == 1 else "none"].append(sample)
    positives = groups["several"] + groups["one"]
    negatives = min(len(groups["none"]), max(1, per_model // 4))
    if negatives >= per_model and positives:  # one picture: a positive
        negatives = 0
    return positives[: per_model - negatives] + groups["none"][:negatives]


def draw_examples(
    out: Path,
    rows: Sequence[Mapping[str, Any]],
    per_model: int = EXAMPLES_PER_MODEL,
    folder: str = "examples",
    samples: Sequence[str] | None = None,
) -> list[Path]:
    """Pictures of the same samples for every model under `out/<folder>/<model folder>/<sample id>.png`.

    `samples`: the sample ids to draw (default: `choose_examples(rows, per_model)`), in that order; a row
    whose image is gone is skipped. Returns the paths, model by model.
    """
    chosen = list(choose_examples(rows, per_model) if samples is None else dict.fromkeys(map(str, samples)))
    files = _unique(chosen)
    by_key = {(str(r.get("model", "model")), str(r.get("sample_id"))): r for r in rows}
    models = list(dict.fromkeys(str(r.get("model", "model")) for r in rows))
    paths = []
    for model, name in model_folders(models).items():
        for sample in chosen:
            row = by_key.get((model, sample))
            if row is None or not os.path.isfile(str(row.get("image", ""))):
                continue
            path = out / folder / name / f"{files[sample]}.png"
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

    Pictures go to `out/<model folder>/<sample_id>.png` (default `<folder>/pictures`; `model_folders`); at
    most `limit` per model, the same samples for every model (`choose_examples`: positives with several
    objects first, negatives at most a quarter), or `sample_ids` when given. `model` draws one model, named
    as in the table, with or without its "+ " prefix, or by its folder name (`match_model`). Returns (paths,
    rows skipped because their image is gone).
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
    models = list(dict.fromkeys(r["model"] for _, r in rows))
    name = None if model is None else match_model(model, models)
    chosen = [
        r
        for _, r in rows
        if (model is None or r["model"] == name) and (not wanted or r["sample_id"] in wanted)
    ]
    if not chosen:
        asked = [f"model {model!r}"] if model is not None else []
        asked += [f"sample ids {show(sorted(wanted))}"] if wanted else []
        raise DataError(f"{path}: no rows for {' and '.join(asked)}; models: {show(sorted(models))}")
    missing = sum(1 for r in chosen if not os.path.isfile(r["image"]))
    target = Path(out) if out is not None else path.parent / "pictures"
    samples = list(dict.fromkeys(r["sample_id"] for r in chosen))[:limit] if wanted else None
    return draw_examples(target, chosen, per_model=limit, folder="", samples=samples), missing
