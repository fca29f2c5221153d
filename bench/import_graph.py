"""The package's import graph: modules, levels, arrows, and the arrows that break the layering.

    python bench/import_graph.py            # a summary, then any upward arrow or cycle
    python bench/import_graph.py --dot      # the graph in Graphviz's dot language

Reads the source (`ast`), never imports it. An arrow is an import of one
keras_resnetv2 module by another (at module level or inside a function). The layers,
lowest first, are `LAYERS`; an arrow may point within a part (a subpackage or a top
module) or down to a lower layer, never up and never sideways between two parts of
one layer. `tests/test_architecture.py` asserts what this prints.
"""

import argparse
import ast
import pathlib
import sys

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "keras_resnetv2"
ROOT = "keras_resnetv2"
# The parts of the package by layer, lowest first: ARCHITECTURE.md's flow bottom up, with the
# departures README.md's "Package layout" lists and explains.
LAYERS = (
    ("utils", "_version"),
    ("catalog", "_compat"),
    ("weights",),
    ("models", "data"),
    ("paper", "training", "resnet", "resnet_v2", "cifar"),
    ("tuning",),
    ("zoo",),
    ("train",),
    ("__init__",),
)
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}
# A function-level import must say why it is not at the top.
OPTIONAL_MARK = "optional dependency"


def module_name(path):
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def part_of(module):
    """The layer part of a module: its subpackage, or the top module's own name."""
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def read_modules():
    """`{module: (path, source)}` of every module of the package."""
    return {module_name(p): (p, p.read_text(encoding="utf-8")) for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(module, source, modules):
    """`[(imported module, line, inside a function, the line's text)]` of one module's
    imports of the package's own modules."""
    tree = ast.parse(source)
    lines = source.splitlines()
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.split(".")[0] == ROOT:
                        found.append((alias.name, child.lineno, in_function, lines[child.lineno - 1]))
            elif isinstance(child, ast.ImportFrom) and child.module and child.module.split(".")[0] == ROOT:
                for alias in child.names:
                    candidate = f"{child.module}.{alias.name}"
                    target = candidate if candidate in modules else child.module
                    found.append((target, child.lineno, in_function, lines[child.lineno - 1]))
            visit(child, nested)

    visit(tree, False)
    return found


def function_level_imports(modules):
    """`[(module, line, text)]` of every import inside a function, of any library."""
    found = []
    for module, (_, source) in modules.items():
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if isinstance(inner, (ast.Import, ast.ImportFrom)):
                        found.append((module, inner.lineno, lines[inner.lineno - 1].strip()))
    return sorted(set(found))


def graph():
    """`(modules, arrows)`: arrows are `(importer, imported, line, in_function, text)`."""
    modules = read_modules()
    arrows = []
    for module, (_, source) in modules.items():
        for target, line, in_function, text in imports_of(module, source, modules):
            if target != module:
                arrows.append((module, target, line, in_function, text.strip()))
    return modules, arrows


def upward(arrows):
    """Arrows that point up, or sideways between two parts of one layer."""
    bad = []
    for importer, imported, *rest in arrows:
        a, b = part_of(importer), part_of(imported)
        if a != b and RANK[b] >= RANK[a]:
            bad.append((importer, imported, *rest))
    return bad


def root_imports(arrows):
    """Imports of the package root itself (`import keras_resnetv2`, or a name of its `__init__`)."""
    return [a for a in arrows if a[1] == ROOT and part_of(a[0]) != "__init__"]


def cycles(modules, arrows):
    """The strongly connected components of more than one module (Tarjan)."""
    edges = {m: sorted({b for a, b, *_ in arrows if a == m and b in modules}) for m in modules}
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def connect(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges[node]:
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    for node in modules:
        if node not in index:
            connect(node)
    return found


def levels(modules, arrows):
    """Each module's level: 0 for a module importing none of the package, else 1 + the
    highest level it imports (on the acyclic graph)."""
    edges = {m: {b for a, b, *_ in arrows if a == m and b in modules} for m in modules}
    level = {}

    def of(node, seen=()):
        if node not in level:
            level[node] = 1 + max((of(n, seen + (node,)) for n in edges[node] if n not in seen), default=-1)
        return level[node]

    for node in modules:
        of(node)
    return level


def top_plain_modules(modules):
    """Plain modules at the package top, besides `__init__` and the public namespaces."""
    public = {"resnet", "resnet_v2", "cifar"}
    return sorted(m for m, (p, _) in modules.items()
                  if m.count(".") == 1 and p.name != "__init__.py" and m.split(".")[1] not in public)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dot", action="store_true", help="print the graph in dot")
    args = parser.parse_args(argv)
    modules, arrows = graph()
    if args.dot:
        print("digraph keras_resnetv2 {")
        for a, b in sorted({(a, b) for a, b, *_ in arrows}):
            print(f'  "{a}" -> "{b}";')
        print("}")
        return 0
    level = levels(modules, arrows)
    distinct = {(a, b) for a, b, *_ in arrows}
    bad, loops, roots = upward(arrows), cycles(modules, arrows), root_imports(arrows)
    inside = [a for a in arrows if a[3]]
    print(f"modules: {len(modules)}, levels: {max(level.values()) + 1}, arrows: {len(distinct)}, "
          f"upward arrows: {len(bad)}, cycles: {len(loops)}, imports of the root: {len(roots)}, "
          f"package imports inside functions: {len(inside)}")
    print(f"plain modules at the top: {top_plain_modules(modules)}")
    for importer, imported, line, _, text in bad + roots:
        print(f"  {importer}:{line} -> {imported}: {text}")
    for component in loops:
        print(f"  cycle: {' <-> '.join(component)}")
    unmarked = [f for f in function_level_imports(modules) if OPTIONAL_MARK not in f[2]]
    for module, line, text in unmarked:
        print(f"  import inside a function without a reason: {module}:{line}: {text}")
    return 1 if bad or loops or roots or unmarked else 0


if __name__ == "__main__":
    sys.exit(main())
