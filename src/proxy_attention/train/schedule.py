"""Training schedules written as in the thesis: ``[5, p, 9, p, 9, p, 9, p, 4]``.

Numbers are training epochs, ``p`` is a proxy step. A schedule alternates
epochs and proxy steps and starts and ends with epochs, so it splits into
*rounds*: round 0 is the epochs before the first proxy step, round ``r`` the
epochs after proxy step ``r``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from proxy_attention.errors import ScheduleError

PROXY = "p"




@dataclass(frozen=True)
class Schedule:
    round_epochs: tuple[int, ...]

    @property
    def n_proxy_steps(self) -> int:
        return len(self.round_epochs) - 1

    @property
    def total_epochs(self) -> int:
        return sum(self.round_epochs)

    def epoch_range(self, round_: int) -> tuple[int, int]:
        """Global epoch indices ``[start, stop)`` trained in ``round_``."""
        if not 0 <= round_ < len(self.round_epochs):
            raise ScheduleError(f"round {round_} is outside this schedule ({self.tag})")
        start = sum(self.round_epochs[:round_])
        return start, start + self.round_epochs[round_]

    @property
    def tag(self) -> str:
        """Compact, path-safe name: ``[2, p, 2, p, 2]`` -> ``2p2p2``."""
        return PROXY.join(str(e) for e in self.round_epochs)

    def as_list(self) -> list:
        out: list = []
        for i, e in enumerate(self.round_epochs):
            if i:
                out.append(PROXY)
            out.append(e)
        return out


def parse_schedule(spec) -> Schedule:
    """Parse a schedule given as a list (``[2, "p", 2]``), a string (``"[2, p, 2]"``) or a tag (``"2p2"``)."""
    if isinstance(spec, Schedule):
        return spec
    if isinstance(spec, str):
        s = spec.strip()
        if re.fullmatch(r"\d+(p\d+)*", s):
            items = s.replace(PROXY, f",{PROXY},").split(",")
        else:
            items = [t.strip().strip("'\"") for t in s.strip("[]").split(",")]
    elif isinstance(spec, (list, tuple)):
        items = list(spec)
    else:
        raise ScheduleError(f"schedule must be a list like [2, p, 2], got {spec!r}")
    if not items or items == [""]:
        raise ScheduleError("schedule is empty; write it like [2, p, 2, p, 2]")
    epochs: list[int] = []
    expect_epochs = True
    for pos, item in enumerate(items):
        is_proxy = str(item).strip().lower() == PROXY
        if expect_epochs:
            if is_proxy:
                raise ScheduleError(
                    f"schedule {spec!r}: item {pos} is 'p' but epochs were expected; "
                    "a schedule starts and ends with epochs and alternates epochs and 'p'"
                )
            text = str(item).strip()
            if not re.fullmatch(r"-?\d+(\.\d*)?", text):
                raise ScheduleError(f"schedule {spec!r}: item {pos} ({item!r}) is neither a number of epochs nor 'p'")
            if not re.fullmatch(r"\d+", text) or int(text) < 1:
                raise ScheduleError(f"schedule {spec!r}: item {pos} ({item!r}) must be a positive whole number of epochs")
            epochs.append(int(text))
        elif not is_proxy:
            raise ScheduleError(
                f"schedule {spec!r}: item {pos} ({item!r}) follows epochs, so it must be 'p'; "
                "a schedule alternates epochs and proxy steps"
            )
        expect_epochs = not expect_epochs
    if expect_epochs:
        raise ScheduleError(f"schedule {spec!r} ends with 'p'; it must end with epochs")
    return Schedule(tuple(epochs))
