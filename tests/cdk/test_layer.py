"""The SDK Lambda layer: built without Docker for a target platform, lean, precompiled, and usable from a clean
interpreter.

- A build for this machine's architecture and Python, then ``python -I -S`` with only the layer's python/ dir on
  sys.path imports exact_online_sdk and calls the emulator over loopback HTTP, from the layer's byte code.
- The stack's real (local) arm64 bundling is checked in test_cli_synth.py, on the CLI's cloud assembly.
"""

from __future__ import annotations

import json
import marshal
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.cdk, pytest.mark.xdist_group("cdk-layer")]

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "tools" / "build_layer.py"
sys.path.insert(0, str(ROOT / "tools"))
import build_layer  # noqa: E402

ELF_MACHINE = {"x86_64": 0x3E, "arm64": 0xB7}
FORBIDDEN = ("boto3", "botocore", "s3transfer", "typer", "rich", "pytest", "moto", "aws_cdk", "jsii", "mypy")


def elf_machine(path: Path) -> int:
    head = path.read_bytes()[:20]
    assert head[:4] == b"\x7fELF", f"{path} is not an ELF file"
    return int.from_bytes(head[18:20], "little")


def check_layer(python_dir: Path, arch: str, magic: bytes | None) -> None:
    """The layer's content; ``magic``: the .pyc magic number every module must be compiled with (None: no pycs)."""
    sdk = python_dir / "exact_online_sdk"
    assert (sdk / "__init__.py").is_file()
    assert (sdk / "py.typed").is_file()
    for name in FORBIDDEN:
        assert not (python_dir / name).exists(), f"{name} must not be in the layer"
    # Parts that need extras a layer never has, installer leftovers, tests shipped inside packages.
    for left_out in ("cli", "emulator", "demo.py"):
        assert not (sdk / left_out).exists(), left_out
    assert not (python_dir / ".lock").exists()
    assert not [p for p in python_dir.rglob("*") if p.is_dir() and p.name in ("tests", "test")]
    assert not list(python_dir.rglob("direct_url.json")), "direct_url.json holds an absolute build path"
    assert not list(python_dir.rglob("uv_cache.json")), "uv_cache.json holds a timestamp"
    [core] = list((python_dir / "pydantic_core").glob("_pydantic_core*.so"))
    assert elf_machine(core) == ELF_MACHINE[arch], f"{core.name} is not built for {arch}"
    sources = list(python_dir.rglob("*.py"))
    pycs = list(python_dir.rglob("*.pyc"))
    if magic is None:
        assert not pycs
        return
    assert len(pycs) == len(sources), "every module has its byte code"
    for pyc in pycs:
        header = pyc.read_bytes()[:8]
        assert header[:4] == magic, f"{pyc} is not compiled for the runtime's Python"
        # PEP 552 flags: hash-based (bit 0), source not checked (bit 1 clear).
        assert int.from_bytes(header[4:8], "little") == 0b01, pyc


def host_magic() -> bytes:
    import importlib.util

    return importlib.util.MAGIC_NUMBER


@pytest.fixture(scope="module")
def host_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("layer")
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    subprocess.run(
        [sys.executable, str(BUILD), "--out", str(out), "--arch", build_layer.host_arch(), "--python-version", version],
        check=True,
        timeout=300,
    )
    return out / "python"


def test_host_layer_holds_the_sdk_and_runtime_deps_only(host_layer: Path) -> None:
    check_layer(host_layer, build_layer.host_arch(), host_magic())
    for dep in ("httpx", "pydantic", "pydantic_settings", "pydantic_core"):
        assert (host_layer / dep).is_dir(), dep


CLEAN_SCRIPT = r"""
import json, sys
layer, base_url, token = sys.argv[1:4]
sys.path.insert(0, layer)
import exact_online_sdk, pydantic_core
from exact_online_sdk import ExactOnlineClient
try:
    import boto3  # noqa: F401
    has_boto3 = True
except ImportError:
    has_boto3 = False
with ExactOnlineClient(access_token=token, base_url=base_url) as client:
    me = client.get("current/Me")
    rows = me if isinstance(me, list) else me.get("results", [me])
    division = rows[0]["CurrentDivision"]
    accounts = list(client.iter_rows("crm/Accounts", {"$select": "ID,Name"}, division=division, max_rows=3))
print(json.dumps({
    "sdk": exact_online_sdk.__file__, "core": pydantic_core.__file__, "has_boto3": has_boto3,
    "division": rows[0]["CurrentDivision"], "accounts": [a["Name"] for a in accounts],
}))
"""


def test_clean_interpreter_with_only_the_layer_calls_the_emulator(host_layer: Path) -> None:
    emulator = pytest.importorskip("exact_online_sdk.emulator")
    pytest.importorskip("uvicorn")
    with emulator.run_emulator(emulator.EmulatorConfig()) as emu:
        result = subprocess.run(
            # -I: no PYTHONPATH, no user site; -S: not even this venv's site-packages. Only the layer remains.
            [sys.executable, "-I", "-S", "-c", CLEAN_SCRIPT, str(host_layer), emu.base_url, emu.token()],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=host_layer.parent,
        )
        expected_division = emu.config.divisions[0]
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["sdk"].startswith(str(host_layer))
    assert out["core"].startswith(str(host_layer))
    assert out["has_boto3"] is False
    assert out["division"] == expected_division
    assert len(out["accounts"]) == 3
    assert all(isinstance(n, str) and n for n in out["accounts"])


def test_layer_byte_code_is_used_without_reading_the_sources(host_layer: Path, tmp_path: Path) -> None:
    """Unchecked-hash pycs: /opt is read-only in Lambda, and the asset zip keeps no source timestamps, so the
    byte code must be trusted as it is. Break a source after the build: the import still works from the pyc."""
    layer = tmp_path / "python"
    shutil.copytree(host_layer, layer)
    edm = layer / "exact_online_sdk" / "edm.py"
    edm.write_text(edm.read_text() + "\nraise RuntimeError('the source was compiled at import time')\n")
    script = "import sys; sys.path.insert(0, sys.argv[1]); import exact_online_sdk.edm as m; print(m.__spec__.cached)"
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script, str(layer)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    cached = Path(result.stdout.strip())
    assert cached.is_relative_to(layer)
    # The byte code names the file where Lambda mounts the layer (tracebacks), not this build's temp dir.
    code = marshal.loads(cached.read_bytes()[16:])
    assert code.co_filename == "/opt/python/exact_online_sdk/edm.py"


def test_pyc_compilation_needs_the_runtimes_python() -> None:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert build_layer.find_python(version) is not None
    assert build_layer.find_python("2.1") is None
    with pytest.raises(SystemExit, match=r"is not Python 2\.1"):
        build_layer.find_python("2.1", sys.executable)
    assert build_layer.magic_number(sys.executable) == host_magic()
