"""Rendering a graph to a file: Graphviz's `dot`, written atomically with its .dot source."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import graphviz

from graphgrad.serialize import atomic_open, write_text_atomic
from graphgrad.viz.dot import to_dot

FORMATS = ("svg", "png", "pdf")

INSTALL_HINT = (
    "install Graphviz, which provides it: Debian/Ubuntu `apt-get install graphviz`, "
    "Fedora `dnf install graphviz`, macOS `brew install graphviz`, conda "
    "`conda install -c conda-forge graphviz`, Windows https://graphviz.org/download/"
)


class GraphvizNotFoundError(RuntimeError):
    """The Graphviz ``dot`` program is not on PATH (the .dot source was written)."""


def _output_path(path, format) -> tuple[Path, str]:
    path = Path(path)
    suffix = path.suffix.lower().lstrip(".")
    if format is None:
        format = suffix if suffix in FORMATS else "svg"
    format = str(format).lower()
    if format not in FORMATS:
        raise ValueError(f"render: format {format!r} is not supported; use one of {FORMATS}")
    if suffix == "dot":
        raise ValueError(f"render: {path} is where the picture goes, and the .dot source is "
                         "written next to it; pass e.g. 'graph.svg'")
    if suffix in FORMATS and suffix != format:
        raise ValueError(f"render: path {path} ends in .{suffix} but format={format!r}; make "
                         "them agree (or leave format out to use the suffix)")
    if suffix != format:
        path = path.with_name(path.name + "." + format)
    return path, format


def render(root, path, format=None, **to_dot_options) -> Path:
    """Write the graph of `root` to `path` as a picture, with its .dot source beside it.

    `root` is a Tensor (or several) — drawn with ``to_dot(root, **to_dot_options)``
    — or a ``graphviz.Digraph`` you already built.  ``format`` is ``"svg"``,
    ``"png"`` or ``"pdf"``; by default the suffix of `path` (else svg, appended).
    ``graph.svg`` also gets ``graph.dot``, written first and always.  Runs the
    Graphviz program ``dot``; if it is not installed raises
    ``GraphvizNotFoundError`` saying where the .dot source is and how to install
    Graphviz.  Returns the path of the picture.
    """
    out, format = _output_path(path, format)
    if isinstance(root, graphviz.Digraph):
        if to_dot_options:
            raise TypeError(f"render: options {sorted(to_dot_options)} only apply when "
                            "drawing a Tensor; a Digraph is rendered as it is")
        dot = root
    else:
        dot = to_dot(root, **to_dot_options)
    source = write_text_atomic(out.with_suffix(".dot"), dot.source)
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizNotFoundError(
            f"render: the Graphviz program `dot` was not found on PATH, so {out} was not "
            f"drawn; the graph's source was written to {source}. To get the picture, "
            f"{INSTALL_HINT}; then run `dot -T{format} {source} -o {out}` (or call render "
            "again)"
        )
    with atomic_open(out, "wb") as picture:  # a failed run leaves any old picture intact
        done = subprocess.run([exe, f"-T{format}", str(source)], stdout=picture,
                              stderr=subprocess.PIPE, check=False)
        if done.returncode != 0:
            lines = done.stderr.decode(errors="replace").strip().splitlines()
            stderr = "\n".join(lines[:5] + ([f"... ({len(lines) - 5} more lines)"]
                                             if len(lines) > 5 else []))
            raise RuntimeError(f"render: `dot -T{format}` failed on {source} (exit code "
                               f"{done.returncode}): {stderr}")
    return out
