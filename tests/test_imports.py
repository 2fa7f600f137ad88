"""The import graph of our packages (ARCHITECTURE.md): no circle, and every import goes to the same
or a lower layer — with the known departures listed here, so that a new one fails."""
from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import ROOT

PACKAGES = ("data", "evaluation", "smt", "nmt", "compare")
#: layer of a module (lower = more basic); a module may import its own layer and those below
#: departures left for the architecture issue: (importer, imported)
KNOWN: set[tuple[str, str]] = set()


def layer(mod: str) -> int:
    if mod in ("data.io", "data.profiles"):
        return 0
    if mod.startswith("data."):
        return 1
    if mod.startswith("evaluation."):
        return 2
    if mod.startswith(("smt.", "nmt.")):
        return 3
    return 4  # the study: compare.*


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    """module -> our modules it imports (at the top or inside functions)."""
    mods = {f"{pkg}.{f.stem}": f for pkg in PACKAGES for f in (root / pkg).glob("*.py") if f.stem != "__init__"}
    out: dict[str, set[str]] = {}
    for mod, path in mods.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            deps |= {n for n in names if n in mods and n != mod}
        out[mod] = deps
    return out


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan)."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def violations(g: dict[str, set[str]]) -> list[tuple[str, str]]:
    bad = []
    for a, deps in g.items():
        for b in deps:
            sibling = a.split(".")[0] != b.split(".")[0] and {a.split(".")[0], b.split(".")[0]} == {"smt", "nmt"}
            if (layer(b) > layer(a) or sibling) and (a, b) not in KNOWN:
                bad.append((a, b))
    return sorted(bad)


def uncommented_lazy_imports(root: Path = ROOT) -> list[str]:
    """Imports inside functions without a comment (on the line or just above) saying why."""
    out = []
    for pkg in PACKAGES:
        for path in sorted((root / pkg).glob("*.py")):
            src = path.read_text(encoding="utf-8").splitlines()
            for fn in ast.walk(ast.parse("\n".join(src))):
                if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                for node in ast.walk(fn):
                    if isinstance(node, (ast.Import, ast.ImportFrom)):
                        line, above = src[node.lineno - 1], src[node.lineno - 2] if node.lineno > 1 else ""
                        if "#" not in line and not above.strip().startswith("#"):
                            out.append(f"{pkg}/{path.name}:{node.lineno}: {line.strip()}")
    return sorted(set(out))


def test_imports_inside_functions_say_why():
    assert uncommented_lazy_imports() == []


def test_no_import_circle():
    assert cycles(graph()) == []


def test_imports_go_downwards():
    assert violations(graph()) == []


def test_the_checker_catches_a_deliberate_violation(tmp_path):
    """A copy of the tree with data.io importing compare.report, and smt.lm importing smt.pipeline
    (which imports smt.lm): both rules fire."""
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir()
        for f in (ROOT / pkg).glob("*.py"):
            (tmp_path / pkg / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    io = tmp_path / "data" / "io.py"
    io.write_text(io.read_text(encoding="utf-8") + "\n\ndef _oops():\n    from compare.report import main\n", encoding="utf-8")
    lm = tmp_path / "smt" / "lm.py"
    lm.write_text(lm.read_text(encoding="utf-8") + "\nimport smt.pipeline\n", encoding="utf-8")
    g = graph(tmp_path)
    assert ("data.io", "compare.report") in violations(g)
    assert any(r.startswith("data/io.py:") and "compare.report" in r for r in uncommented_lazy_imports(tmp_path))
    assert any({"smt.lm", "smt.pipeline"} <= set(c) for c in cycles(g))
