"""The one base class of the errors a user can cause, so a command tells them from bugs in our own code.

A missing or corrupt file, an unknown model name, a size a model cannot take, an option that cannot work: each raises
a subclass of ``UserError`` whose message names the file or the setting and the problem, and the commands print it as
one line. Anything else that escapes a command is a bug here and shows its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """Something the user gave cannot be used; the message says which and why, in one line."""

    def one_line(self) -> str:
        """The message as the commands print it. An error re-raised from a DataLoader worker carries the worker's
        traceback in its message: its last line is the worker's own message."""
        msg = str(self.args[0]) if self.args else type(self).__name__
        if msg.startswith("Caught ") and "Original Traceback" in msg:
            msg = msg.strip().splitlines()[-1].split(": ", 1)[-1]
        return " ".join(line.strip() for line in msg.splitlines() if line.strip())


class UnknownModelError(UserError):
    """A model name that is not registered, or a ``module:callable`` factory that does not import or build."""


class InputSizeError(UserError):
    """An input size a model cannot take (not a multiple of its total downsampling)."""


class DeviceError(UserError):
    """A device this machine does not have."""


class OutputError(UserError):
    """A file or folder that cannot be written where the user asked (a file in the way, a read-only or virtual
    file system, no permission, no space)."""


class ModelOutputError(UserError):
    """A model's output is not a portrait model's (two-class logits for the batch it was given)."""
