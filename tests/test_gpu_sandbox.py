"""The GPU inside the sandbox, tested without a GPU: device nodes are faked in a temporary folder.

What is checked: the sandbox's arguments with and without device nodes present, that nothing else
of the sandbox changes when the GPU is passed through, that a kernel really starts with the faked
nodes visible (and without them when the profile does not ask), and the memory limit that CUDA
allows (RLIMIT_DATA instead of RLIMIT_AS).
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

import grading_config
from autograder import gpu
from autograder.sandbox import Kernel, _bwrap_command, isolation
from mdl_student.codec import decode_value

ISO = isolation()
needs_bubblewrap = pytest.mark.skipif(ISO.mechanism != "bubblewrap", reason=f"needs bubblewrap; this machine grades with '{ISO.mechanism}'")


@pytest.fixture
def fake_dev(tmp_path, monkeypatch):
    dev = tmp_path / "dev"
    (dev / "nvidia-caps").mkdir(parents=True)
    for name in ("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset",
                 "nvidia-caps/nvidia-cap1", "null", "sda", "nvme0n1"):
        (dev / name).write_text("")
    monkeypatch.setattr(gpu, "DEV_ROOT", dev)
    return dev


def _binds(args: list[str]) -> dict[str, str]:
    return {args[i + 2]: args[i + 1] for i, a in enumerate(args) if a == "--dev-bind"}


def test_every_nvidia_node_and_nothing_else_is_bound(fake_dev):
    args = gpu.gpu_bwrap_args(library_dirs=[])
    assert _binds(args) == {f"/dev/{n}": str(fake_dev / n) for n in (
        "nvidia-caps/nvidia-cap1", "nvidia-modeset", "nvidia-uvm", "nvidia-uvm-tools", "nvidia0", "nvidia1", "nvidiactl")}
    assert ["--ro-bind-try", "/sys", "/sys"] == args[-3:]


def test_driver_libraries_outside_usr_are_bound_read_only(fake_dev, tmp_path):
    args = gpu.gpu_bwrap_args(library_dirs=[tmp_path / "driver"])
    i = args.index(str(tmp_path / "driver"))
    assert args[i - 1] == "--ro-bind" and args[i + 1] == str(tmp_path / "driver")


def test_no_device_nodes_is_a_message_not_a_broken_sandbox(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu, "DEV_ROOT", tmp_path)
    with pytest.raises(gpu.GpuUnavailable, match="NVIDIA device nodes"):
        gpu.gpu_bwrap_args(library_dirs=[])


def test_the_gpu_changes_nothing_else_in_the_sandbox(fake_dev, monkeypatch):
    monkeypatch.setattr(gpu, "driver_library_dirs", lambda: [])
    cpu = _bwrap_command({}, grading_config.LIMITS)
    with_gpu = _bwrap_command({}, grading_config.gpu_limits(grading_config.LIMITS))
    assert not any("nvidia" in a for a in cpu)
    extra = gpu.gpu_bwrap_args(library_dirs=[])
    # the GPU profile adds exactly the GPU's arguments; every namespace, bind and limit of the CPU one stays
    assert [a for a in with_gpu if a not in extra] == [a for a in cpu if a not in extra]
    for flag in ("--unshare-net", "--unshare-pid", "--unshare-ipc", "--die-with-parent", "--clearenv"):
        assert flag in with_gpu


def test_cpu_limits_cap_the_address_space_and_gpu_limits_the_data_segment():
    assert grading_config.LIMITS.memory_limit == "address-space" and not grading_config.LIMITS.gpu
    limits = grading_config.gpu_limits(grading_config.LIMITS)
    assert limits.gpu and limits.memory_limit == "data"


@needs_bubblewrap
@pytest.mark.parametrize("asks_for_gpu", [False, True])
def test_a_kernel_sees_the_gpu_nodes_only_when_the_profile_asks(fake_dev, monkeypatch, asks_for_gpu):
    monkeypatch.setattr(gpu, "driver_library_dirs", lambda: [])
    limits = grading_config.gpu_limits(grading_config.LIMITS) if asks_for_gpu else grading_config.LIMITS
    limits = dataclasses.replace(limits, memory_mb=2048)
    release = grading_config.PATHS.release / "a1" / "a1.ipynb"
    with Kernel({"a1.ipynb": release}, limits=limits) as kernel:
        reply = kernel.run_cell("import os, resource\nnodes = sorted(n for n in os.listdir('/dev') if 'nvidia' in n)\n"
                                "limits = [resource.getrlimit(resource.RLIMIT_AS)[0], resource.getrlimit(resource.RLIMIT_DATA)[0]]\n"
                                "net = sorted(os.listdir('/sys/class/net')) if os.path.isdir('/sys/class/net') else []", 10)
        assert reply["ok"], reply
        answers = kernel.lookup(["nodes", "limits"])
        nodes = decode_value(answers["nodes"]["value"])
        address_space, data = decode_value(answers["limits"]["value"])
    if asks_for_gpu:
        assert set(nodes) >= {"nvidia0", "nvidiactl", "nvidia-uvm", "nvidia-caps"}
        assert data == 2048 * 1024 * 1024 and address_space == -1  # RLIM_INFINITY
    else:
        assert nodes == []
        assert address_space == 2048 * 1024 * 1024


def test_mdl_grade_with_the_gpu_profile_on_a_machine_without_one_says_so(tmp_path):
    if gpu.nvidia_device_nodes():
        pytest.skip("this machine has an NVIDIA GPU: the refusal cannot happen here")
    (tmp_path / "subs").mkdir()
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", "capstone", str(tmp_path / "subs"), "--out",
                           str(tmp_path / "out"), "--profile", "gpu"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "needs an NVIDIA GPU" in done.stderr and "Traceback" not in done.stderr
