"""The core runs headless: nothing outside ui/ may import Qt."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import outagedesk

PACKAGE = Path(outagedesk.__file__).parent


def test_every_module_outside_ui_imports_with_qt_absent() -> None:
    modules = sorted(
        ".".join(("outagedesk", *path.relative_to(PACKAGE).with_suffix("").parts))
        for path in PACKAGE.rglob("*.py")
        if "ui" not in path.relative_to(PACKAGE).parts
        and "migrations" not in path.parts
        and path.name != "__main__.py"
    )
    # A None entry in sys.modules makes any import of it fail, as if Qt were not installed.
    script = (
        "import sys, importlib\n"
        "for name in ('PySide6', 'qasync', 'shiboken6'):\n"
        "    sys.modules[name] = None\n"
        f"for module in {modules!r}:\n"
        "    importlib.import_module(module.removesuffix('.__init__'))\n"
        "print('ok', len(sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")
    assert len(modules) > 20
