"""A Python environment shaped like a deployed function's, for the cold-start benchmarks: the engine
layer's pinned packages plus the boto3/botocore that the Lambda runtime provides, and nothing else.

The development virtualenv also holds aws-sam-cli's dependencies, and botocore imports some of them
whenever they are installed (awscrt for signing, pyOpenSSL through urllib3's contrib): about 90 ms
of import a function never pays. Measuring imports there would blame the handler for them.

The environment is built once with `pip install --target` under build/lambda-env-<hash>/ (the hash
of the requirements), and used with `python -S` (no site-packages: only this directory, the layer's
source and the repository). annoy, which PyPI has no wheel of, is linked from the virtualenv (the
layer ships the same version, built by `make annoy-wheel`)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYER_REQUIREMENTS = ROOT / "layers" / "engine" / "requirements.txt"
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six")


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def requirements() -> list[str]:
    """The layer's pins without annoy, and the runtime's packages at the versions the tests use."""
    layer = {n: v for n, v in _pins(LAYER_REQUIREMENTS).items() if n != "annoy"}
    dev = _pins(ROOT / "requirements-dev.txt")
    runtime = {n: dev[n] for n in RUNTIME_PROVIDED if n in dev}
    return [f"{n}=={v}" for n, v in sorted({**runtime, **layer}.items())]


def target() -> Path:
    """The environment's directory, built on first use."""
    wanted = requirements()
    digest = hashlib.sha256("\n".join(wanted).encode()).hexdigest()[:12]
    directory = ROOT / "build" / f"lambda-env-{digest}"
    if not (directory / ".complete").exists():
        print(f"building a Lambda-like environment in {directory.relative_to(ROOT)} (once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--target", str(directory),
                        *wanted], check=True)
        import annoy  # noqa: F401 - the virtualenv's build of the pinned version

        package = Path(sys.modules["annoy"].__file__).parent
        if not (directory / "annoy").exists():
            (directory / "annoy").symlink_to(package, target_is_directory=True)
        (directory / ".complete").write_text("\n".join(wanted))
    return directory


def command(root: Path = ROOT) -> tuple[list[str], dict[str, str]]:
    """(interpreter prefix, PYTHONPATH entry) to run a probe as a function would import it."""
    return [sys.executable, "-S"], {"PYTHONPATH": os.pathsep.join([str(target()), str(root / "layers" / "engine"),
                                                                   str(root)])}
