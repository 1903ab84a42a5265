"""The batch objects passed between rollout, reward scoring and the log-prob passes.

`PromptBatch` holds encoded prompts. Qwen2.5-VL's image inputs are not per-row tensors: `pixel_values` is
the concatenation of the patches of *all* images in the batch (row 0's images first, in prompt order) and
`image_grid_thw[i]` gives image i's (t, h, w) patch grid, so image i owns `t*h*w` consecutive patch rows.
`images_per_row` ties images to prompt rows; `select(rows)` uses it to cut the matching image and patch
ranges, so any subset, reordering or repetition of rows stays consistent.

`RolloutBatch` holds G completions per prompt, rows grouped by prompt (rows b*G .. b*G+G-1 belong to
prompt b).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor

__all__ = ["PromptBatch", "RolloutBatch", "completion_mask_from_ids", "pad_right"]

Rows = Sequence[int] | Tensor


def _as_index(rows: Rows, n: int) -> Tensor:
    """Row indices (a list, a long tensor, or a bool mask of length n) -> long tensor on CPU."""
    idx = torch.as_tensor(rows).detach().cpu()
    if idx.dtype == torch.bool:
        if idx.numel() != n:
            raise ValueError(f"boolean row mask has {idx.numel()} entries for {n} rows")
        return idx.nonzero().flatten()
    idx = idx.long().flatten()
    if idx.numel() and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"row index out of range for {n} rows")
    return idx % n if n else idx


def _ranges(starts: Tensor, counts: Tensor) -> Tensor:
    """Concatenate arange(s, s + c) for each (s, c): [sum(counts)] long tensor."""
    if counts.numel() == 0:
        return torch.zeros(0, dtype=torch.long)
    total = int(counts.sum())
    offsets = torch.cumsum(counts, 0) - counts  # start of each range in the output
    return torch.repeat_interleave(starts - offsets, counts) + torch.arange(total)


def pad_right(rows: Sequence[Tensor], pad_value: int | float, width: int | None = None) -> Tensor:
    """Stack 1-D tensors into [len(rows), width] right-padded with pad_value."""
    width = max((r.numel() for r in rows), default=0) if width is None else width
    dtype = rows[0].dtype if rows else torch.long
    out = torch.full((len(rows), width), pad_value, dtype=dtype)
    for i, r in enumerate(rows):
        out[i, : r.numel()] = r[:width]
    return out


def completion_mask_from_ids(ids: Tensor, eos_id: int) -> tuple[Tensor, Tensor]:
    """Mask of each row up to and including its first EOS (all of it when there is none).

    Returns (mask [N, T] long, finished [N] bool).
    """
    is_eos = ids == eos_id  # [N, T]
    finished = is_eos.any(-1)  # [N]
    first = torch.where(
        finished, is_eos.long().argmax(-1), torch.full_like(finished, ids.shape[1], dtype=torch.long)
    )
    length = torch.where(finished, first + 1, first)  # [N]
    mask = (torch.arange(ids.shape[1], device=ids.device)[None, :] < length[:, None]).long()  # [N, T]
    return mask, finished


@dataclass
class PromptBatch:
    """Encoded prompts, left-padded, with their images.

    N rows, P prompt tokens, I images in total, K = sum over images of t*h*w patches.
    """

    input_ids: Tensor  # [N, P] long, left-padded with the pad id
    attention_mask: Tensor  # [N, P] long, 0 on padding
    mm_token_type_ids: Tensor  # [N, P] int, 1 on <|image_pad|> positions (drives the 3-D rope positions)
    pixel_values: Tensor | None  # [K, C*2*14*14] patches of all images, row 0's images first
    image_grid_thw: Tensor | None  # [I, 3] long, (t, h, w) patch grid of each image
    images_per_row: Tensor  # [N] long, how many images each row owns (in order)

    def __post_init__(self) -> None:
        n = self.input_ids.shape[0]
        if (
            self.attention_mask.shape != self.input_ids.shape
            or self.mm_token_type_ids.shape != self.input_ids.shape
        ):
            raise ValueError("input_ids, attention_mask and mm_token_type_ids must have the same shape")
        if self.images_per_row.shape != (n,):
            raise ValueError(f"images_per_row must have shape [{n}], got {tuple(self.images_per_row.shape)}")
        num_images = int(self.images_per_row.sum())
        grid_images = 0 if self.image_grid_thw is None else self.image_grid_thw.shape[0]
        if num_images != grid_images:
            raise ValueError(
                f"images_per_row sums to {num_images} but image_grid_thw has {grid_images} images"
            )
        if (self.pixel_values is None) != (self.image_grid_thw is None):
            raise ValueError("pixel_values and image_grid_thw must both be set or both be None")
        if self.pixel_values is not None and self.pixel_values.shape[0] != int(
            self.image_grid_thw.prod(-1).sum()
        ):
            raise ValueError("pixel_values rows do not match the patch counts in image_grid_thw")

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    @property
    def prompt_length(self) -> int:
        return self.input_ids.shape[1]

    @property
    def num_images(self) -> int:
        return int(self.images_per_row.sum())

    @property
    def device(self) -> torch.device:
        return self.input_ids.device

    def to(self, device: str | torch.device) -> PromptBatch:
        """A copy with every tensor on `device` (pixel_values keep their float dtype)."""

        def move(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device)

        return PromptBatch(
            input_ids=self.input_ids.to(device),
            attention_mask=self.attention_mask.to(device),
            mm_token_type_ids=self.mm_token_type_ids.to(device),
            pixel_values=move(self.pixel_values),
            image_grid_thw=move(self.image_grid_thw),
            images_per_row=self.images_per_row.to(device),
        )

    def select(self, rows: Rows) -> PromptBatch:
        """The given rows (indices, possibly repeated or reordered, or a bool mask), with their images.

        Columns that are padding in every selected row are dropped, so the result equals encoding those
        prompts alone.
        """
        idx = _as_index(rows, len(self))
        dev = self.device
        per_row = self.images_per_row.cpu()
        first_image = torch.cumsum(per_row, 0) - per_row  # [N] index of each row's first image
        image_idx = _ranges(first_image[idx], per_row[idx])  # [I'] images of the selected rows, in order
        pixel_values = image_grid_thw = None
        if self.image_grid_thw is not None and image_idx.numel() > 0:
            grid = self.image_grid_thw.cpu()
            patches = grid.prod(-1)  # [I]
            first_patch = torch.cumsum(patches, 0) - patches  # [I]
            patch_idx = _ranges(first_patch[image_idx], patches[image_idx])  # [K']
            pixel_values = self.pixel_values.index_select(0, patch_idx.to(self.pixel_values.device))
            image_grid_thw = self.image_grid_thw.index_select(0, image_idx.to(self.image_grid_thw.device))
        idx_dev = idx.to(dev)
        mask = self.attention_mask.index_select(0, idx_dev)
        start = 0
        if mask.numel():
            real = mask.any(0).nonzero()
            start = int(real[0]) if real.numel() else 0
        return PromptBatch(
            input_ids=self.input_ids.index_select(0, idx_dev)[:, start:],
            attention_mask=mask[:, start:],
            mm_token_type_ids=self.mm_token_type_ids.index_select(0, idx_dev)[:, start:],
            pixel_values=pixel_values,
            image_grid_thw=image_grid_thw,
            images_per_row=self.images_per_row.index_select(0, idx_dev),
        )

    def repeat_interleave(self, repeats: int) -> PromptBatch:
        """Each row `repeats` times in a row: [N] -> [N * repeats] (the GRPO group layout)."""
        return self.select(torch.arange(len(self)).repeat_interleave(repeats))

    def model_inputs(self) -> dict[str, Any]:
        """Keyword arguments for `model(...)` / `model.generate(...)`."""
        inputs: dict[str, Any] = {
            "input_ids": self.input_ids,
            "attention_mask": self.attention_mask,
            "mm_token_type_ids": self.mm_token_type_ids,
        }
        if self.pixel_values is not None:
            inputs["pixel_values"] = self.pixel_values
            inputs["image_grid_thw"] = self.image_grid_thw
        return inputs


@dataclass
class RolloutBatch:
    """G completions per prompt; N = B * G rows, rows b*G .. b*G+G-1 belong to prompt b."""

    prompts: PromptBatch  # N rows: prompt b repeated G times
    completion_ids: Tensor  # [N, T] long, right-padded with the pad id
    completion_mask: Tensor  # [N, T] long, 1 up to and including EOS
    texts: list[str]  # decoded completions, special tokens skipped
    lengths: Tensor  # [N] long, completion_mask.sum(-1)
    finished: Tensor  # [N] bool, ended with EOS
    truncated: Tensor  # [N] bool, stopped at max_new_tokens without EOS
    group_index: Tensor  # [N] long, prompt index b of each row
    num_generations: int  # G
    injected: Tensor = field(default=None)  # type: ignore[assignment]  # [N] bool, replaced by replace_completions

    def __post_init__(self) -> None:
        n = len(self.prompts)
        if self.completion_ids.shape != self.completion_mask.shape or self.completion_ids.shape[0] != n:
            raise ValueError("completion_ids / completion_mask must be [N, T] with N = len(prompts)")
        if len(self.texts) != n:
            raise ValueError(f"{len(self.texts)} texts for {n} rows")
        if self.injected is None:
            self.injected = torch.zeros(n, dtype=torch.bool, device=self.completion_ids.device)

    def __len__(self) -> int:
        return self.completion_ids.shape[0]

    @property
    def num_prompts(self) -> int:
        return len(self) // self.num_generations

    def to(self, device: str | torch.device) -> RolloutBatch:
        return replace(
            self,
            prompts=self.prompts.to(device),
            completion_ids=self.completion_ids.to(device),
            completion_mask=self.completion_mask.to(device),
            lengths=self.lengths.to(device),
            finished=self.finished.to(device),
            truncated=self.truncated.to(device),
            group_index=self.group_index.to(device),
            injected=self.injected.to(device),
        )

    def select(self, rows: Rows) -> RolloutBatch:
        """A subset of rows (e.g. a micro-batch). `num_generations` is kept; group layout is the caller's."""
        idx = _as_index(rows, len(self))
        idx_dev = idx.to(self.completion_ids.device)
        mask = self.completion_mask.index_select(0, idx_dev)
        width = int(mask.sum(-1).max()) if mask.numel() else 0
        return replace(
            self,
            prompts=self.prompts.select(idx),
            completion_ids=self.completion_ids.index_select(0, idx_dev)[:, :width],
            completion_mask=mask[:, :width],
            texts=[self.texts[i] for i in idx.tolist()],
            lengths=self.lengths.index_select(0, idx_dev),
            finished=self.finished.index_select(0, idx_dev),
            truncated=self.truncated.index_select(0, idx_dev),
            group_index=self.group_index.index_select(0, idx_dev),
            injected=self.injected.index_select(0, idx_dev),
        )

    def replace_completions(
        self, rows: Rows, completion_ids: Tensor, completion_mask: Tensor, texts: Sequence[str], pad_id: int
    ) -> RolloutBatch:
        """A copy where `rows` hold new completions (e.g. RMO's ground-truth answers from encode_completions).

        completion_ids / completion_mask: [k, T'] for the k rows, right-padded; T grows to max(T, T').
        Replaced rows count as finished, not truncated, and are flagged in `injected`.
        """
        idx = _as_index(rows, len(self))
        if completion_ids.shape[0] != idx.numel() or len(texts) != idx.numel():
            raise ValueError(
                f"{idx.numel()} rows but {completion_ids.shape[0]} completions and {len(texts)} texts"
            )
        dev = self.completion_ids.device
        width = max(self.completion_ids.shape[1], completion_ids.shape[1])
        ids = torch.full((len(self), width), pad_id, dtype=self.completion_ids.dtype, device=dev)
        mask = torch.zeros((len(self), width), dtype=self.completion_mask.dtype, device=dev)
        ids[:, : self.completion_ids.shape[1]] = self.completion_ids
        mask[:, : self.completion_mask.shape[1]] = self.completion_mask
        idx_dev = idx.to(dev)
        ids[idx_dev] = pad_id
        mask[idx_dev] = 0
        ids[idx_dev, : completion_ids.shape[1]] = completion_ids.to(dev)
        mask[idx_dev, : completion_mask.shape[1]] = completion_mask.to(dev, mask.dtype)
        used = int(mask.sum(-1).max()) if mask.numel() else 0
        new_texts = list(self.texts)
        for i, text in zip(idx.tolist(), texts):
            new_texts[i] = text
        flags = [t.clone() for t in (self.finished, self.truncated, self.injected)]
        flags[0][idx_dev], flags[1][idx_dev], flags[2][idx_dev] = True, False, True
        return replace(
            self,
            completion_ids=ids[:, :used],
            completion_mask=mask[:, :used],
            texts=new_texts,
            lengths=mask.sum(-1),
            finished=flags[0],
            truncated=flags[1],
            injected=flags[2],
        )
