"""Domain errors of the engine: bad input gets a code for machines and a message for people."""

from __future__ import annotations


class SwapError(Exception):
    """Base class of every error the engine raises on purpose."""


class PhotoRejected(SwapError):
    """The visitor's photo cannot give a good result; `message` tells the visitor what to do instead.

    `code` is stable and machine-readable (e.g. ``"no_face"``, ``"multiple_faces"``), so the platform
    can count failures by cause and translate the message.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message


class TemplateError(SwapError):
    """A poster or film template is unusable (no face, corrupt file, too short); `code` + editor message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message
