"""The seccomp filter every kernel runs under: the kernel-keyring system calls fail, everything else runs."""

from __future__ import annotations

import struct

# Kernel keyrings outlive the processes that fill them (a uid's user and persistent keyrings, the
# session keyring a kernel inherits): a channel from one submission to the next graded in the same
# slot.  No notebook needs them, so the key system calls fail with ENOSYS, as on a kernel built
# without keys.  Numbers by audit architecture: add_key, request_key, keyctl.
_KEY_SYSCALLS: dict[int, tuple[int, ...]] = {
    0xC000003E: (248, 249, 250, 0x40000000 | 248, 0x40000000 | 249, 0x40000000 | 250),  # x86_64 and x32
    0x40000003: (286, 287, 288),  # i386 (32-bit code on an x86_64 kernel)
    0xC00000B7: (217, 218, 219),  # aarch64
    0x40000028: (309, 310, 311),  # arm
}
_BPF_LD_W_ABS, _BPF_JEQ_K, _BPF_RET_K = 0x20, 0x15, 0x06
_SECCOMP_RET_ALLOW, _SECCOMP_RET_ERRNO, _ENOSYS = 0x7FFF0000, 0x00050000, 38
_SECCOMP_DATA_NR, _SECCOMP_DATA_ARCH = 0, 4  # offsets in struct seccomp_data


def seccomp_filter() -> bytes:
    """A seccomp program (classic BPF, ``struct sock_filter[]``): the key system calls fail, all else runs.

    Built here rather than with libseccomp, which is not a dependency.  Per architecture: load the
    architecture, skip the block if it differs, load the call number, jump to "deny" on a match.
    """
    program: list[tuple[int, int | str, int | str, int]] = [(_BPF_LD_W_ABS, 0, 0, _SECCOMP_DATA_ARCH)]
    for arch, numbers in _KEY_SYSCALLS.items():
        program.append((_BPF_JEQ_K, 0, len(numbers) + 2, arch))  # another architecture: skip this block
        program.append((_BPF_LD_W_ABS, 0, 0, _SECCOMP_DATA_NR))
        program += [(_BPF_JEQ_K, "deny", 0, nr) for nr in numbers]
        program.append((_BPF_RET_K, 0, 0, _SECCOMP_RET_ALLOW))
    program.append((_BPF_RET_K, 0, 0, _SECCOMP_RET_ALLOW))  # an architecture not listed
    deny = len(program)
    program.append((_BPF_RET_K, 0, 0, _SECCOMP_RET_ERRNO | _ENOSYS))
    out = bytearray()
    for index, (code, jt, jf, k) in enumerate(program):
        jt_off = deny - index - 1 if jt == "deny" else jt
        out += struct.pack("=HBBI", code, jt_off, jf, k)  # type: ignore[arg-type]
    return bytes(out)
