"""What every command shares: one-line errors, the flags behind argument names."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping, Sequence

import click

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

#: ``--trade-off`` and ``--starts``: how the flexible attack weighs and searches, the
#: same in every command that runs it.
TRADE_OFF = click.option(
    "--trade-off",
    "trade_off",
    type=click.Choice(("share", "paper")),
    default="share",
    show_default=True,
    help="How alpha weighs effect against concealment: 'share' means the same on "
    "any data (alpha is the share of each point's effect given up to hide it "
    "closer to the data's centre; 0.5 keeps half of what a point can do); "
    "'paper' is the paper's W = alpha*C +/- (1 - alpha)*E, whose balance depends "
    "on the number of rows and the units.",
)
STARTS = click.option(
    "--starts",
    metavar="INTEGER",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Descents per poison point (the paper's start and clones with other "
    "responses or labels); the best is kept. 1 = the paper's single start.",
)
PASSES = click.option(
    "--passes",
    metavar="INTEGER",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Passes over the poison points: after the first, every point is crafted "
    "again given all the others (the cyclic scheme of Jagielski et al. 2018); each "
    "pass costs about as much as the first.",
)


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


@contextlib.contextmanager
def user_errors(
    flags: Mapping[str, str] | None = None, columns: Sequence[str] | None = None
) -> Iterator[None]:
    """Turn refusals (flexpoison's errors, file-system errors) into one line
    ``Error: …`` and exit status 1, never a traceback.

    flexpoison's messages start with the argument's name (``alpha: …``); ``flags``
    maps such names to the command's options (``--alpha``). Once a data file is read,
    ``columns`` (filled in place with the feature columns' names) makes "feature j" in
    a message name the file's column instead."""
    from ..errors import FlexPoisonError

    try:
        yield
    except FlexPoisonError as exc:
        message = one_line(exc)
        name, colon, rest = message.partition(": ")
        if colon and flags and name in flags:
            message = f"{flags[name]}: {rest}"
        if columns:
            message = re.sub(
                r"\bfeature (\d+)\b",
                lambda m: (
                    f"column {columns[int(m.group(1))]!r}"
                    if int(m.group(1)) < len(columns)
                    else m.group(0)
                ),
                message,
            )
        raise click.ClickException(message) from None
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        raise click.ClickException(f"{where}{exc.strerror or one_line(exc)}") from None


__all__ = ["CONTEXT", "one_line", "user_errors"]
