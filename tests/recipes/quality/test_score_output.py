"""What `rarl score` prints per image: its explanation (the `<think>` text), the numeric score and the
probability-based one, as a table on stdout (notes on stderr) or, with `--json`, one JSON list in full."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from rarl.cli import app
from rarl.model.loading import load_policy
from rarl.model.logprobs import token_logprobs
from rarl.model.rollout import encode_completions, encode_prompts
from rarl.recipes import get_recipe
from rarl.recipes.quality.samples import SCORE_TASK, QualitySample
from rarl.recipes.quality.scoring import EXPLANATION_CHARS, explanation, show_scores
from rarl.rewards.quality import parse_score
from rarl.rewards.tags import think_content

KEYS = ["image", "mode", "numeric", "prob", "explanation", "completion"]
TAUGHT = "<think>The overall quality of the image is fair.</think><answer>2.85</answer>"


def _score(*args) -> object:
    return CliRunner().invoke(app, ["score", *map(str, args)])


def test_explanation_is_the_think_text_stripped():
    assert explanation("<think> Sharp, but\nnoisy. </think><answer>3.20</answer>") == "Sharp, but\nnoisy."
    assert explanation("<answer>3.20</answer>") is None  # no_think: no explanation
    assert explanation("<think> \n</think><answer>3.20</answer>") is None  # an empty one
    assert explanation("<think>cut off before the tag closes") is None
    assert explanation("<think>a</think><think>b</think>") == "a"  # the first block, as the rewards read it


def _cells(out: str) -> list[list[str]]:
    """The body lines of a printed table, split into their stripped cells."""
    return [
        [c.strip() for c in line.strip("│").split("│")] for line in out.splitlines() if line.startswith("│")
    ]


def test_table_one_row_per_image_explanations_cut_and_none_shown(capsys):
    long = ("word " * 60).strip()  # 299 characters: cut at EXPLANATION_CHARS in the table
    rows = [
        {"image": "/abs/a.png", "numeric": 3.2, "prob": 3.4567, "explanation": "Sharp,\nbright."},
        {"image": "/abs/b.png", "numeric": None, "prob": 1.0, "explanation": None},
        {"image": "/abs/c.png", "numeric": 0.5, "prob": 0.75, "explanation": long},
    ]
    show_scores(rows, ["a.png", "b.png", "c.png"])
    out = capsys.readouterr().out
    assert "┃ image ┃ numeric ┃  prob ┃ explanation" in out
    cells = _cells(out)
    assert cells[:3] == [
        ["a.png", "3.20", "3.457", "Sharp, bright."],  # on one line, whitespace folded
        ["b.png", "none", "1.000", "(none)"],
        ["c.png", "0.50", "0.750", cells[2][3]],
    ]
    assert all(row[:3] == ["", "", ""] for row in cells[3:])  # the long explanation wraps in its column
    shown = " ".join(row[3] for row in cells[2:])
    assert shown == long[: EXPLANATION_CHARS - 1].rstrip() + "…" and len(shown) == EXPLANATION_CHARS
    assert f"explanations cut at {EXPLANATION_CHARS} characters; --json has them in full" in out
    show_scores(rows, ["a.png", "b.png", "c.png"], as_json=True)
    assert json.loads(capsys.readouterr().out) == rows  # in full


def test_score_json_and_table_on_the_tiny_model(tiny_model, scoring_manifest, monkeypatch):
    monkeypatch.chdir(scoring_manifest)  # images named as a user types them
    names = [f"images/{p.name}" for p in sorted((scoring_manifest / "images").glob("*.png"))[:2]]
    result = _score("--model", tiny_model, *names, "--max-new-tokens", "8", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)  # stdout is the JSON alone; the note went to stderr
    assert [list(row) for row in rows] == [KEYS, KEYS]
    assert [row["image"] for row in rows] == [str((scoring_manifest / n).resolve()) for n in names]
    for row in rows:
        assert row["mode"] == "think" and 0.5 <= row["prob"] <= 4.5
        assert row["numeric"] == parse_score(row["completion"])
        assert row["explanation"] == explanation(row["completion"])
    assert result.stderr.startswith("note: scoring in think mode (default:")
    table = _score("--model", tiny_model, *names, "--max-new-tokens", "8")
    assert table.exit_code == 0, table.output
    assert "note:" not in table.stdout
    lines = [cells for cells in _cells(table.stdout) if cells[0]]
    assert len(lines) == 2
    for name, cells, row in zip(names, lines, rows):  # the same scores as --json, the image as given
        numeric = "none" if row["numeric"] is None else f"{row['numeric']:.2f}"
        assert cells[:3] == [name, numeric, f"{row['prob']:.3f}"]
        assert cells[3] == (row["explanation"] or "(none)")[: len(cells[3])]


def _taught_model(tiny_model: Path, image: Path, folder: Path) -> Path:
    """The tiny model taught by AdamW to answer the think-mode scoring prompt with TAUGHT (until its mean token loss is below 0.02)."""
    torch.manual_seed(0)
    recipe = get_recipe("refine-iqa")
    policy = load_policy(str(tiny_model), dtype="float32")
    sample = QualitySample(sample_id="0", task=SCORE_TASK, images=(str(image),))
    prompts = encode_prompts(policy, [recipe.messages(sample, "think")])
    ids, mask = encode_completions(policy, [TAUGHT])  # [1, T] each, ends with EOS
    optimizer = torch.optim.AdamW(policy.model.parameters(), lr=3e-3)
    policy.model.train()
    for _ in range(200):
        loss = -(token_logprobs(policy.model, prompts, ids, mask) * mask).sum() / mask.sum()
        if loss.item() < 0.02:  # every token of TAUGHT the greedy choice, the digits included
            break
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    shutil.copytree(tiny_model, folder)
    policy.model.save_pretrained(folder)  # replaces the weights only
    return folder


@pytest.mark.slow
def test_score_shows_the_explanation_the_model_wrote(tiny_model, scoring_manifest, tmp_path, monkeypatch):
    images = sorted((scoring_manifest / "images").glob("*.png"))
    model = _taught_model(tiny_model, images[0], tmp_path / "taught")
    monkeypatch.chdir(scoring_manifest)
    names = [f"images/{images[0].name}", f"images/{images[5].name}"]  # the taught image and another
    result = _score("--model", model, *names, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [row["completion"] for row in rows] == [TAUGHT, TAUGHT]
    for row in rows:
        assert (
            row["explanation"]
            == think_content(row["completion"])
            == "The overall quality of the image is fair."
        )
        assert row["numeric"] == 2.85 and 0.5 <= row["prob"] <= 4.5
    table = _score("--model", model, *names)
    assert _cells(table.stdout) == [
        [name, "2.85", f"{row['prob']:.3f}", "The overall quality of the image is fair."]
        for name, row in zip(names, rows)
    ]
