"""Two supervised updates of the tiny Qwen2.5-VL under torch FSDP2 (`fully_shard`) on CPU processes (gloo).

Run alone it is the 1-process reference; under `torchrun --nproc_per_node 2` each rank shards every decoder
layer and the root module over a 2-rank CPU mesh and takes half of the same global batch (4 samples with
their images and reference answers, equal answer lengths so each rank's token mean is a quarter of the global
one). The loss is the project's own: `encode_prompts` / `encode_completions` / `token_logprobs` and the SFT
`nll_loss`, normalised by the global token count. Rank 0 saves the full parameters (DTensors gathered).

    python fsdp2_worker.py MODEL MANIFEST OUT [sgd|adamw]
    torchrun --standalone --nproc_per_node 2 fsdp2_worker.py MODEL MANIFEST OUT [sgd|adamw]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist


def main() -> None:
    model_dir, manifest, out = (Path(a) for a in sys.argv[1:4])
    optimizer_name = sys.argv[4] if len(sys.argv) > 4 else "sgd"
    torch.set_num_threads(1)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        dist.init_process_group("gloo")

    from rarl.model import encode_completions, encode_prompts, load_policy, token_logprobs
    from rarl.recipes import get_recipe
    from rarl.train.sft import nll_loss

    recipe = get_recipe("rarl")
    samples = recipe.load_samples(str(manifest), "train", (1, 2))[:4]
    policy = load_policy(model_dir, dtype="float32")
    model = policy.model
    model.train()
    answers = [recipe.reference_answer(s) for s in samples]
    ids, mask = encode_completions(policy, answers)  # [4, T]
    mask[:, int(mask.sum(-1).min()) :] = 0  # equal lengths: the global token mean splits evenly over ranks
    n_tok = int(mask.sum())
    prompts = encode_prompts(policy, [recipe.messages(s) for s in samples])
    if world > 1:
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        mesh = init_device_mesh("cpu", (world,))
        for layer in model.model.language_model.layers:
            fully_shard(layer, mesh=mesh)
        fully_shard(model, mesh=mesh)
    params = list(model.parameters())
    opt = torch.optim.SGD(params, lr=0.5) if optimizer_name == "sgd" else torch.optim.AdamW(params, lr=1e-3)
    share = slice(rank * 4 // world, (rank + 1) * 4 // world)
    local = torch.arange(4)[share]
    losses = []
    for _ in range(2):
        logp = token_logprobs(model, prompts.select(local), ids[local], mask[local])
        loss = nll_loss(logp, mask[local], n_tok) * world  # FSDP averages gradients over ranks
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        total = loss.detach() / world  # this rank's share of the global token-mean loss
        if world > 1:
            dist.all_reduce(total)
        losses.append(float(total))
    state = {}
    for k, v in model.state_dict().items():
        full = v.full_tensor() if hasattr(v, "full_tensor") else v
        state[k] = full.detach().clone()
    if rank == 0:
        torch.save({"state": state, "losses": losses}, out / f"fsdp2-{optimizer_name}-world{world}.pt")
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
