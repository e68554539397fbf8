"""The wheel builds, installs into a clean virtualenv, imports without the repository, and ships py.typed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dist")]


def _uv() -> str:
    found = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    if not Path(found).exists():
        pytest.skip("uv is not installed")
    return found


def test_wheel_installs_into_a_clean_venv_and_imports(tmp_path: Path) -> None:
    uv = _uv()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_PROJECT", "PYTHONPATH"))}
    subprocess.run([uv, "build", "--wheel", "--out-dir", str(tmp_path / "dist"), "-q"], cwd=ROOT, env=env, check=True)
    wheels = list((tmp_path / "dist").glob("exact_online_toolkit-*.whl"))
    assert len(wheels) == 1
    names = set(zipfile.ZipFile(wheels[0]).namelist())
    assert "exact_online_sdk/py.typed" in names
    assert "exact_online_sdk/registry/endpoints.json" in names
    assert not any(n.startswith(("tests/", "cdk/")) for n in names)
    # the demo needs moto, boto3 and lambdas/: it is a checkout's program, not library code
    assert not any(n.startswith("demo/") or n == "exact_online_sdk/demo.py" for n in names)

    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], env=env, check=True)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    # --offline: the dependencies come from uv's cache filled by `uv sync`; tests never reach the network.
    install = [uv, "pip", "install", "-q", "--python", str(python), str(wheels[0])]
    result = subprocess.run([*install, "--offline"], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        subprocess.run(install, env=env, check=True)
    probe = (
        "import sys, exact_online_sdk as m\n"
        "assert 'httpx' not in sys.modules, 'import must stay cheap'\n"
        "from exact_online_sdk import ExactOnlineClient, Settings, AsyncExactOnlineClient\n"
        "from exact_online_sdk.exceptions import APIError, AuthenticationError\n"
        "from exact_online_sdk.registry import registry\n"
        "assert len(registry()) > 300\n"
        "import importlib.resources as r\n"
        "assert r.files('exact_online_sdk').joinpath('py.typed').is_file()\n"
        "assert 'site-packages' in m.__file__, m.__file__\n"
        "print(m.__version__)\n"
    )
    out = subprocess.run([str(python), "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    from exact_online_sdk import __version__

    assert out.stdout.strip() == __version__
