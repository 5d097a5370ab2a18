"""The template validates with cfn-lint, and `make build` produces a layer that loads on Lambda:
no shared object needs a GLIBC newer than 2.26 (Lambda's python3.11 runtime), and annoy has no
AVX-512 instructions (numpy's AVX-512 kernels sit behind runtime CPU dispatch, so are allowed)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import load_script

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(os.sys.executable).parent
pytestmark = pytest.mark.slow


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "SAM_CLI_TELEMETRY": "0",
                "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"})
    return env


def _check_so():
    return load_script("check_so")


def test_sam_validate_lint():
    out = subprocess.run([str(VENV_BIN / "sam"), "validate", "--lint", "--region", "us-east-1"], cwd=ROOT,
                         env=_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    if not shutil.which("objdump"):
        pytest.fail("objdump (binutils) is needed to inspect the layer")
    build_dir = tmp_path_factory.mktemp("sam") / "build"
    out = subprocess.run(["make", "build", f"SAM_BUILD_DIR={build_dir}", f"PY={VENV_BIN / 'python'}"], cwd=ROOT,
                         env=_env(), capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    return build_dir


def test_sam_build_builds_every_function_and_the_layer(built):
    assert (built / "template.yaml").exists()
    for fn in ("RecommendFunction", "SimilarFunction", "InteractionsFunction", "BillingFunction",
               "ItemsFunction", "HealthFunction", "TrainFunction", "GraphqlFunction"):
        assert (built / fn / "app.py").exists(), fn
    layer = built / "EngineLayer" / "python"
    assert (layer / "recengine" / "engine" / "recommender.py").exists()
    assert (layer / "recengine" / "graphql" / "schema.graphql").exists()  # read at the first request
    assert (layer / "graphql").is_dir()  # graphql-core
    assert (layer / "numpy").is_dir() and (layer / "aws_lambda_powertools").is_dir()
    assert (layer / "aws_xray_sdk").is_dir() and (layer / "wrapt").is_dir()  # Powertools' Tracer
    # The Stripe SDK ships with the billing function alone (functions/billing/requirements.txt), not the layer.
    assert (built / "BillingFunction" / "stripe").is_dir() and (built / "BillingFunction" / "requests").is_dir()
    assert not (layer / "stripe").exists() and not (built / "RecommendFunction" / "stripe").exists()


def test_the_layer_holds_only_what_the_functions_run(built):
    layer = built / "EngineLayer" / "python"
    # The offline tools live outside the layer; the runtime's own boto3 and botocore are not duplicated.
    assert not (layer / "tools").exists() and not (layer / "recengine" / "admin").exists()
    assert not (layer / "recengine" / "evaluation").exists() and not (layer / "bench").exists()
    assert not list(layer.glob("botocore*")) and not list(layer.glob("boto3*")) and not list(layer.glob("urllib3*"))


def test_layer_annoy_comes_from_the_portable_wheel(built):
    wheel_tags = (built / "EngineLayer" / "python" / "annoy-1.17.3.dist-info" / "WHEEL").read_text()
    assert "manylinux2014_x86_64" in wheel_tags


def test_layer_shared_objects_load_on_lambda(built):
    check = _check_so()
    layer = built / "EngineLayer"
    sos = [p for p in layer.rglob("*.so*") if p.is_file()]
    assert any("annoy" in p.name for p in sos)
    problems = check.scan([str(layer)], (2, 26), ["*annoy*"])
    assert problems == []
    annoy_so = next(p for p in sos if "annoy" in p.name)
    assert check.has_avx512(str(annoy_so)) is False
    assert check.max_glibc_version(str(annoy_so)) <= (2, 26)


RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")


def test_every_handler_imports_from_the_built_layer_and_the_runtimes_boto3(built, tmp_path):
    """As on Lambda: the function's code, the layer, and only what the python3.11 runtime provides
    (boto3 and its dependencies), no site-packages."""
    site = Path(next(p for p in os.sys.path if p.endswith("site-packages")))
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    for name in RUNTIME_PACKAGES:
        (runtime / name).symlink_to(site / name)
    layer = built / "EngineLayer" / "python"
    for fn in sorted(p.parent for p in built.glob("*Function/app.py")):
        code = (f"import sys; sys.path[:0] = [{str(fn)!r}, {str(layer)!r}, {str(runtime)!r}]; "
                "import app; print(app.lambda_handler.__name__)")
        env = {"PATH": "/usr/bin:/bin", "AWS_REGION": "us-east-1"}
        out = subprocess.run([os.sys.executable, "-S", "-c", code], env=env, capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0 and out.stdout.strip() == "lambda_handler", (fn.name, out.stderr[-2000:])
