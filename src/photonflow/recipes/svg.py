"""Draw a recipe's dependency graph as a standalone SVG (for the web UI and ``photonflow recipe check --svg``).

Modules are boxes, data names are rounded pills, arrows show the flow left to right. Columns are layers: external
inputs first, then each module one layer after the latest data it reads, then the data it produces. Within a layer
items keep recipe order. The SVG has no scripts or external references; every text is XML-escaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from photonflow.recipes.modules import OutputModule
from photonflow.recipes.parse import Recipe

__all__ = ["recipe_to_svg"]

_COLUMN_GAP = 60
_ROW_GAP = 18
_BOX_H = 40
_PILL_H = 26
_CHAR_W = 7.2  # average glyph width of 12 px sans-serif
_MARGIN = 20

_STYLE = (
    ".module rect{fill:#e8f0fe;stroke:#1a73e8;stroke-width:1.5}"
    ".output rect{fill:#e6f4ea;stroke:#188038;stroke-width:1.5}"
    ".data rect{fill:#fff;stroke:#5f6368}"
    ".external rect{fill:#fef7e0;stroke:#b06000}"
    "text{font:12px sans-serif;fill:#202124;text-anchor:middle;dominant-baseline:central}"
    ".edge{fill:none;stroke:#5f6368;stroke-width:1.2;marker-end:url(#arrow)}"
)


@dataclass
class _Node:
    key: str
    label: str
    kind: str  # "module", "output", "data", "external"
    layer: int
    title: str = ""
    x: float = 0.0
    y: float = 0.0
    width: float = 0.0
    height: float = 0.0


def recipe_to_svg(recipe: Recipe) -> str:
    """Return an SVG document (a string) drawing ``recipe``'s modules, data and dependencies.

    Examples
    --------
    >>> from photonflow.recipes import parse_recipe
    >>> svg = recipe_to_svg(parse_recipe("- FilterTable: {filters: {photons: [100, null]}}"))
    >>> svg.startswith("<svg")
    True
    """
    graph = recipe.graph
    nodes: dict[str, _Node] = {}
    edges: list[tuple[str, str]] = []
    for name in graph.external:
        nodes[f"d:{name}"] = _Node(f"d:{name}", name, "external", 0, title="supplied to the run")
    for position in graph.order:
        module = graph.modules[position]
        reads = [f"d:{name}" for name in module.inputs().values()]
        layer = 1 + max((nodes[r].layer for r in reads if r in nodes), default=0)
        key = f"m:{position}"
        params = ", ".join(f"{k}={v!r}" for k, v in module.to_params().items())
        kind = "output" if isinstance(module, OutputModule) else "module"
        nodes[key] = _Node(key, f"{position + 1}. {module.name}", kind, layer, title=params)
        edges.extend((r, key) for r in reads)
        for name in module.outputs().values():
            nodes[f"d:{name}"] = _Node(f"d:{name}", name, "data", layer + 1)
            edges.append((key, f"d:{name}"))
    width, height = _layout(list(nodes.values()))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img">',
        f"<style>{_STYLE}</style>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#5f6368"/></marker></defs>',
    ]
    for src, dst in edges:
        a, b = nodes[src], nodes[dst]
        x1, y1 = a.x + a.width, a.y + a.height / 2
        x2, y2 = b.x, b.y + b.height / 2
        mid = (x1 + x2) / 2
        parts.append(
            f'<path class="edge" d="M{x1:.1f},{y1:.1f} C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"/>'
        )
    for node in nodes.values():
        radius = node.height / 2 if node.kind in ("data", "external") else 4
        css = node.kind if node.kind != "output" else "module output"
        title = f"<title>{escape(node.title)}</title>" if node.title else ""
        parts.append(
            f"<g class={quoteattr(css)} data-key={quoteattr(node.key)}>{title}"
            f'<rect x="{node.x:.1f}" y="{node.y:.1f}" width="{node.width:.1f}" height="{node.height:.1f}" '
            f'rx="{radius:.1f}"/>'
            f'<text x="{node.x + node.width / 2:.1f}" y="{node.y + node.height / 2:.1f}">{escape(node.label)}</text>'
            "</g>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _layout(nodes: list[_Node]) -> tuple[float, float]:
    """Place nodes in columns by layer; returns the drawing's size."""
    layers: dict[int, list[_Node]] = {}
    for node in nodes:
        node.height = _PILL_H if node.kind in ("data", "external") else _BOX_H
        node.width = max(80.0, len(node.label) * _CHAR_W + 24)
        layers.setdefault(node.layer, []).append(node)
    x = float(_MARGIN)
    height = 0.0
    for layer in sorted(layers):
        column = layers[layer]
        column_width = max(n.width for n in column)
        y = float(_MARGIN)
        for node in column:
            node.x = x + (column_width - node.width) / 2
            node.y = y
            y += node.height + _ROW_GAP
        height = max(height, y - _ROW_GAP + _MARGIN)
        x += column_width + _COLUMN_GAP
    return x - _COLUMN_GAP + _MARGIN, height
