"""Warnings are errors here, and so are lint and type errors: ruff and mypy --strict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_ruff_finds_nothing() -> None:
    result = _run("ruff", "check", "haina", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_on_the_package() -> None:
    result = _run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_import_of_the_package_is_installed_by_its_runtime_dependencies() -> None:
    """`./run.sh` installs only the runtime dependencies (not `dev`): a module the package
    imports must come from them or what they require (numpy once came only with `dev`)."""
    import ast
    import sys
    import tomllib
    from importlib.metadata import PackageNotFoundError, distribution, packages_distributions

    from packaging.requirements import Requirement

    root = Path(__file__).resolve().parent.parent
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in project["dependencies"]]
    installed: set[str] = set()
    while wanted:
        req = wanted.pop()
        name = req.name.lower().replace("_", "-")
        if name in installed:
            continue
        try:
            dist = distribution(req.name)
        except PackageNotFoundError:
            continue  # not for this platform / Python
        installed.add(name)
        for raw in dist.requires or []:
            sub = Requirement(raw)
            env = [{"extra": e} for e in req.extras] or [{"extra": ""}]
            if sub.marker is None or any(sub.marker.evaluate(e) for e in env):
                wanted.append(sub)
    providers = packages_distributions()
    missing = set()
    # Test helpers inside the package that say they need the dev dependencies.
    dev_only = {root / "haina/pipeline/geo_testdb.py"}
    for path in set((root / "haina").rglob("*.py")) - dev_only:
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for top in {n.split(".")[0] for n in names}:
                if top in sys.stdlib_module_names or top == "haina":
                    continue
                dists = {d.lower().replace("_", "-") for d in providers.get(top, [])}
                if not dists & installed:
                    missing.add(f"{top} ({path.relative_to(root)})")
    assert not missing, f"imported but not a runtime dependency: {sorted(missing)}"
