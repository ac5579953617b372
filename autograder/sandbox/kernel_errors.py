"""The errors a student kernel raises when it cannot answer: out of time, ended, or not speaking the protocol."""

from __future__ import annotations


class KernelError(Exception):
    """The kernel could not answer."""


class KernelTimeout(KernelError):
    """The kernel did not answer before the hard deadline and was stopped."""


class KernelDied(KernelError):
    """The kernel process ended (crash, ``os._exit``, killed for memory ...).

    ``out_of_memory`` says the system's out-of-memory killer ended it: the grader classifies the
    cell by this flag, never by the message's words (which are in the run's language).
    """

    def __init__(self, message: str = "", *, out_of_memory: bool = False) -> None:
        super().__init__(message)
        self.out_of_memory = out_of_memory


class KernelProtocolError(KernelDied):
    """The kernel answered something that is not a reply (a tampered agent); it was stopped."""
