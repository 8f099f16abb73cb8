"""The dependency graph of a recipe: which module produces each name, which consume it, and the order to run them.

Execution order comes from the data, not from the order of the list (as in PYME): a module runs after every module
producing one of its inputs. Among modules that are ready at the same time, the one listed first runs first, so the
order is deterministic. Names consumed but produced by no module are the recipe's *external inputs*, to be supplied
by the caller (``input`` for the file a recipe is applied to).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from photonflow.errors import RecipeError
from photonflow.recipes.modules import RecipeModule, module_label

__all__ = ["Edge", "RecipeGraph", "build_graph"]


@dataclass(frozen=True)
class Edge:
    """Data ``name`` flows from module ``producer`` to module ``consumer`` (0-based positions in the recipe)."""

    producer: int
    consumer: int
    name: str


@dataclass(frozen=True)
class RecipeGraph:
    """A checked recipe graph.

    Attributes
    ----------
    modules : tuple of RecipeModule
        In recipe order.
    producers : dict of str to int
        Each produced name → position of the module producing it.
    external : tuple of str
        Names consumed but not produced (sorted): the inputs a run must supply.
    edges : tuple of Edge
    order : tuple of int
        Positions in execution order.
    """

    modules: tuple[RecipeModule, ...]
    producers: dict[str, int]
    external: tuple[str, ...]
    edges: tuple[Edge, ...]
    order: tuple[int, ...]

    def label(self, position: int) -> str:
        """``module 2 (FilterTable)`` for 0-based ``position``."""
        return module_label(position + 1, self.modules[position].name)

    def check_inputs(self, available: Iterable[str]) -> None:
        """Check that ``available`` supplies every external input and that no module overwrites one of them.

        Raises
        ------
        RecipeError
            Naming the first module whose input is missing (with the names that are available) or whose output
            would overwrite a supplied input.
        """
        have = set(available)
        for position in self.order:
            module = self.modules[position]
            for field_name, name in module.outputs().items():
                if name in have:
                    raise RecipeError(
                        f"{self.label(position)}: output '{name}' (field '{field_name}') would overwrite the input "
                        f"'{name}' supplied to the run; rename the output",
                        module_index=position + 1,
                        module_name=module.name,
                        field=field_name,
                    )
        for position in self.order:
            module = self.modules[position]
            for field_name, name in module.inputs().items():
                if name not in have and name not in self.producers:
                    known = sorted(have | set(self.producers))
                    raise RecipeError(
                        f"{self.label(position)}: input '{name}' (field '{field_name}') is neither supplied to the "
                        f"run nor produced by a module; available names: {', '.join(known) or '(none)'}",
                        module_index=position + 1,
                        module_name=module.name,
                        field=field_name,
                    )


def build_graph(modules: Sequence[RecipeModule]) -> RecipeGraph:
    """Connect ``modules`` by their input and output names and order them.

    Raises
    ------
    RecipeError
        If two modules produce the same name, or the modules form a cycle (the message lists it).
    """
    modules = tuple(modules)
    producers: dict[str, int] = {}
    for position, module in enumerate(modules):
        for field_name, name in module.outputs().items():
            if name in producers:
                other = producers[name]
                raise RecipeError(
                    f"{module_label(position + 1, module.name)}: output '{name}' (field '{field_name}') is already "
                    f"produced by {module_label(other + 1, modules[other].name)}; give one of them another name",
                    module_index=position + 1,
                    module_name=module.name,
                    field=field_name,
                )
            producers[name] = position
    edges: list[Edge] = []
    external: set[str] = set()
    for position, module in enumerate(modules):
        for name in module.inputs().values():
            if name in producers:
                edges.append(Edge(producers[name], position, name))
            else:
                external.add(name)
    order = _topological_order(len(modules), edges)
    if len(order) < len(modules):
        cycle = _find_cycle(len(modules), edges, set(order))
        path = " → ".join(module_label(p + 1, modules[p].name) for p in cycle)
        first = modules[cycle[0]]
        raise RecipeError(
            f"modules form a cycle: {path}; a module cannot (indirectly) consume its own output",
            module_index=cycle[0] + 1,
            module_name=first.name,
        )
    return RecipeGraph(modules, producers, tuple(sorted(external)), tuple(edges), tuple(order))


def _topological_order(n: int, edges: Sequence[Edge]) -> list[int]:
    """Kahn's algorithm; among ready modules the lowest position goes first."""
    indegree = [0] * n
    successors: list[list[int]] = [[] for _ in range(n)]
    for edge in edges:
        indegree[edge.consumer] += 1
        successors[edge.producer].append(edge.consumer)
    ready = [p for p in range(n) if indegree[p] == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        position = heapq.heappop(ready)
        order.append(position)
        for nxt in successors[position]:
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                heapq.heappush(ready, nxt)
    return order


def _find_cycle(n: int, edges: Sequence[Edge], done: set[int]) -> list[int]:
    """A cycle among the modules Kahn's algorithm could not order, as positions with the first one repeated.

    Every unordered module still has an unordered predecessor, so walking predecessors must revisit a module; the
    revisited stretch, reversed, is a cycle in data-flow direction.
    """
    predecessors: dict[int, list[int]] = {p: [] for p in range(n) if p not in done}
    for edge in edges:
        if edge.producer in predecessors and edge.consumer in predecessors:
            predecessors[edge.consumer].append(edge.producer)
    seen: dict[int, int] = {}
    walk: list[int] = []
    node = min(predecessors)
    while node not in seen:
        seen[node] = len(walk)
        walk.append(node)
        node = predecessors[node][0]
    cycle = walk[seen[node] :][::-1]
    first = cycle.index(min(cycle))
    cycle = cycle[first:] + cycle[:first]
    return [*cycle, cycle[0]]
