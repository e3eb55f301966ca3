"""The package's structure: no import circle between fastbp's modules (imports inside
functions included), and a one-process fit that never loads the MPI code."""

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import fastbp

PACKAGE = Path(fastbp.__file__).parent


def _module_name(path):
    parts = ["fastbp", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path):
    """The fastbp modules that the module at path imports, anywhere in its code."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("fastbp")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            elif node.module and node.module.startswith("fastbp"):
                base = node.module
            else:
                continue
            for alias in node.names:  # "from . import x" names a module when x is one
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in MODULES else base)
    return found - {name}


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def test_no_import_circle():
    graph = {name: _imports(path) & set(MODULES) for name, path in MODULES.items()}
    # A package's __init__ importing its own modules is how packages are built, not a
    # circle: the modules themselves must not depend on each other in a ring.
    for name in graph:
        graph[name] = {m for m in graph[name] if not name.startswith(m + ".")
                       and not (m + ".").startswith(name + ".")}

    def circle_from(start):
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    return path + [start]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, path + [nxt]))
        return None

    circles = [c for c in map(circle_from, sorted(graph)) if c]
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles)


def test_the_graph_holds_imports_inside_functions():
    """The graph above is real: it holds an edge written as an import inside a function."""
    assert "fastbp.torch_convert" in _imports(MODULES["fastbp.network"])
    assert "fastbp.distributed" in _imports(MODULES["fastbp.network"])


def test_one_process_fit_does_not_load_distributed():
    script = textwrap.dedent("""
        import sys
        import numpy as np
        import fastbp
        X = np.random.default_rng(0).random((64, 4))
        fastbp.Network([4, 3], seed=0).fit(X, np.arange(64) % 3, epochs=1)
        print("fastbp.distributed" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split()[-1] == "False"
