"""Make `import torchvision` work in a CPU-only environment whose torchvision is a CUDA build.

The package registry has no CPU build of torchvision for the CPU build of torch 2.13, and vLLM's CPU build
pulls in a CUDA one. Its C++ ops then fail to load (expected on a CPU-only torch), after which its import
fails outright: it registers fake kernels for two ops (`torchvision::nms`, `torchvision::qnms`) that only the
C++ library defines. transformers' Qwen2-VL image processor (which vLLM imports) needs only torchvision's
pure-PyTorch transforms. This script checks `import torchvision` in the given interpreter and, only if it
fails in exactly that way, installs a start-up hook (`.pth` + module in site-packages) that defines the two
schemas without kernels, then checks the import again. Anywhere torchvision imports as it is, it does nothing.

    python scripts/torchvision_cpu_shim.py .venv-vllm/bin/python
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SHIM = '''"""Defines torchvision's nms/qnms schemas (no kernels) so its import succeeds without its C++ ops; written by
rarl's scripts/torchvision_cpu_shim.py for CPU-only environments."""

import torch

try:
    _LIB = torch.library.Library("torchvision", "DEF")  # kept alive: the schemas live as long as it does
    _LIB.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _LIB.define("qnms(Tensor qdets, Tensor qscores, float iou_threshold) -> Tensor")
except RuntimeError:  # torchvision's own ops loaded first: nothing to do
    pass
'''
NAME = "_rarl_torchvision_cpu_shim"


def _imports(python: str) -> tuple[bool, str]:
    proc = subprocess.run(
        [python, "-c", "import torchvision.transforms.v2.functional"],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode == 0, proc.stderr


def main(python: str) -> int:
    ok, err = _imports(python)
    if ok:
        print("torchvision imports as it is: no shim needed")
        return 0
    if "torchvision::nms does not exist" not in err:
        if "No module named 'torchvision'" in err:
            print("torchvision is not installed: nothing to do")
            return 0
        print(f"torchvision fails to import for another reason:\n{err[-2000:]}", file=sys.stderr)
        return 1
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    (Path(site) / f"{NAME}.py").write_text(SHIM)
    (Path(site) / f"{NAME}.pth").write_text(f"import {NAME}\n")
    ok, err = _imports(python)
    if not ok:
        print(f"the shim did not help:\n{err[-2000:]}", file=sys.stderr)
        return 1
    print(f"installed {NAME} in {site}: torchvision imports (its C++ ops stay unavailable)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else sys.executable))
