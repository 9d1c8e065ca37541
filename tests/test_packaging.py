"""The package list in pyproject.toml must name every folder that ships."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def configured() -> tuple[set[str], dict[str, str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    tool = config["tool"]["setuptools"]
    return set(tool["packages"]), tool["package-dir"]


def test_every_code_folder_is_a_listed_package() -> None:
    packages, _ = configured()
    app = ROOT / "app"
    found = {
        ".".join(path.parent.relative_to(app).parts)
        for path in app.glob("outagedesk/**/*.py")
        if "__pycache__" not in path.parts
    }
    assert found - packages == set(), "add these to [tool.setuptools] packages"


def test_every_resource_folder_ships() -> None:
    packages, package_dir = configured()
    assert package_dir["outagedesk.resources"] == "resources"
    folders = {
        "outagedesk.resources." + ".".join(p.relative_to(ROOT / "resources").parts)
        for p in (ROOT / "resources").rglob("*")
        if p.is_dir()
    }
    assert folders - packages == set(), "add these to [tool.setuptools] packages"


def test_pyside_marker_keeps_the_aborting_release_off_python_311() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pyside = [d for d in config["project"]["dependencies"] if d.startswith("PySide6")]
    assert "PySide6-Essentials>=6.8,<6.12; python_version < '3.12'" in pyside
