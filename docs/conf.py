"""Sphinx configuration of flexpoison's documentation.

Build (from the repository's root)::

    pip install -e '.[docs]'
    sphinx-build -W --keep-going -b html docs docs/_build/html

The API reference is generated from the docstrings (autodoc, autosummary, numpydoc);
the command-line page from the Click commands (sphinx-click); the examples gallery by
running every ``examples/plot_*.py`` script (sphinx-gallery).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tempfile
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

# -- Project -----------------------------------------------------------------------

project = "flexpoison"
author = "the flexpoison developers"
copyright = "the flexpoison developers"
try:
    release = version("flexpoison")
except PackageNotFoundError:  # pragma: no cover - the docs need an installed package
    raise RuntimeError("install flexpoison first: pip install -e '.[docs]'") from None
version = ".".join(release.split(".")[:2])

# -- General -----------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    # MathJax 3 itself, copied into _static/mathjax: the maths renders without a network.
    "sphinx-mathjax-offline",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_click",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "_generated",
    "_snippets",
    "**.ipynb_checkpoints",
    "auto_examples/*.ipynb",
]
# Writing "θ₀" and "‖x‖" in reST is common here; keep the default role plain text.
default_role = None
# ``code`` is the reST role; the docstrings use ``double back-quotes`` for literals.
highlight_language = "python3"
# Quotes and ellipses only: "--seed" in the command-line help must not become an en dash.
smartquotes_action = "qe"

# -- autodoc / autosummary / numpydoc ----------------------------------------------

autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": False}
# The docstrings state types in numpydoc's Parameters sections; signatures stay short.
autodoc_typehints = "none"
autodoc_member_order = "bysource"
autodoc_inherit_docstrings = True
# Methods are listed by the class template (autoclass :members:), not by numpydoc.
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- sphinx-gallery ------------------------------------------------------------------

# Each example is a script that runs in a few seconds; the gallery runs them at every
# build. Only ``plot_*.py`` files directly in examples/ are collected and run: a
# sub-folder without a GALLERY_HEADER.rst (such as examples/pending/) is not part of
# the gallery.
sphinx_gallery_conf = {
    "examples_dirs": ["../examples"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "FileNameSortKey",
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "remove_config_comments": True,
    "download_all_examples": False,
    "min_reported_time": 0,
    # The computation-times page loads jQuery and DataTables from CDNs: not written, so
    # that every page works offline.
    "write_computation_times": False,
    "show_memory": False,
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
}

# The examples call the attack with short budgets on purpose; they print the
# FlexPoisonWarnings they mean to show, the rest stay out of the build log.
os.environ.setdefault("MPLBACKEND", "Agg")
warnings.filterwarnings("ignore", message="Matplotlib is currently using agg")

# -- HTML --------------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"flexpoison {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    # The examples' pages (auto_examples/) give the code the room of the page's
    # table of contents: every other page has one.
    "secondary_sidebar_items": {
        page: ["page-toc"] for page in ("index", "getting_started", "maths", "cli", "api/**")
    },
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
html_show_sourcelink = False
# Code blocks and printed output wrap at the page's edge (_static/flexpoison.css).
html_static_path = ["_static"]
html_css_files = ["flexpoison.css"]
html_context = {"default_mode": "auto"}
# Pages without sub-pages have no section navigation to show on the left.
html_sidebars = {page: [] for page in ("index", "getting_started", "maths", "cli")}


# -- Docstrings written for help() as well as for Sphinx ----------------------------
#
# The docstrings are read in a terminal too (help(), --help), so they write an absolute
# value as |x| and lay out a module's reading order as aligned "``name``  text" lines.
# In reST the first is a substitution reference and the second one run-on paragraph;
# these two hooks turn them into what they mean, without touching code, literals,
# literal blocks, doctests, line blocks or directives.

_INLINE = re.compile(r"(``.+?``|:[\w:.-]+:`[^`]*`|`[^`]*`_{0,2})")
_BAR = re.compile(r"(?<!\\)\|")
_ENTRY = re.compile(r"^(\s*)(``[^`]+``) {2,}(\S.*)$")


def _escape_bars(lines: list[str]) -> list[str]:
    """``|`` outside inline literals and roles, outside literal blocks, doctests, line
    blocks and directives, escaped as ``\\|``."""
    out: list[str] = []
    block_indent: int | None = None  # indent of the paragraph that opened a "::" block
    opened: int | None = None
    for line in lines:
        text = line.strip()
        indent = len(line) - len(line.lstrip())
        if block_indent is not None:
            if not text or indent > block_indent:
                out.append(line)
                continue
            block_indent = None
        if opened is not None and text:
            if indent > opened:
                block_indent = opened
                opened = None
                out.append(line)
                continue
            opened = None
        if text.endswith("::"):
            opened = indent
        if not text or text.startswith(("| ", ">>>", "... ", "..", "+-", "+=")) or text == "|":
            out.append(line)
            continue
        parts = _INLINE.split(line)
        out.append("".join(p if k % 2 else _BAR.sub(r"\\|", p) for k, p in enumerate(parts)))
    return out


_BORDER = re.compile(r"^\s*=+( +=+)+\s*$")


def _in_table(lines: list[str]) -> list[bool]:
    """Which lines belong to a reST simple table (from its top to its bottom border)."""
    flags, inside = [], False
    for k, line in enumerate(lines):
        if _BORDER.match(line):
            closing = inside and (k + 1 == len(lines) or not lines[k + 1].strip())
            flags.append(True)
            inside = not closing
        else:
            flags.append(inside)
    return flags


def _reading_order(lines: list[str]) -> list[str]:
    """Runs of two or more aligned "``name``  text" lines (with indented continuation
    lines) as a reST definition list."""
    table = _in_table(lines)
    out: list[str] = []
    k = 0
    while k < len(lines):
        entries: list[tuple[str, str, list[str]]] = []
        j = k
        while j < len(lines) and not table[j]:
            match = _ENTRY.match(lines[j])
            if match is None or (entries and match.group(1) != entries[0][0]):
                break
            base = len(match.group(1))
            body = [match.group(3).strip()]
            j += 1
            while j < len(lines):
                nxt = lines[j]
                if nxt.strip() and len(nxt) - len(nxt.lstrip()) > base and not _ENTRY.match(nxt):
                    body.append(nxt.strip())
                    j += 1
                else:
                    break
            entries.append((match.group(1), match.group(2), body))
        if len(entries) < 2:
            out.append(lines[k])
            k += 1
            continue
        if out and out[-1].strip():
            out.append("")
        for indent, name, body in entries:
            out.append(indent + name)
            out.append(indent + "    " + " ".join(body))
        if j < len(lines) and lines[j].strip():
            out.append("")
        k = j
    return out


def _process_docstring(app, what, name, obj, options, lines):
    lines[:] = _escape_bars(_reading_order(lines))


def _process_click(app, ctx, lines):
    # Click's help is plain text: a backslash (as in '\\t') is meant literally.
    plain = [ln if ln.lstrip().startswith("..") else ln.replace("\\", "\\\\") for ln in lines]
    lines[:] = _escape_bars(plain)


def _resolve_alias(app, env, node, contnode):
    """A docstring may name a public object by the module that defines it or by its bare
    name (``flexpoison.attack.AttackResult``, ``InvalidInputError``) where these pages
    document it under its public name (``flexpoison.AttackResult``): link to that one
    page when the last component names exactly one documented flexpoison object."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if not target or (("." in target) and not target.startswith("flexpoison.")):
        return None
    name = target.rsplit(".", 1)[-1]
    objects = env.get_domain("py").objects
    found = [
        full
        for full, entry in objects.items()
        if full.startswith("flexpoison.")
        and full.rsplit(".", 1)[-1] == name
        and entry.objtype != "module"
        and not entry.aliased  # autodoc's canonical (defining-module) names
    ]
    if len(found) != 1:
        return None
    from sphinx.util.nodes import make_refnode

    entry = objects[found[0]]
    return make_refnode(
        app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, found[0]
    )


