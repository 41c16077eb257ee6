"""Layers enforced by a tool, and docs/architecture.md matching the code.

* The import-linter contracts of ``pyproject.toml`` (``cli | tui > run > report > engine >
  evidence``, Textual only in the TUI, no process in the engine) run here, so a layering break
  fails the suite and CI, not only a developer who remembered to run ``lint-imports``.
* Every module listed in the architecture page exists, and every module of ``istio_doctor/``
  is listed there (a module entry, or its package's ``dir/`` / ``dir/*`` entry).
* No module of ``istio_doctor/`` is over ~800 lines (split into a package when bigger).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "istio_doctor"
DOC = ROOT / "docs" / "architecture.md"
MAX_LINES = 800
#: modules still over the limit, with their size when listed: they may only shrink (split them
#: into packages). Empty since the envoy modules were split (model/build/decode/configdump,
#: tabular/protojson/views).
OVERSIZE: dict[str, int] = {}


def test_import_contracts_hold() -> None:
    import os

    from importlinter.cli import lint_imports

    # lint_imports reads [tool.importlinter] from pyproject.toml in the working directory

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        code = lint_imports(no_cache=True)
    finally:
        os.chdir(cwd)
    assert code == 0, "import-linter contracts broken: run `lint-imports` for the import chains"


def test_the_contracts_are_the_documented_layers() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"istio_doctor.cli | istio_doctor.tui",' in text
    order = ["istio_doctor.run", "istio_doctor.report", "istio_doctor.engine", "istio_doctor.evidence"]
    positions = [text.index(f'"{m}",') for m in order]
    assert positions == sorted(positions)
    # every ignored import carries a comment on the line above it
    for block in re.findall(r"ignore_imports = \[(.*?)\]", text, re.S):
        lines = [ln.strip() for ln in block.strip().splitlines()]
        for i, ln in enumerate(lines):
            if ln.startswith('"'):
                assert i > 0 and lines[i - 1].startswith("#"), f"uncommented exception {ln}"


def _documented() -> set[str]:
    """Paths relative to istio_doctor/ named in the doc tables (``dir/`` and ``dir/*`` cover a package)."""
    out: set[str] = set()
    section = ""
    for line in DOC.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^## (istio_doctor/|[a-z]+/)$", line.strip())
        if m:
            section = "" if m.group(1) == "istio_doctor/" else m.group(1)
            continue
        if line.startswith("| `"):
            first = line.split("|")[1]
            for name in re.findall(r"`([^`]+)`", first):
                out.add(section + name)
    return out


def _modules() -> list[str]:
    return sorted(str(p.relative_to(PKG)) for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


def _covered(module: str, documented: set[str]) -> bool:
    if module in documented:
        return True
    parts = module.split("/")
    return any("/".join(parts[:i]) + "/" in documented or "/".join(parts[:i]) + "/*" in documented for i in range(1, len(parts)))


def test_every_module_is_documented() -> None:
    documented = _documented()
    missing = [m for m in _modules() if not m.endswith("__init__.py") and not _covered(m, documented)]
    assert not missing, f"modules missing from docs/architecture.md: {missing}"


def test_every_documented_module_exists() -> None:
    gone = []
    for entry in _documented():
        ok = any(PKG.glob(entry)) if "*" in entry else (PKG / entry).exists()
        if not ok:
            gone.append(entry)
    assert not gone, f"docs/architecture.md lists modules that do not exist: {sorted(gone)}"


def test_no_module_is_over_800_lines() -> None:
    big = {m: n for m in _modules() if (n := len((PKG / m).read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    new = {m: n for m, n in big.items() if m not in OVERSIZE or n > OVERSIZE[m]}
    assert not new, f"split these into packages (over {MAX_LINES} lines, or grown): {new}"
