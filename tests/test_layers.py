"""The package's layers, read from its source: data flows one way (cli/serve -> Library -> indexer/search ->
models + store), the front ends take only what `footage` exports, no import goes round in a circle, and no
module grows past what a newcomer reads in one sitting."""

import ast
import sys
from pathlib import Path

import footage

ROOT = Path(footage.__file__).parent
MAX_LINES = 500

# a package (or top-level module) -> its layer: a module imports only from its own package or from lower layers
LAYER = {
    "errors": 0,
    "files": 0,
    "memory": 0,
    "settings": 0,
    "webhook": 0,
    "models": 1,
    "store": 1,
    "indexer": 2,
    "search": 2,
    "library": 3,
    "watch": 3,
    "training": 3,
    "indexing": 3,
    "videos": 3,
    "browse": 3,
    "cli": 4,
    "serve": 4,
}
APART = [{"models", "store"}, {"indexer", "search"}]  # the same layer, and neither imports the other
FRONT_ENDS = {"cli", "serve"}
PUBLIC = {"footage", "footage.errors"}  # all a front end imports of footage, but for another front end


def modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        name = ".".join(("footage", *path.relative_to(ROOT).with_suffix("").parts)).removesuffix(".__init__")
        found[name] = path
    return found


def imports() -> dict[str, set[str]]:
    """Each module -> the footage modules it imports, at the top or inside a function."""
    known = modules()
    graph = {name: set() for name in known}
    for name, path in known.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                graph[name] |= {a.name for a in node.names if a.name.split(".")[0] == "footage"}
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "footage":
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    graph[name].add(sub if sub in known else node.module)
    return graph


def part(module: str) -> str:
    """footage.indexer.pipeline -> indexer; footage -> footage."""
    return module.split(".")[1] if "." in module else "footage"


def test_every_part_of_the_package_has_a_layer():
    assert {part(m) for m in modules()} - {"footage"} <= set(LAYER)


def test_no_import_goes_up_or_across():
    wrong = []
    for module, targets in imports().items():
        here = part(module)
        if here == "footage":
            continue
        for target in targets:
            there = part(target)
            if there == here or here in FRONT_ENDS:
                continue
            if there == "footage" or LAYER[there] > LAYER[here] or {here, there} in APART:
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))


def test_the_front_ends_import_only_the_public_package():
    wrong = [
        f"{module} -> {target}"
        for module, targets in imports().items()
        if part(module) in FRONT_ENDS
        for target in targets
        if target not in PUBLIC and part(target) not in FRONT_ENDS
    ]
    assert not wrong, "a front end reaching past footage's public names:\n" + "\n".join(sorted(wrong))


def test_no_cycle():
    graph = imports()
    state: dict[str, str] = {}  # "open" on the path being walked, "done" after it

    def walk(module: str, path: list[str]) -> list[str] | None:
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                return [*path, module, target]
            if target not in state and (cycle := walk(target, [*path, module])):
                return cycle
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state and (cycle := walk(module, [])):
            raise AssertionError("an import cycle: " + " -> ".join(cycle))


def test_no_module_is_longer_than_a_sitting():
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_the_layers_test_sees_a_wrong_import(monkeypatch):
    """The checks above would pass on a graph they cannot read: one wrong arrow added must fail them."""
    graph = imports()
    graph["footage.store.store"].add("footage.models.loaded")
    monkeypatch.setattr(sys.modules[__name__], "imports", lambda: graph)
    try:
        test_no_import_goes_up_or_across()
    except AssertionError as e:
        assert "footage.store.store -> footage.models.loaded" in str(e)
    else:
        raise AssertionError("an import from store into models went unseen")
