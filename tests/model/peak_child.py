"""Peak memory of one training phase, measured in a fresh process (run by test_memory_plan.py).

The resident set follows PyTorch's live tensors only in a process whose allocator was set up before anything
was allocated (every allocation of 4 KiB or more its own mmap, as benchmarks/plan_validation.py does): inside
a test worker that has run other tests, freed and fragmented heap pages make the same update read 15 to 32 MB.

    python tests/model/peak_child.py MODEL update SIDE   ->  {"measured": bytes, "prompt_length": tokens}
    python tests/model/peak_child.py MODEL adamw         ->  {"measured": bytes}
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rarl.utils.peak_memory import exact_allocations, peak_memory

exact_allocations()  # before torch allocates anything

import torch  # noqa: E402

from conftest import conversation  # noqa: E402  (this folder is sys.path[0] when run as a script)
from rarl.model import encode_prompts, load_policy, token_logprobs  # noqa: E402


def update_peak(model: Path, side: int) -> dict:
    """One update micro-batch as `policy_update` runs it: 4 rows of one prompt with 4 images, 64 completion
    tokens, image features from an earlier pass, gradients None as in a step's first micro-batch."""
    policy = load_policy(model, min_pixels=side * side, max_pixels=side * side)
    prompts = encode_prompts(policy, [conversation(4, seed=3, size=(side, side))] * 4)
    ids = torch.randint(10, 200, (4, 64), generator=torch.Generator().manual_seed(0))
    mask, groups = torch.ones_like(ids), torch.zeros(4, dtype=torch.long)
    policy.model.train()
    with torch.no_grad():  # the rollout has encoded the images
        token_logprobs(policy.model, prompts, ids, mask, prompt_groups=groups)

    def update() -> None:
        logp, entropy = token_logprobs(
            policy.model, prompts, ids, mask, return_entropy=True, prompt_groups=groups
        )
        float(entropy.detach().sum())
        (-logp.sum()).backward()
        policy.model.zero_grad(
            set_to_none=True
        )  # freed after the peak; the next reading starts at None again

    update()  # one-time allocations (autograd's workers, kernel workspaces) are not the plan's business
    return {"measured": min(peak_memory(update) for _ in range(3)), "prompt_length": prompts.prompt_length}


def adamw_peak(model: Path) -> dict:
    """One foreach AdamW step after the moments exist (torch's default for CUDA parameters; forced on CPU)."""
    policy = load_policy(model)
    trainable = [p for p in policy.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-3, foreach=True)
    for p in trainable:
        p.grad = torch.randn_like(p)
    optimizer.step()
    return {"measured": min(peak_memory(optimizer.step) for _ in range(3))}


if __name__ == "__main__":
    folder, what = Path(sys.argv[1]), sys.argv[2]
    result = update_peak(folder, int(sys.argv[3])) if what == "update" else adamw_peak(folder)
    print(json.dumps(result))
