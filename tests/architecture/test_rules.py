"""Import and environment rules that keep the contexts honest (style guide: architecture tests)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "renkei"
ROOT = SRC.parents[1]
EDGE = {"api", "cli"}


def modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(SRC.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def imported(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def context_of(path: Path) -> str | None:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else None


def test_contexts_never_import_the_edge_or_a_concrete_adapter() -> None:
    offences = []
    for path, tree in modules():
        ctx = context_of(path)
        if ctx is None or ctx in EDGE:
            continue
        for name in imported(tree):
            edge = any(name == f"renkei.{e}" or name.startswith(f"renkei.{e}.") for e in EDGE)
            root = name in {"renkei.app"}
            adapter = name.startswith("renkei.storage.sql") and ctx != "storage"
            if edge or root or adapter:
                offences.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offences == []


def test_only_settings_reads_the_environment() -> None:
    offences = []
    for path, tree in modules():
        if path == SRC / "settings.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv", "putenv", "environb"}:
                offences.append(f"{path.relative_to(ROOT)}:{node.lineno} uses os.{node.attr}")
            if isinstance(node, ast.ImportFrom) and node.module == "os":
                bad = [a.name for a in node.names if a.name in {"environ", "getenv", "environb"}]
                if bad:
                    offences.append(f"{path.relative_to(ROOT)}:{node.lineno} imports os.{bad[0]}")
    assert offences == []


def test_no_module_level_mutable_state_is_created_by_calls() -> None:
    """Connections, engines and clients come through constructors, not module globals."""
    suspicious = {"create_engine", "connect", "Client", "AsyncClient", "Session"}
    offences = []
    for path, tree in modules():
        for node in tree.body:
            if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Call):
                func = node.value.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in suspicious:
                    offences.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}()")
    assert offences == []


def test_every_context_is_described_in_the_architecture_document() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    contexts = sorted(p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    missing = [c for c in contexts if f"`{c}`" not in doc]
    assert missing == []


def test_every_context_has_its_errors_under_the_root() -> None:
    for path, tree in modules():
        if path.name != "errors.py" or path.parent == SRC or path.parent.name in EDGE:
            continue
        classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
        assert classes, path
        for cls in classes:
            codes = [
                n
                for n in cls.body
                if isinstance(n, ast.Assign | ast.AnnAssign)
                and any(
                    isinstance(t, ast.Name) and t.id == "code"
                    for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
                )
            ]
            for assign in codes:
                value = assign.value
                assert isinstance(value, ast.Constant) and isinstance(value.value, str), (path, cls.name)
                context = path.relative_to(SRC).parts[0]
                assert value.value.startswith(context + "."), (path, cls.name, value.value)
