"""A Python environment shaped like a deployed function's, for the cold-start benchmarks: the engine
layer's pinned packages plus the boto3/botocore that the Lambda runtime provides, and nothing else.

The development virtualenv also holds aws-sam-cli's dependencies, and botocore imports some of them
whenever they are installed (awscrt for signing, pyOpenSSL through urllib3's contrib): about 90 ms
of import a function never pays. Measuring imports there would blame the handler for them.

The environment is built once with `pip install --target` under build/lambda-env-<hash>/ (the hash
of the requirements), and used with `python -S` (no site-packages: only this directory, the layer's
source and the repository). annoy, which PyPI has no wheel of, is linked from the virtualenv (the
layer ships the same version, built by `make annoy-wheel`).

`--python` (the benches' option) builds the same environment for another interpreter, e.g. a
python3.12 or python3.13 to compare runtimes; annoy is then compiled from its sdist for it."""

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


def python_version(python: str) -> str:
    """'3.12' for an interpreter path or name."""
    out = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True,
                         text=True, check=True)
    return out.stdout.strip()


def target(python: str | None = None) -> Path:
    """The environment's directory for `python` (default: this interpreter), built on first use."""
    python = python or sys.executable
    own = python == sys.executable
    wanted = requirements()
    version = python_version(python)
    digest = hashlib.sha256("\n".join([version, *wanted]).encode()).hexdigest()[:12]
    directory = ROOT / "build" / f"lambda-env-{digest}"
    if not (directory / ".complete").exists():
        print(f"building a Lambda-like python{version} environment in {directory.relative_to(ROOT)} (once)",
              file=sys.stderr)
        annoy = [] if own else [f"annoy=={_pins(LAYER_REQUIREMENTS)['annoy']}"]  # compiled for that interpreter
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-compile", "--target", str(directory),
                        *wanted, *annoy], check=True)
        if own:
            import annoy as _annoy  # noqa: F401 - the virtualenv's build of the pinned version

            package = Path(sys.modules["annoy"].__file__).parent
            if not (directory / "annoy").exists():
                (directory / "annoy").symlink_to(package, target_is_directory=True)
        (directory / ".complete").write_text("\n".join([version, *wanted]))
    return directory


def command(root: Path = ROOT, python: str | None = None) -> tuple[list[str], dict[str, str]]:
    """(interpreter prefix, PYTHONPATH entry) to run a probe as a function would import it."""
    return [python or sys.executable, "-S"], {"PYTHONPATH": os.pathsep.join([str(target(python)),
                                                                             str(root / "layers" / "engine"),
                                                                             str(root)])}
