"""``python -m flexpoison``: the same command line as the ``flexpoison`` script."""

from .cli import main

if __name__ == "__main__":
    main(prog_name="flexpoison")
