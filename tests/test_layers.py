"""The package's imports run one way (the README's architecture): ground (errors, files,
endpoint, durations, privileges, bundled, zonespec, tomlfile and the compiled rblmirror._*
modules) -> data -> dns -> mirror -> tools -> cli. A module may import its own layer and
those before it, never a later one; nothing imports cli. Read from the source (ast), so a lazy
import inside a function counts too."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import rblmirror

ROOT = Path(rblmirror.__file__).resolve().parent
ORDER = ["ground", "data", "dns", "mirror", "tools", "cli"]
GROUND = {"errors", "files", "durations", "privileges", "bundled", "zonespec", "endpoint",
          "tomlfile"}
#: the package root's lazy attributes (rblmirror.Dataset, rblmirror.Listing) and the
#: `python -m rblmirror` entry point stand outside the layers
OUTSIDE = {"rblmirror", "rblmirror.__main__"}


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "ground"
    top = parts[1]
    if top in ORDER:
        return top
    if top.startswith("_") or top in GROUND:
        return "ground"
    raise AssertionError(f"{module}: not in any layer (add it to the README's order and here)")


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> list[str]:
    mod = module_name(path)
    pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "rblmirror":
                continue
            if node.module:
                out.append(target)
            else:
                out.extend(f"{target}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.extend(a.name for a in node.names if a.name.split(".")[0] == "rblmirror")
    return out


MODULES = sorted(p for p in ROOT.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_module_has_a_layer():
    assert len(MODULES) > 40
    for p in MODULES:
        if module_name(p) not in OUTSIDE:
            layer(module_name(p))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_imports_run_one_way(path):
    mod = module_name(path)
    if mod in OUTSIDE:
        return
    here = ORDER.index(layer(mod))
    against = [t for t in imports(path) if ORDER.index(layer(t)) > here]
    assert not against, f"{mod} ({layer(mod)}) imports later layers: {against}"


def test_the_rule_can_fail():
    """The checker sees an import against the grain (a data module importing dns)."""
    assert ORDER.index(layer("rblmirror.dns.zone")) > ORDER.index(layer("rblmirror.data.index"))
    assert "rblmirror.dns.zone" in imports(ROOT / "mirror" / "zoneset.py")
