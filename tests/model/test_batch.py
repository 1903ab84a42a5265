"""PromptBatch.select / repeat_interleave and RolloutBatch.replace_completions keep images and rows aligned."""

from __future__ import annotations

import pytest
import torch

from rarl.model import PromptBatch, encode_completions, encode_prompts, generate
from rarl.model.batch import completion_mask_from_ids

from .conftest import conversation

COUNTS = [2, 0, 3, 1]  # images per prompt, one text-only row included


@pytest.fixture(scope="module")
def convs() -> list[list[dict]]:
    return [conversation(n, seed=10 + i) for i, n in enumerate(COUNTS)]


def test_select_equals_encoding_rows_alone(policy, convs) -> None:
    batch = encode_prompts(policy, convs)
    assert batch.images_per_row.tolist() == COUNTS and batch.num_images == sum(COUNTS)
    for rows in ([2], [3, 0], [1], [2, 2, 0], [0, 1, 2, 3]):
        picked = batch.select(rows)
        alone = encode_prompts(policy, [convs[r] for r in rows])
        assert torch.equal(picked.input_ids, alone.input_ids)
        assert torch.equal(picked.attention_mask, alone.attention_mask)
        assert torch.equal(picked.mm_token_type_ids, alone.mm_token_type_ids)
        assert picked.images_per_row.tolist() == [COUNTS[r] for r in rows]
        if alone.pixel_values is None:
            assert picked.pixel_values is None and picked.image_grid_thw is None
        else:
            assert torch.equal(picked.pixel_values, alone.pixel_values)
            assert torch.equal(picked.image_grid_thw, alone.image_grid_thw)


def test_select_accepts_bool_masks_and_tensors(policy, convs) -> None:
    batch = encode_prompts(policy, convs)
    by_mask = batch.select(torch.tensor([True, False, True, False]))
    by_index = batch.select(torch.tensor([0, 2]))
    assert torch.equal(by_mask.input_ids, by_index.input_ids)
    assert torch.equal(by_mask.pixel_values, by_index.pixel_values)
    with pytest.raises(IndexError):
        batch.select([4])


def test_repeat_interleave_is_the_group_layout(policy, convs) -> None:
    batch = encode_prompts(policy, convs)
    rep = batch.repeat_interleave(3)
    assert len(rep) == 12 and rep.images_per_row.tolist() == [c for c in COUNTS for _ in range(3)]
    assert rep.pixel_values.shape[0] == 3 * batch.pixel_values.shape[0]
    assert torch.equal(rep.select([3, 4, 5]).input_ids, batch.select([1, 1, 1]).input_ids)
    assert torch.equal(rep.select([6]).pixel_values, batch.select([2]).pixel_values)


def test_validation_catches_inconsistent_images(policy, convs) -> None:
    batch = encode_prompts(policy, convs)
    with pytest.raises(ValueError, match="images_per_row"):
        PromptBatch(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            mm_token_type_ids=batch.mm_token_type_ids,
            pixel_values=batch.pixel_values,
            image_grid_thw=batch.image_grid_thw,
            images_per_row=torch.tensor([1, 1, 1, 1]),
        )


def test_completion_mask_from_ids() -> None:
    ids = torch.tensor([[5, 6, 2, 0], [5, 2, 2, 0], [5, 6, 7, 8]])
    mask, finished = completion_mask_from_ids(ids, eos_id=2)
    assert mask.tolist() == [[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1]]
    assert finished.tolist() == [True, True, False]


def test_replace_completions_and_select(policy) -> None:
    batch = generate(policy, [conversation(1), conversation(2)], num_generations=2, max_new_tokens=4, seed=0)
    answer = "<think>x</think><answer>[{'image_id': 1, 'value': 23}, {'image_id': 2, 'value': 41}]</answer>"
    ids, mask = encode_completions(policy, [answer])
    new = batch.replace_completions([3], ids, mask, [answer], pad_id=policy.special.pad_id)
    assert new.completion_ids.shape[1] == max(batch.completion_ids.shape[1], ids.shape[1])
    assert new.texts[3] == answer and new.texts[:3] == batch.texts[:3]
    assert new.injected.tolist() == [False, False, False, True]
    assert bool(new.finished[3]) and not bool(new.truncated[3])
    assert int(new.lengths[3]) == ids.shape[1]
    assert torch.equal(new.completion_ids[3, : ids.shape[1]], ids[0])
    assert torch.equal(new.completion_ids[0, : batch.completion_ids.shape[1]], batch.completion_ids[0])
    sub = new.select([3, 0])
    assert sub.texts == [answer, batch.texts[0]] and sub.group_index.tolist() == [1, 0]
    assert sub.prompts.images_per_row.tolist() == [2, 1]
