"""Load a file that is not an importable module (a Lambda handler, a script, an example) as a fresh module."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["load_file_module"]


def load_file_module(path: Path, name: str, *, register: bool = False) -> ModuleType:
    """Execute ``path`` as a new module called ``name`` (its module-level caches empty, as in a cold start).

    ``register`` puts it in ``sys.modules`` first, as an import does (dataclasses, pickling and Prefect look it up
    there), and takes it out again if running it fails.
    """
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None, f"cannot load {path}"
    assert spec.loader is not None, f"cannot load {path}"
    module = importlib.util.module_from_spec(spec)
    if register:
        sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        if register:
            del sys.modules[name]
        raise
    return module
