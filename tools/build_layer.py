"""Build the SDK Lambda layer directory without Docker.

    python tools/build_layer.py --out .layer-build/arm64 --arch arm64 --python-version 3.13 [--zip layer.zip]

The result is ``<out>/python/...``: the project wheel plus its runtime dependencies, installed with
``--platform manylinux2014_<arch> --only-binary=:all:`` so compiled wheels (pydantic-core) match the Lambda
platform, not this machine. Versions come from uv.lock when uv is available (the layer then holds exactly what the
tests ran against); otherwise the installer resolves them from the wheel's metadata. boto3/botocore (the Lambda
runtime ships them), the CLI extra and dev tools are never installed; a final check fails the build if one slipped
in.

What is removed: ``direct_url.json`` and ``uv_cache.json`` (an absolute path, a timestamp), the installer's
``.lock``, ``bin/``, tests shipped inside
packages, and the SDK's ``cli/``, ``emulator/`` and demo (they need the cli/emulator extras and moto, which a layer
never has).

Byte code: Lambda's ``/opt`` is read-only, so a layer without ``.pyc`` files is compiled in memory at every cold
start. The layer is compiled by an interpreter of the *runtime's* Python version (the ``.pyc`` magic number is
per minor version: a 3.11 build machine cannot compile for 3.13), found as ``--compile-python``, this interpreter
when its version matches, ``python3.X`` on PATH, ``uv python find 3.X`` or a pyenv install. The files are
unchecked-hash pycs (PEP 552: never compared with the sources, whose timestamps the asset zip does not keep) and
name ``/opt/python/...`` as their source path, so they are identical on every machine. Without an interpreter of
that version the layer ships sources only and the build says so (``--pyc require`` makes it fail instead;
``uv python install 3.X`` provides one).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYER_ROOT = "/opt/python"  # where Lambda mounts a layer's python/ directory

ARCH_PLATFORMS = {"arm64": "aarch64", "x86_64": "x86_64"}

# Packages a layer must never carry: the Lambda runtime has the AWS SDK; the rest are CLI/dev-only.
FORBIDDEN = (
    "boto3",
    "botocore",
    "s3transfer",
    "typer",
    "rich",
    "click",
    "pytest",
    "mypy",
    "ruff",
    "moto",
    "aws_cdk",
    "jsii",
    "pip",
    "setuptools",
)


# Parts of the SDK that need what a layer never carries: the cli and emulator extras (typer/rich,
# starlette/uvicorn) and the demo (moto).
SDK_LEFT_OUT = ("cli", "emulator", "demo.py")
TEST_DIRS = ("tests", "test")


def host_arch() -> str:
    """The layer architecture name for this machine ("arm64" or "x86_64")."""
    machine = platform.machine().lower()
    return "arm64" if machine in {"aarch64", "arm64"} else "x86_64"


def _run(cmd: list[str], **kwargs: object) -> None:
    subprocess.run(cmd, check=True, **kwargs)  # type: ignore[call-overload]


def _uv() -> str | None:
    return shutil.which("uv") or (
        str(Path.home() / ".local/bin/uv") if (Path.home() / ".local/bin/uv").exists() else None
    )


def build_wheel(project: Path, dest: Path) -> Path:
    """Build the project wheel into ``dest`` (uv build, or pip wheel as a fallback)."""
    uv = _uv()
    if uv:
        _run([uv, "build", "--wheel", "--quiet", "--out-dir", str(dest), str(project)])
    else:
        _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dest), str(project)])
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one wheel in {dest}, found {[w.name for w in wheels]}")
    return wheels[0]


def locked_requirements(project: Path, dest: Path) -> Path | None:
    """Runtime requirements pinned by uv.lock (no extras, no dev groups), or None without uv/uv.lock."""
    uv = _uv()
    if not uv or not (project / "uv.lock").exists():
        return None
    out = dest / "requirements.txt"
    _run(
        [
            uv,
            "export",
            "--frozen",
            "--quiet",
            "--no-default-groups",
            "--no-emit-project",
            "--no-hashes",
            "--format",
            "requirements-txt",
            "--project",
            str(project),
            "-o",
            str(out),
        ],
    )
    return out


def install(
    target: Path, wheel: Path, requirements: Path | None, arch: str, python_version: str, installer: str
) -> None:
    """Install the wheel and its runtime deps for the Lambda platform into ``target``."""
    plat = ARCH_PLATFORMS[arch]
    uv = _uv() if installer in {"auto", "uv"} else None
    if installer == "uv" and not uv:
        raise SystemExit("--installer uv: uv not found")
    if uv:
        cmd = [
            uv,
            "pip",
            "install",
            "--quiet",
            "--target",
            str(target),
            "--python-platform",
            f"{plat}-manylinux2014",
            "--python-version",
            python_version,
            "--only-binary",
            ":all:",
        ]
    else:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
            str(target),
            "--platform",
            f"manylinux2014_{plat}",
            "--implementation",
            "cp",
            "--python-version",
            python_version,
            "--only-binary=:all:",
        ]
    if requirements is not None:
        # Every runtime dependency is listed (pinned), so the project wheel goes in without re-resolving.
        _run([*cmd, "-r", str(requirements)])
        _run([*cmd, "--no-deps", str(wheel)])
    else:
        _run([*cmd, str(wheel)])


def clean(target: Path) -> None:
    """Drop machine-specific and useless files; fail on a forbidden package."""
    # Installer metadata with absolute paths or timestamps: the asset hash must be the same on every machine.
    for name in ("direct_url.json", "uv_cache.json"):
        for path in list(target.rglob(name)):
            path.unlink()
    for path in list(target.rglob("__pycache__")):
        shutil.rmtree(path, ignore_errors=True)
    for path in sorted(p for p in target.rglob("*") if p.is_dir() and p.name in TEST_DIRS):
        shutil.rmtree(path, ignore_errors=True)
    for name in SDK_LEFT_OUT:
        left_out = target / "exact_online_sdk" / name
        if left_out.is_dir():
            shutil.rmtree(left_out)
        left_out.unlink(missing_ok=True)
    shutil.rmtree(target / "bin", ignore_errors=True)
    (target / ".lock").unlink(missing_ok=True)
    _prune_records(target)
    found = [name for name in FORBIDDEN if (target / name).exists() or (target / f"{name}.py").exists()]
    if found:
        raise SystemExit(f"layer must not contain {found}")


def _prune_records(target: Path) -> None:
    """Drop the RECORD lines of files removed above, so each RECORD lists what the layer holds."""
    for record in target.glob("*.dist-info/RECORD"):
        lines = record.read_text(encoding="utf-8").splitlines()
        kept = [line for line in lines if (target / line.split(",", 1)[0]).exists()]
        record.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")


def python_version_of(interpreter: str) -> str | None:
    """The "X.Y" version of ``interpreter``, or None when it does not run (a pyenv shim without that version)."""
    try:
        result = subprocess.run(
            [interpreter, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def find_python(version: str, explicit: str | None = None) -> str | None:
    """An interpreter of Python ``version`` ("3.13") on this machine, or None."""
    candidates: list[str] = []
    if explicit:
        candidates.append(explicit)
    candidates.append(sys.executable)
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(on_path)
    uv = _uv()
    if uv:
        found = subprocess.run(
            [uv, "python", "find", "--no-project", version], capture_output=True, text=True, check=False
        )
        if found.returncode == 0 and found.stdout.strip():
            candidates.append(found.stdout.strip())
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    pyenv = sorted(pyenv_root.glob(f"versions/{version}.*/bin/python{version}"), reverse=True)
    candidates.extend(str(p) for p in pyenv)
    for candidate in candidates:
        if python_version_of(candidate) == version:
            return candidate
    if explicit:
        raise SystemExit(f"--compile-python {explicit} is not Python {version}")
    return None


def magic_number(interpreter: str) -> bytes:
    """The .pyc magic number of ``interpreter``."""
    out = subprocess.run(
        [interpreter, "-c", "import importlib.util, sys; sys.stdout.write(importlib.util.MAGIC_NUMBER.hex())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return bytes.fromhex(out)


def compile_bytecode(target: Path, interpreter: str) -> None:
    """Compile every module under ``target`` to unchecked-hash pycs whose source path is /opt/python/..."""
    _run(
        [
            interpreter,
            "-m",
            "compileall",
            "-q",
            "--invalidation-mode",
            "unchecked-hash",
            "-d",
            LAYER_ROOT,
            str(target),
        ]
    )


def zip_dir(src: Path, zip_path: Path) -> None:
    """Zip ``src`` deterministically (sorted entries, fixed timestamps), as Lambda would receive it."""
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(src.rglob("*")):
            if path.is_file():
                info = zipfile.ZipInfo(str(path.relative_to(src)), date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, path.read_bytes())


def dir_size(path: Path) -> int:
    """Total bytes of the files under ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def build_layer(
    out: Path,
    *,
    arch: str = "arm64",
    python_version: str = "3.13",
    project: Path = ROOT,
    installer: str = "auto",
    pyc: str = "auto",
    compile_python: str | None = None,
) -> Path:
    """Build the layer into ``out`` (its content is ``out/python``); returns ``out``.

    ``pyc``: "auto" compiles when an interpreter of ``python_version`` is found (else sources only, with a
    warning), "require" fails without one, "off" ships sources only.
    """
    if arch not in ARCH_PLATFORMS:
        raise SystemExit(f"unknown arch {arch!r}; expected one of {sorted(ARCH_PLATFORMS)}")
    out.mkdir(parents=True, exist_ok=True)
    target = out / "python"
    shutil.rmtree(target, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="layer-build-") as tmp:
        work = Path(tmp)
        wheel = build_wheel(project, work / "wheel")
        requirements = locked_requirements(project, work) if installer != "pip" else None
        install(target, wheel, requirements, arch, python_version, installer)
    clean(target)
    if pyc != "off":
        interpreter = find_python(python_version, compile_python)
        if interpreter is not None:
            compile_bytecode(target, interpreter)
        elif pyc == "require":
            raise SystemExit(f"no Python {python_version} to compile with (uv python install {python_version})")
        else:
            print(
                f"warning: no Python {python_version} found: the layer ships sources only and Lambda compiles them at "
                f"every cold start (uv python install {python_version}, or --compile-python)",
                file=sys.stderr,
            )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / ".layer-build" / "arm64")
    parser.add_argument("--arch", choices=sorted(ARCH_PLATFORMS), default="arm64")
    parser.add_argument("--python-version", default="3.13")
    parser.add_argument("--installer", choices=["auto", "uv", "pip"], default="auto")
    parser.add_argument("--pyc", choices=["auto", "require", "off"], default="auto", help="precompile byte code")
    parser.add_argument("--compile-python", help="an interpreter of --python-version to compile with")
    parser.add_argument("--zip", type=Path, help="also write the layer zip here and report its size")
    args = parser.parse_args(argv)
    os.environ.setdefault("UV_LINK_MODE", "copy")
    out = build_layer(
        args.out,
        arch=args.arch,
        python_version=args.python_version,
        installer=args.installer,
        pyc=args.pyc,
        compile_python=args.compile_python,
    )
    print(f"layer {args.arch} py{args.python_version}: {out} unzipped {dir_size(out) / 1e6:.1f} MB")
    if args.zip:
        zip_dir(out, args.zip)
        print(f"zip {args.zip}: {args.zip.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
