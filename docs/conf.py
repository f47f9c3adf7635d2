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
import warnings
from importlib.metadata import PackageNotFoundError, version

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
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_click",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "auto_examples/*.ipynb"]
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
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
html_show_sourcelink = False
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


def setup(app):
    app.connect("missing-reference", _resolve_alias)
    app.connect("autodoc-process-docstring", _process_docstring)
    for event in ("description", "options", "arguments", "epilog"):
        app.connect(f"sphinx-click-process-{event}", _process_click)
