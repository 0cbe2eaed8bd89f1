"""Build (once per runtime source state) the wheelhouse the tandemd role installs on offline targets.

Runs on the controller with the controller's Python. The runtime source (``runtime/`` in the collection)
is copied to a scratch directory, so building never writes into the collection, and turned into wheels
together with its dependencies, pinned to the versions installed on the controller when they are:
``pip wheel --no-build-isolation``. The result lands atomically in ``CACHE/<build id>/`` where the build
id is a hash of the source files and the pins; a later run with the same id reuses it. Prints one JSON
object: ``changed``, ``build_id``, ``version``, ``dir``, ``wheels``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

KEEP = 5  # wheelhouses kept in the cache (newest first); older ones are pruned after a build
SKIP_PARTS = {"__pycache__", "build", "dist", ".pytest_cache", ".ruff_cache"}
MANIFEST = "MANIFEST.json"


def source_files(src: Path) -> list[Path]:
    """Files that make up the runtime wheel, in a stable order (tests and build debris excluded)."""
    files = [src / "pyproject.toml"]
    files += [src / name for name in ("README.md", "LICENSE") if (src / name).is_file()]
    for path in sorted((src / "src").rglob("*")):
        rel = path.relative_to(src)
        if not path.is_file() or path.suffix == ".pyc":
            continue
        if SKIP_PARTS.intersection(rel.parts) or any(p.endswith(".egg-info") for p in rel.parts):
            continue
        files.append(path)
    return files


def pins(names: list[str]) -> list[str]:
    """``name==version`` for each dependency installed in the controller's Python."""
    out = []
    for name in names:
        try:
            out.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return out


def missing_build_requirements(src: Path) -> list[str]:
    """The runtime's build-system requirements the controller's Python does not satisfy (the wheels
    are built without build isolation, so with what is installed there), each with what it has."""
    requires = tomllib.loads((src / "pyproject.toml").read_text())["build-system"]["requires"]
    missing = []
    for text in requires:
        requirement = Requirement(text)
        try:
            installed = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            missing.append(f"{text} (not installed)")
            continue
        if not requirement.specifier.contains(installed, prereleases=True):
            missing.append(f"{text} (has {installed})")
    return missing


def build_id(src: Path, files: list[Path], constraints: list[str]) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(src)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    digest.update("\n".join(constraints).encode())
    return digest.hexdigest()[:20]


def build(src: Path, files: list[Path], constraints: list[str], extras: list[str], dest: Path) -> None:
    scratch = Path(tempfile.mkdtemp(prefix=".build-", dir=dest.parent))
    try:
        tree = scratch / "src"
        for path in files:
            target = tree / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        (scratch / "constraints.txt").write_text("".join(f"{c}\n" for c in constraints))
        wheels = scratch / "wheels"
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-build-isolation",
            "--wheel-dir",
            str(wheels),
            "--constraint",
            str(scratch / "constraints.txt"),
            f"{tree}[{','.join(extras)}]" if extras else str(tree),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"pip wheel failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
        names = sorted(p.name for p in wheels.glob("*.whl"))
        tandem = [n for n in names if n.startswith("tandem-")]
        if len(tandem) != 1:
            raise RuntimeError(f"expected one tandem wheel, got {names}")
        manifest = {"version": tandem[0].split("-")[1], "extras": extras, "wheels": names}
        (wheels / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        try:
            os.rename(wheels, dest)
        except OSError:
            if not (dest / MANIFEST).is_file():  # not a concurrent build of the same id
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def prune(cache: Path, keep: int) -> None:
    """Drop all but the ``keep`` newest wheelhouses (never one being built: those start with a dot)."""
    built = [p for p in cache.iterdir() if p.is_dir() and (p / MANIFEST).is_file()]
    built.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for old in built[keep:]:
        shutil.rmtree(old, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, type=Path, help="the runtime project directory")
    parser.add_argument("--cache", required=True, type=Path, help="directory holding built wheelhouses")
    parser.add_argument("--extra", action="append", default=[], help="optional runtime feature (repeatable)")
    parser.add_argument(
        "--pin",
        action="append",
        default=["pyroute2", "voluptuous", "prometheus-client"],
        help="dependency to pin to the controller's installed version (repeatable)",
    )
    args = parser.parse_args(argv)

    src = args.source.resolve()
    if not (src / "pyproject.toml").is_file():
        print(json.dumps({"failed": True, "msg": f"{src} holds no pyproject.toml"}))
        return 1
    missing = missing_build_requirements(src)
    if missing:
        wanted = " ".join(f"'{m.split(' (')[0]}'" for m in missing)
        msg = (
            f"the controller Python {sys.executable} builds the runtime's wheels and lacks "
            f"{', '.join(missing)}: {sys.executable} -m pip install {wanted}"
        )
        print(json.dumps({"failed": True, "msg": msg}))
        return 1
    files = source_files(src)
    extras = sorted(set(args.extra))
    constraints = pins(args.pin)
    bid = build_id(src, files, [*constraints, f"extras={','.join(extras)}"])
    args.cache.mkdir(parents=True, exist_ok=True)
    dest = args.cache.resolve() / bid
    changed = False
    if not (dest / MANIFEST).is_file():
        try:
            build(src, files, constraints, extras, dest)
        except RuntimeError as exc:
            print(json.dumps({"failed": True, "msg": str(exc)}))
            return 1
        changed = True
        prune(dest.parent, KEEP)
    manifest = json.loads((dest / MANIFEST).read_text())
    print(json.dumps({"changed": changed, "build_id": bid, "dir": str(dest), **manifest}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
