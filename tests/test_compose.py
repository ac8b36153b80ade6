"""The production stack (docker-compose.yml): it validates, and it keeps its promises.

Validation uses Debian's docker-compose v1 (`apt-get install docker-compose`), offline; the
tests that need it skip when it is absent. The secret checks read the raw file and need
nothing but PyYAML.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
MLFLOW_UI_OVERRIDE = REPO_ROOT / "docker" / "mlflow-ui.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"

AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-worker-gpu",
}
SERVICES = AIRFLOW_SERVICES | {"postgres", "redis", "mlflow"}
PUBLISHING = {"airflow-apiserver"}
HEALTHCHECKED = {"postgres", "redis", "mlflow", "airflow-apiserver", "airflow-scheduler"}

SECRET_NAME = re.compile(r"PASSWORD|SECRET|KEY", re.IGNORECASE)
# ...but a variable naming where a secret is kept (…_PASSWORDS_FILE, …_KEY_PATH) is no secret.
SECRET_LOCATION = re.compile(r"_(FILE|PATH)$", re.IGNORECASE)
# ${VAR}, ${VAR:-default}, ${VAR:?message} and friends; `$${...}` is an escaped literal.
VAR_REF = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:[:]?[-?][^}]*)?\}")
ONLY_VAR_REF = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?:[:]?[-?][^}]*)?\}")
# user:password@ inside a URL
URL_CREDENTIALS = re.compile(r"://[^:/@\s]*:(?P<password>[^@\s]+)@")


def _raw_compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _compose_text_without_comments() -> str:
    lines = COMPOSE_FILE.read_text().splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("#"))


def _env_example_names() -> set[str]:
    names = set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            names.add(line.split("=", 1)[0].removeprefix("export ").strip())
    return names


def _resolve(tmp_path_factory, *files: Path) -> dict:
    """The stack as docker-compose v1 resolves it, with the template's placeholder values."""
    if shutil.which("docker-compose") is None:
        pytest.skip(
            "docker-compose (Debian's v1) is not installed: `apt-get install docker-compose` "
            "(or `make tools`) to validate docker-compose.yml"
        )
    env_file = tmp_path_factory.mktemp("compose") / "env"
    shutil.copy(ENV_EXAMPLE, env_file)
    cmd = ["docker-compose", "-p", "recfusion"]
    for file in files:
        cmd += ["-f", str(file)]
    cmd += ["--env-file", str(env_file), "config"]
    result = subprocess.run(
        cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    return yaml.safe_load(result.stdout)


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> dict:
    return _resolve(tmp_path_factory, COMPOSE_FILE)


def _ports(service: dict) -> list[tuple[str, int, int]]:
    """(host address, published port, container port) of each published port.

    docker-compose v1 prints a port without a host address in the long form and one with
    an address in the short form ("127.0.0.1:5000:5000/tcp").
    """
    out = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            out.append(("0.0.0.0", int(port["published"]), int(port["target"])))
        else:
            *host, published, target = str(port).split("/")[0].split(":")
            out.append((host[0] if host else "0.0.0.0", int(published), int(target)))
    return out


def test_all_services_defined(config):
    assert set(config["services"]) == SERVICES


def test_only_the_airflow_ui_publishes_a_port(config):
    publishing = {name for name, svc in config["services"].items() if svc.get("ports")}
    assert publishing == PUBLISHING
    assert _ports(config["services"]["airflow-apiserver"]) == [("0.0.0.0", 8080, 8080)]
    # MLflow and the databases are reachable on the compose network only
    for name in ("mlflow", "postgres", "redis"):
        assert not config["services"][name].get("ports"), name
    assert config["services"]["mlflow"]["expose"] == ["5000"]


def test_mlflow_ui_override_publishes_on_loopback_only(tmp_path_factory):
    with_ui = _resolve(tmp_path_factory, COMPOSE_FILE, MLFLOW_UI_OVERRIDE)
    publishing = {name for name, svc in with_ui["services"].items() if svc.get("ports")}
    assert publishing == {"airflow-apiserver", "mlflow"}
    assert _ports(with_ui["services"]["mlflow"]) == [("127.0.0.1", 5000, 5000)]
    for name in ("postgres", "redis"):
        assert not with_ui["services"][name].get("ports"), name


def test_no_database_port_is_published_in_any_compose_file():
    """Read raw, so it holds without docker-compose too, for every compose file committed."""
    files = [COMPOSE_FILE, *sorted((REPO_ROOT / "docker").glob("*.yml"))]
    assert MLFLOW_UI_OVERRIDE in files
    for file in files:
        services = (yaml.safe_load(file.read_text()) or {}).get("services") or {}
        for name in ("postgres", "redis"):
            assert not (services.get(name) or {}).get("ports"), f"{file.name}: {name}"
        for name, svc in services.items():
            for port in (svc or {}).get("ports") or []:
                assert "5432" not in str(port) and "6379" not in str(port), f"{file.name}: {name}"
                if name == "mlflow":
                    assert str(port).startswith("127.0.0.1:"), f"{file.name}: mlflow {port}"
    assert not (_raw_compose()["services"]["mlflow"].get("ports"))


def test_health_checks(config):
    for name in HEALTHCHECKED:
        assert config["services"][name].get("healthcheck", {}).get("test"), name


def test_gpu_worker_reserves_an_nvidia_gpu_and_serves_the_gpu_queue(config):
    worker = config["services"]["airflow-worker-gpu"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert any(d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) for d in devices)
    command = worker["command"]
    command = " ".join(command) if isinstance(command, list) else command
    assert re.search(r"celery worker\b.*(--queues|-q)[ =]gpu\b", command), command
    env = _environment(worker)
    assert env["RECFUSION_EMBED__DEVICE"] == "cuda"
    assert env["RECFUSION_EMBED__WORKERS"] == "1"  # the template's value
    # the CPU worker serves the default queue only, so GPU tasks never land there
    cpu_command = " ".join(config["services"]["airflow-worker"]["command"])
    assert "--queues" not in cpu_command and " -q " not in cpu_command


def test_airflow_services_share_the_warehouse_and_setup(config):
    for name in AIRFLOW_SERVICES:
        svc = config["services"][name]
        env = _environment(svc)
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["RECFUSION_HOME"] == "/data/recfusion", name
        assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000", name
        assert env["RECFUSION_MLFLOW_TRACKING_URI"] == "http://mlflow:5000", name
        volumes = [
            v if isinstance(v, str) else f"{v['source']}:{v['target']}" for v in svc["volumes"]
        ]
        assert any(v.startswith("recfusion-data:/data/recfusion") for v in volumes), name


def test_no_literal_secrets_in_compose_file():
    raw = _raw_compose()
    blocks = {f"services.{name}": svc for name, svc in raw["services"].items()}
    blocks |= {
        key: val for key, val in raw.items() if key.startswith("x-") and isinstance(val, dict)
    }
    checked = 0
    for where, block in blocks.items():
        for name, value in _environment(block).items():
            if SECRET_NAME.search(name) and not SECRET_LOCATION.search(name):
                checked += 1
                assert ONLY_VAR_REF.fullmatch(value), f"{where}: {name}={value!r} is a literal"
            for match in URL_CREDENTIALS.finditer(value):
                password = match["password"]
                assert ONLY_VAR_REF.fullmatch(password), f"{where}: {name} has a literal password"
    assert checked, "no PASSWORD/SECRET/KEY variables found: did the file layout change?"


def test_env_example_defines_every_referenced_variable():
    referenced = set(VAR_REF.findall(_compose_text_without_comments()))
    assert referenced, "docker-compose.yml references no ${VAR}"
    missing = referenced - _env_example_names()
    assert not missing, f".env.example lacks {sorted(missing)}"


def test_env_is_git_ignored():
    patterns = {line.strip() for line in (REPO_ROOT / ".gitignore").read_text().splitlines()}
    assert ".env" in patterns or "/.env" in patterns
