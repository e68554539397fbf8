"""Build the SDK Lambda layer directory without Docker.

    python tools/build_layer.py --out .layer-build/arm64 --arch arm64 --python-version 3.13 [--zip layer.zip]

The result is ``<out>/python/...``: the project wheel plus its runtime dependencies, installed with
``--platform manylinux2014_<arch> --only-binary=:all:`` so compiled wheels (pydantic-core) match the Lambda
platform, not this machine. Versions come from uv.lock when uv is available (the layer then holds exactly what the
tests ran against); otherwise the installer resolves them from the wheel's metadata. boto3/botocore (the Lambda
runtime ships them), the CLI extra and dev tools are never installed; a final check fails the build if one slipped
in. ``direct_url.json`` (an absolute path) and ``__pycache__`` are removed so the asset hash is the same on every
machine.
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
    for path in list(target.rglob("direct_url.json")):
        path.unlink()
    for path in list(target.rglob("__pycache__")):
        shutil.rmtree(path, ignore_errors=True)
    shutil.rmtree(target / "bin", ignore_errors=True)
    found = [name for name in FORBIDDEN if (target / name).exists() or (target / f"{name}.py").exists()]
    if found:
        raise SystemExit(f"layer must not contain {found}")


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
) -> Path:
    """Build the layer into ``out`` (its content is ``out/python``); returns ``out``."""
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
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / ".layer-build" / "arm64")
    parser.add_argument("--arch", choices=sorted(ARCH_PLATFORMS), default="arm64")
    parser.add_argument("--python-version", default="3.13")
    parser.add_argument("--installer", choices=["auto", "uv", "pip"], default="auto")
    parser.add_argument("--zip", type=Path, help="also write the layer zip here and report its size")
    args = parser.parse_args(argv)
    os.environ.setdefault("UV_LINK_MODE", "copy")
    out = build_layer(args.out, arch=args.arch, python_version=args.python_version, installer=args.installer)
    print(f"layer {args.arch} py{args.python_version}: {out} unzipped {dir_size(out) / 1e6:.1f} MB")
    if args.zip:
        zip_dir(out, args.zip)
        print(f"zip {args.zip}: {args.zip.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
