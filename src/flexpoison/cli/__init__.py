"""The ``flexpoison`` command line: one thin module per command.

Each command parses its options, calls the library and writes; user mistakes
(bad options, malformed files, refused settings) end in one line ``Error: ...`` and a
non-zero exit status, never a traceback (:func:`flexpoison.cli.common.user_errors`).
Commands are imported only when they run or show their help, and import the
numerical stack only inside their bodies, so ``flexpoison --help`` answers at once.
"""

from __future__ import annotations

from importlib import import_module

import click

from .. import __version__
from .common import CONTEXT

#: command name → (module, function): the table of contents of the command line.
COMMANDS = {
    "attack": ("flexpoison.cli.attack", "attack"),
    "certify": ("flexpoison.cli.certify", "certify"),
    "reproduce": ("flexpoison.cli.reproduce", "reproduce"),
    "frontier": ("flexpoison.cli.frontier", "frontier"),
    "sweep": ("flexpoison.cli.sweep", "sweep"),
    "plot": ("flexpoison.cli.sweep", "plot"),
}


class _LazyGroup(click.Group):
    """A group whose commands are imported on first use (click's lazy-loading recipe)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, name = COMMANDS[cmd_name]
        try:
            return getattr(import_module(module), name)
        except KeyboardInterrupt:  # Ctrl-C while the command loads: exit as interrupted
            click.echo("interrupted", err=True)
            eval("None")  # clears CPython's "unhandled" mark: see cli.sweep._interrupt_exits
            ctx.exit(130)


@click.group(cls=_LazyGroup, context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="flexpoison")
def main() -> None:
    """flexpoison: flexible data-poisoning attacks (Jiang et al.) against
    scikit-learn models.

    Run 'flexpoison COMMAND --help' for the options of a command.
    """
    import warnings

    from ..errors import FlexPoisonWarning

    # each command reports a weak or failed attack in its own words (a line on stderr,
    # a field in its result files), not as Python's warning with a source line
    warnings.simplefilter("ignore", FlexPoisonWarning)


__all__ = ["main", "COMMANDS"]
