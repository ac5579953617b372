"""The GPU inside the sandbox, only when a profile asks for it (`mdl grade capstone --profile gpu`).

bubblewrap gives the kernel a fresh `/dev` holding only null, zero, random and the like, so CUDA
sees no GPU there.  For the `gpu` profile the sandbox adds, and adds nothing else:

- the NVIDIA device nodes the driver needs (`/dev/nvidia0...`, `/dev/nvidiactl`, `/dev/nvidia-uvm`,
  `/dev/nvidia-uvm-tools`, `/dev/nvidia-modeset`, `/dev/nvidia-caps/*`), bound as devices;
- the driver's user-space libraries (`libcuda.so`, `libnvidia-*.so`) read-only, where they live
  outside `/usr` and `/lib` (which the sandbox binds anyway);
- `/sys` read-only: CUDA reads the PCI topology and NUMA nodes there.

Network, PID and IPC namespaces, the separate user, the private file system, the time and process
limits stay as on CPU.  The one limit that changes is memory: CUDA reserves far more virtual
address space at start-up than any sensible RLIMIT_AS (tens of GB, never touched), so on GPU the
kernel's memory is bounded with RLIMIT_DATA (private writable memory: the host memory a process
really uses) instead, and the GPU's own memory is not bounded by the sandbox (see README).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

DEV_ROOT = Path("/dev")  # tests point this at a folder of fake device nodes
DEVICE_PATTERNS = ("nvidia[0-9]*", "nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset")
ALREADY_BOUND = ("/usr/", "/lib/", "/lib64/", "/lib32/")
DRIVER_LIBRARIES = ("libcuda.so", "libnvidia-ml.so", "libnvidia-ptxjitcompiler.so", "libnvidia-nvvm.so")
GPU_ENVIRONMENT = ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER")


class GpuUnavailable(RuntimeError):
    """The profile asks for a GPU and this machine shows none."""


def nvidia_device_nodes(dev: Path | None = None) -> list[Path]:
    """The NVIDIA device nodes under `dev` (default /dev), in a stable order."""
    dev = dev or DEV_ROOT
    nodes: set[Path] = set()
    for pattern in DEVICE_PATTERNS:
        nodes.update(p for p in dev.glob(pattern) if not p.is_dir())
    caps = dev / "nvidia-caps"
    if caps.is_dir():
        nodes.update(p for p in caps.iterdir() if not p.is_dir())
    return sorted(nodes)


def driver_library_dirs() -> list[Path]:
    """Folders outside /usr and /lib that hold the driver's libraries (from the linker's cache)."""
    try:
        listing = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    folders = set()
    for line in listing.splitlines():
        name, _, target = line.partition("=>")
        if any(name.strip().startswith(lib) for lib in DRIVER_LIBRARIES):
            folder = Path(target.strip()).resolve().parent
            if not str(folder).startswith(ALREADY_BOUND) and folder.is_dir():
                folders.add(folder)
    return sorted(folders)


def gpu_bwrap_args(dev: Path | None = None, library_dirs: list[Path] | None = None) -> list[str]:
    """bubblewrap arguments that make the GPU usable inside the sandbox (after `--dev /dev`)."""
    dev = dev or DEV_ROOT
    nodes = nvidia_device_nodes(dev)
    if not nodes:
        raise GpuUnavailable(f"the gpu profile needs the NVIDIA device nodes ({dev}/nvidia*), and this machine has "
                             "none: grade on a GPU runner, or use --profile cpu")
    args: list[str] = []
    if (dev / "nvidia-caps").is_dir():
        args += ["--dir", "/dev/nvidia-caps"]
    for node in nodes:
        args += ["--dev-bind", str(node), f"/dev/{node.relative_to(dev)}"]
    for folder in driver_library_dirs() if library_dirs is None else library_dirs:
        args += ["--ro-bind", str(folder), str(folder)]
    args += ["--ro-bind-try", "/sys", "/sys"]
    return args


def gpu_environment() -> dict[str, str]:
    """The variables that choose the GPU, passed into the kernel's otherwise fixed environment."""
    return {key: os.environ[key] for key in GPU_ENVIRONMENT if key in os.environ}
