"""Progress on stderr: a tqdm bar on a terminal, plain lines in a log.

Every loop that shows progress (the crafted points, the frontier's attacks, the
reproduction's α grid, a sweep's runs) takes ``progress``, one of

* ``False`` — nothing (the library's default);
* ``None`` — a tqdm bar if stderr is a terminal, nothing otherwise;
* ``True`` — a tqdm bar if stderr is a terminal; otherwise, so that a log stays
  readable, plain lines such as ``poison points: 40/200 (20%) 12.3 s``, at most one
  per :data:`PLAIN_INTERVAL` seconds per loop, plus one when the loop completes.

The command line passes ``True`` unless ``--quiet``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

#: Least number of seconds between two plain progress lines of one loop.
PLAIN_INTERVAL = 10.0


def progress_bar(
    iterable: Iterable | None = None,
    *,
    progress: bool | None,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    initial: int = 0,
    **tqdm_options: Any,
) -> Any:
    """A tqdm bar or a :class:`PlainProgress`, as ``progress`` asks (module docstring).

    Both offer what flexpoison's loops use of tqdm: iteration, ``update``,
    ``set_postfix``, ``set_postfix_str`` and ``close``."""
    stream = sys.stderr
    if progress is True and not _isatty(stream):
        return PlainProgress(iterable, total=total, desc=desc, initial=initial, file=stream)
    from tqdm.auto import tqdm

    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        initial=initial,
        disable=None if progress is None else not progress,
        **tqdm_options,
    )


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no such method, or a closed stream
        return False


class PlainProgress:
    """Progress as whole lines (``desc: n/total (p%) t s[, postfix]``) on ``file``, at a
    bounded rate: at most one line per ``interval`` seconds, and one when ``total`` is
    reached (a loop that ends early, by an error or an interrupt, says nothing more)."""

    def __init__(
        self,
        iterable: Iterable | None = None,
        *,
        total: int | None = None,
        desc: str = "",
        initial: int = 0,
        file: TextIO | None = None,
        interval: float | None = None,
    ) -> None:
        if total is None and iterable is not None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except TypeError:
                total = None
        self.iterable = iterable
        self.total = total
        self.desc = desc
        self.n = initial
        self.file = file if file is not None else sys.stderr
        self.interval = PLAIN_INTERVAL if interval is None else interval
        self.postfix = ""
        self._start = time.perf_counter()
        self._last = self._start
        self._finished = False

    def __iter__(self) -> Iterator:
        if self.iterable is None:
            raise TypeError("PlainProgress: nothing to iterate over")
        for item in self.iterable:
            yield item
            self.update()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.perf_counter()
        done = self.total is not None and self.n >= self.total
        if done and not self._finished:
            self._finished = True
            self._write(now)
        elif not done and now - self._last >= self.interval:
            self._write(now)

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = str(s)

    def set_postfix(self, ordered_dict: Any = None, refresh: bool = True, **kwargs: Any) -> None:
        items = dict(ordered_dict or {}, **kwargs)
        self.postfix = ", ".join(f"{key}={value}" for key, value in items.items())

    def close(self) -> None:
        pass

    def line(self, now: float | None = None) -> str:
        """The text of the line for the current state."""
        elapsed = (time.perf_counter() if now is None else now) - self._start
        if self.total:
            count = f"{self.n}/{self.total} ({self.n / self.total:.0%})"
        else:
            count = str(self.n)
        text = f"{self.desc}: {count} {elapsed:.1f} s"
        if self.total and 0 < self.n < self.total:  # the rate so far, to the end
            text += f" (about {_duration(elapsed / self.n * (self.total - self.n))} left)"
        return f"{text}, {self.postfix}" if self.postfix else text

    def _write(self, now: float) -> None:
        self._last = now
        try:
            print(self.line(now), file=self.file, flush=True)
        except (OSError, ValueError):  # a closed or broken stream: progress is optional
            pass


def _duration(seconds: float) -> str:
    """``40 s``, ``3 min``, ``2.5 h``: a duration at the precision an estimate has."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def note(progress: bool | None, text: str) -> None:
    """One line on stderr where ``progress`` shows progress (module docstring): a word
    before a long step, e.g. what a large problem will cost (nothing if empty)."""
    stream = sys.stderr
    if not text or progress is False or (progress is None and not _isatty(stream)):
        return
    if _isatty(stream):
        from tqdm.auto import tqdm

        tqdm.write(text, file=stream)
        return
    try:
        print(text, file=stream, flush=True)
    except (OSError, ValueError):
        pass


__all__ = ["PLAIN_INTERVAL", "PlainProgress", "progress_bar", "note"]
