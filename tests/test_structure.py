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


# The engine's compiled functions and their parameters ---------------------------------------

ENGINE = PACKAGE / "engine"
MAX_PARAMETERS = 8  # design: a few records, not long lists of arguments
# C-ABI bindings (Numba intrinsics emitting a call to a C library's symbol) take the C
# function's own parameters: they are exempt.
EXEMPT_DECORATORS = ("intrinsic",)


def _decorator_name(node):
    """The name a decorator is called by: njit for @njit(**JIT), overload for
    @overload(f, ...)."""
    target = node.func if isinstance(node, ast.Call) else node
    return target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")


def _wrapped(tree):
    """Names of the functions a module compiles by a call, njit(...)(function) or
    njit(...)(module.function)."""
    names = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Call)
                and _decorator_name(node.func) == "njit" and node.args):
            target = node.args[0]
            names.add(target.attr if isinstance(target, ast.Attribute) else target.id)
    return names


def compiled_functions():
    """(file:line name, parameter count) of every function of fastbp/engine that Numba
    compiles: those decorated with njit or overload, the implementations an overload returns,
    and those wrapped as njit(...)(function)."""
    trees = {path: ast.parse(path.read_text()) for path in sorted(ENGINE.glob("*.py"))}
    wrapped = set().union(*map(_wrapped, trees.values()))
    found = []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef):
                continue
            names = {_decorator_name(d) for d in node.decorator_list}
            if names & set(EXEMPT_DECORATORS):
                continue
            compiled = [node] if names & {"njit", "overload"} or node.name in wrapped else []
            if "overload" in names:  # the implementations it returns
                compiled += [inner for inner in ast.walk(node)
                             if isinstance(inner, (ast.FunctionDef, ast.Lambda))
                             and inner is not node]
            for function in compiled:
                name = getattr(function, "name", "<lambda>")
                found.append((f"{path.name}:{function.lineno} {name}",
                              len(function.args.args)))
    return found


def test_the_scan_finds_the_compiled_functions():
    """The scan is real: it finds the training loop, a kernel, an overload's implementation
    and a function wrapped by a call to njit, and counts their parameters."""
    found = dict(compiled_functions())
    names = {key.split()[-1]: count for key, count in found.items()}
    assert names["train"] == 8 and names["gemm"] == 7
    assert names["block_start"] == 4 and names["shape_class"] == 4  # wrapped by njit(...)
    assert any(key.startswith("update.py") and key.endswith(" impl") for key in found)
    assert len(found) > 100


def test_every_compiled_function_takes_at_most_8_parameters():
    wide = [f"{where} ({count})" for where, count in compiled_functions()
            if count > MAX_PARAMETERS]
    assert not wide, "compiled functions with more than 8 parameters: " + ", ".join(wide)


# The seam between the Python layers and the engine ------------------------------------------

ENGINE_INSIDES = ("records", "tracking", "parallel", "layout")


def test_only_the_engine_imports_its_insides():
    """The layers above talk to the engine through its package (Model, Session and the
    names it exports), never to the kernels' records, the per-layer record, the parts or
    the layout."""
    inside = {f"fastbp.engine.{name}" for name in ENGINE_INSIDES}
    reaching = {name: sorted(_imports(path) & inside) for name, path in MODULES.items()
                if not name.startswith("fastbp.engine")}
    assert not any(reaching.values()), {k: v for k, v in reaching.items() if v}


def test_nothing_reaches_into_a_networks_engine_model():
    """Only network.py touches a Network's engine Model (its _model)."""
    reaching = []
    for name, path in MODULES.items():
        if name == "fastbp.network":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and node.attr == "_model"
                    and not (isinstance(node.value, ast.Name) and node.value.id == "self")):
                reaching.append(f"{name}:{node.lineno}")
    assert not reaching, reaching
