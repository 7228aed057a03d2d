"""The house's import rules, read from the source with `ast` (module-level and lazy imports alike).

- no import cycle among webpairs modules;
- curation/, balancing/ and formats/ import neither Beam nor JAX, not even through another webpairs module;
- formats/ is the bottom layer: it imports no other webpairs package (every job reads the contracts from it);
- pretraining never imports eval (eval reaches models through webpairs.pretrain.inference);
- no core module imports the demo package (only the CLI wiring in webpairs.cli and webpairs.commands may).
"""

from __future__ import annotations

import ast
import pathlib
from collections.abc import Iterable, Mapping

import pytest

PACKAGE_ROOT = pathlib.Path(__file__).resolve().parents[1] / "webpairs"
HEAVY = ("apache_beam", "jax", "jaxlib", "flax", "optax", "orbax")
PURE_PACKAGES = ("webpairs.curation", "webpairs.balancing", "webpairs.formats")
WIRING = ("webpairs.cli", "webpairs.commands", "webpairs.demo")


def _module_name(path: pathlib.Path, root: pathlib.Path) -> str:
  parts = path.relative_to(root.parent).with_suffix("").parts
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(source: str, module: str, is_package: bool) -> set[str]:
  """Every dotted name `module` imports: `import a.b` gives a.b; `from a import b` gives a.b (module or not)."""
  names: set[str] = set()
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      names.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:  # relative: resolve against this module's package
        package = module.split(".") if is_package else module.split(".")[:-1]
        anchor = package[:len(package) - node.level + 1]
        base = ".".join(anchor + ([base] if base else []))
      names.add(base)
      names.update(f"{base}.{alias.name}" for alias in node.names)
  return names


def build_graph(sources: Mapping[str, tuple[str, bool]]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
  """({module: webpairs modules it imports}, {module: external top-level packages it imports}).

  Importing a.b.c also runs the packages a.b and a, so those are edges too, except a module's own
  ancestors (a package's modules import it while it loads, which Python handles).
  """
  graph: dict[str, set[str]] = {}
  external: dict[str, set[str]] = {}
  for module, (source, is_package) in sources.items():
    deps, ext = set(), set()
    for name in imported_names(source, module, is_package):
      parts = name.split(".")
      if name.split(".")[0] != "webpairs":
        ext.add(parts[0])
        continue
      for i in range(1, len(parts) + 1):
        target = ".".join(parts[:i])
        if target in sources and target != module and not module.startswith(target + "."):
          deps.add(target)
    graph[module], external[module] = deps, ext
  return graph, external


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
  """Strongly connected components with more than one module (Tarjan, iterative: no recursion limit)."""
  index: dict[str, int] = {}
  low: dict[str, int] = {}
  stack: list[str] = []
  on_stack: set[str] = set()
  found: list[list[str]] = []
  for start in sorted(graph):
    if start in index:
      continue
    work = [(start, iter(sorted(graph[start])))]
    index[start] = low[start] = len(index)
    stack.append(start)
    on_stack.add(start)
    while work:
      node, children = work[-1]
      child = next(children, None)
      if child is not None:
        if child not in index:
          index[child] = low[child] = len(index)
          stack.append(child)
          on_stack.add(child)
          work.append((child, iter(sorted(graph.get(child, ())))))
        elif child in on_stack:
          low[node] = min(low[node], index[child])
        continue
      work.pop()
      if work:
        low[work[-1][0]] = min(low[work[-1][0]], low[node])
      if low[node] == index[node]:
        component = []
        while True:
          member = stack.pop()
          on_stack.discard(member)
          component.append(member)
          if member == node:
            break
        if len(component) > 1:
          found.append(sorted(component))
  return found


def reachable(graph: Mapping[str, Iterable[str]], start: str) -> dict[str, str]:
  """{module: the module that first imported it} for everything `start` imports, directly or not."""
  parent = {start: ""}
  todo = [start]
  while todo:
    node = todo.pop()
    for child in graph.get(node, ()):
      if child not in parent:
        parent[child] = node
        todo.append(child)
  return parent


def _chain(parent: Mapping[str, str], end: str) -> str:
  chain = [end]
  while parent[chain[-1]]:
    chain.append(parent[chain[-1]])
  return " -> ".join(reversed(chain))


def _in(module: str, packages: Iterable[str]) -> bool:
  return any(module == p or module.startswith(p + ".") for p in packages)


@pytest.fixture(scope="module")
def house():
  sources = {_module_name(p, PACKAGE_ROOT): (p.read_text(encoding="utf-8"), p.name == "__init__.py")
             for p in sorted(PACKAGE_ROOT.rglob("*.py"))}
  return build_graph(sources)


def test_no_import_cycle(house):
  graph, _ = house
  assert cycles(graph) == []


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_curation_balancing_formats_import_neither_beam_nor_jax(house, package):
  graph, external = house
  bad = []
  for module in (m for m in graph if _in(m, [package])):
    parent = reachable(graph, module)
    bad += [f"{_chain(parent, m)} imports {sorted(set(external[m]) & set(HEAVY))}"
            for m in parent if set(external[m]) & set(HEAVY)]
  assert bad == []


def test_formats_imports_no_other_webpairs_package(house):
  graph, _ = house
  bad = sorted(f"{m} -> {d}" for m in graph if _in(m, ["webpairs.formats"])
               for d in graph[m] if d != "webpairs" and not _in(d, ["webpairs.formats"]))
  assert bad == []


def test_pretraining_never_imports_eval(house):
  graph, _ = house
  direct = sorted(f"{m} -> {d}" for m in graph if _in(m, ["webpairs.pretrain"])
                  for d in graph[m] if _in(d, ["webpairs.eval"]))
  assert direct == []


def test_no_core_module_imports_the_demo(house):
  graph, _ = house
  bad = []
  for module in (m for m in graph if not _in(m, WIRING)):
    parent = reachable(graph, module)
    bad += [_chain(parent, m) for m in parent if _in(m, ["webpairs.demo"])]
  assert bad == []


# The checker itself, on made-up modules: it must see what it claims to.
def _fake(**modules: str) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
  return build_graph({name.replace("__", "."): (src, False) for name, src in modules.items()})


def test_checker_finds_lazy_and_relative_cycles():
  graph, _ = _fake(webpairs__a="from webpairs import b\n",
                   webpairs__b="def f():\n  from . import c\n",
                   webpairs__c="import webpairs.a\n",
                   webpairs__d="from webpairs.a import thing\n")
  assert graph["webpairs.b"] == {"webpairs.c"} and graph["webpairs.d"] == {"webpairs.a"}
  assert cycles(graph) == [["webpairs.a", "webpairs.b", "webpairs.c"]]


def test_checker_sees_heavy_imports_through_other_modules():
  graph, external = _fake(webpairs__a="from webpairs import b\n", webpairs__b="import jax.numpy as jnp\n")
  parent = reachable(graph, "webpairs.a")
  assert [m for m in parent if "jax" in external[m]] == ["webpairs.b"]
  assert _chain(parent, "webpairs.b") == "webpairs.a -> webpairs.b"