# -- Getting started: its commands run at every build ---------------------------------
#
# The page shows the commands below and what they printed when the page was built
# (literalinclude from _generated/), never numbers typed in by hand.

_HERE = Path(__file__).resolve().parent
_GENERATED = _HERE / "_generated"


def attack_command(alpha: str, out: str) -> list[str]:
    """Getting started's attack: ridge on diabetes.csv, 5 % poison, α = ``alpha``."""
    return [
        "flexpoison", "attack", "--data", "diabetes.csv", "--target-column", "progression",
        "--model", "ridge", "--goal", "integrity", "--target", "flip-top",
        "--alpha", alpha, "--rate", "0.05", "--out", out,
    ]  # fmt: skip


def _shell(argv: list[str], width: int = 72) -> str:
    """``argv`` as a shell command, an option beside its value, continued with
    backslashes before ``width`` characters."""
    words = [shlex.quote(w) for w in argv]
    units: list[str] = []
    for k, word in enumerate(words):
        if k and words[k - 1].startswith("--") and not word.startswith("-"):
            units[-1] += " " + word
        else:
            units.append(word)
    lines, line = [], units[0]
    for unit in units[1:]:
        if len(line) + len(unit) + 3 > width:
            lines.append(line + " \\")
            line = "    " + unit
        else:
            line += " " + unit
    return "\n".join([*lines, line]) + "\n"


def _run(argv: list[str], cwd: str) -> str:
    """What the command printed (stdout and stderr, in order); a failure stops the build."""
    done = subprocess.run(
        argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}")
    return done.stdout


def _getting_started(app) -> None:
    """Write the CSV of getting started, run its commands on it, keep what they print."""
    _GENERATED.mkdir(exist_ok=True)
    outputs = {}
    with tempfile.TemporaryDirectory() as tmp:
        _run([sys.executable, str(_HERE / "_snippets" / "diabetes_csv.py")], tmp)
        head = Path(tmp, "diabetes.csv").read_text().splitlines()[:3]
        runs = {
            "first_attack": attack_command("0", "runs/diabetes"),
            "concealed": attack_command("0.5", "runs/diabetes-0.5"),
        }
        for name, argv in runs.items():
            outputs[name] = _run([sys.executable, "-m", "flexpoison", *argv[1:]], tmp)
            outputs[f"{name}_command"] = _shell(argv)
    outputs["diabetes_head"] = "\n".join(head) + "\n"
    for name, text in outputs.items():
        path = _GENERATED / f"{name}.txt"
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)


def _record_fields(app) -> None:
    """The result record's table, from its declaration (flexpoison.experiments.record)."""
    from flexpoison.experiments.record import fields_table

    _GENERATED.mkdir(exist_ok=True)
    path = _GENERATED / "record_fields.rst"
    if not path.is_file() or path.read_text() != fields_table():
        path.write_text(fields_table())


def setup(app):
    app.connect("builder-inited", _getting_started)
    app.connect("builder-inited", _record_fields)
    app.connect("missing-reference", _resolve_alias)
    app.connect("autodoc-process-docstring", _process_docstring)
    for event in ("description", "options", "arguments", "epilog"):
        app.connect(f"sphinx-click-process-{event}", _process_click)
