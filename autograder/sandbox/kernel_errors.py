"""The errors a student kernel raises when it cannot answer: out of time, ended, or not speaking the protocol."""

from __future__ import annotations


class KernelError(Exception):
    """The kernel could not answer."""


class KernelTimeout(KernelError):
    """The kernel did not answer before the hard deadline and was stopped."""


class KernelDied(KernelError):
    """The kernel process ended (crash, ``os._exit``, killed for memory ...)."""


class KernelProtocolError(KernelDied):
    """The kernel answered something that is not a reply (a tampered agent); it was stopped."""
