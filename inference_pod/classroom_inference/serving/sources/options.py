"""How a source is opened and paced; the URL's query can say the same for file and synthetic."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceOptions:
    """`None` means: as the URL's query says (`?loop=1`, `?realtime=0`), else the default.

    open_timeout_s bounds connecting and reading the stream's header; read_timeout_s bounds the
    wait for the next packet of an open stream, so a stalled camera raises instead of hanging.
    """

    open_timeout_s: float = 10.0
    read_timeout_s: float = 5.0
    loop: bool | None = None  # file: start again at the end (default: end)
    realtime: bool | None = None  # file, http(s), synthetic: pace at the frame rate (default: yes)

    def __post_init__(self) -> None:
        for name in ("open_timeout_s", "read_timeout_s"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(
                    f"SourceOptions.{name} is {value!r}; give a positive number of seconds"
                )
