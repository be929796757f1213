"""The Docker images and Kubernetes manifests, checked without a Docker engine or a cluster:
hadolint on both Dockerfiles, every manifest (base, rendered overlays) validated against the
Kubernetes 1.37 schemas (kubernetes-validate, strict), and the settings, metric names and
model.yaml they carry checked against the server's own code."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from prometheus_client import REGISTRY

from server import metrics
from server.model_repo import parse_model_yaml
from server.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"
K8S = DOCKER / "k8s"
BIN = Path(sys.executable).parent
KUBERNETES_VERSION = "1.37.0"
DOCKERFILES = [DOCKER / "Dockerfile", DOCKER / "Dockerfile.cpu"]
OVERLAYS = ["cpu", "gpu"]


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


def kustomize(folder: Path) -> list[dict[str, Any]]:
    result = run(str(BIN / "kubectl"), "kustomize", str(folder))
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [doc for doc in docs if doc["kind"] == kind]
    return found


def validate(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def our_metric_names() -> set[str]:
    """Names of the samples our collectors expose (`_total`, `_bucket`, ... included)."""
    assert metrics.REQUESTS_WAITING  # importing server.metrics registers our collectors
    names: set[str] = set()
    for family in REGISTRY.collect():
        if family.name.startswith("llava_serve_"):
            names |= {f"{family.name}{s}" for s in ("", "_total", "_bucket", "_count", "_sum")}
    return names


# --- Dockerfiles -----------------------------------------------------------------------------


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_passes_hadolint(dockerfile: Path) -> None:
    result = run(str(BIN / "hadolint"), "--failure-threshold", "info", str(dockerfile))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_shares_the_setup_script_and_runs_safely(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    flavour = "gpu" if dockerfile.name == "Dockerfile" else "cpu"
    assert re.search(rf"RUN SETUP_FLAVOUR={flavour} .*\./scripts/setup\.sh", text)
    for needed in ("requirements/", "scripts/", "pyproject.toml", "server/"):
        assert re.search(rf"^COPY .*{re.escape(needed)}", text, re.MULTILINE), needed
    assert f'SETUP_FLAVOUR:-}}" = {flavour}' in (ROOT / "scripts/setup.sh").read_text() or (
        flavour == "cpu"  # cpu is the script's fallback branch
    )
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert re.search(r"^HEALTHCHECK .*CMD \[", text, re.MULTILINE | re.DOTALL)
    entrypoint = re.search(r"^ENTRYPOINT (.+)$", text, re.MULTILINE)
    assert entrypoint and json.loads(entrypoint.group(1))[0] == "llava-serve"  # exec form
    assert not re.search(r"\.(safetensors|bin|gguf)\b", text)  # weights are mounted


def test_readme_path_uses_the_same_setup_script() -> None:
    assert "./scripts/setup.sh" in (ROOT / "Makefile").read_text()


# --- Kubernetes --------------------------------------------------------------------------------


def test_validator_rejects_a_broken_manifest() -> None:
    """The schema check can fail: an unknown field and a wrong type are both caught."""
    deployment = by_kind(kustomize(K8S / "overlays" / "cpu"), "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["periodSecs"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)
    deployment = by_kind(kustomize(K8S / "overlays" / "cpu"), "Deployment")
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)


@pytest.mark.parametrize("folder", ["base", "overlays/cpu", "overlays/gpu"])
def test_kustomization_renders_and_validates(folder: str) -> None:
    docs = kustomize(K8S / folder)
    kinds = {doc["kind"] for doc in docs}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"} <= kinds
    assert "NetworkPolicy" in kinds
    for doc in docs:
        validate(doc)


def test_every_yaml_manifest_file_validates() -> None:
    """Raw files too: base resources, patches aside (they are partial by design)."""
    files = [p for p in K8S.rglob("*.yaml") if p.name not in ("kustomization.yaml", "model.yaml")]
    files = [p for p in files if not p.name.endswith("-patch.yaml")]
    assert files
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            validate(doc)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployment_probes_termination_and_security(overlay: str) -> None:
    deployment = by_kind(kustomize(K8S / "overlays" / overlay), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert container["startupProbe"]["httpGet"]["path"] == "/ready"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    startup = container["startupProbe"]
    assert startup["failureThreshold"] * startup["periodSeconds"] >= 300  # model load
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    drain = float(env["LLAVA_SERVE_DRAIN_TIMEOUT_S"])
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + drain + 5
    assert pod["securityContext"]["runAsNonRoot"] is True
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
    assert volumes[mounts["/dev/shm"]["name"]]["emptyDir"]["medium"] == "Memory"
    assert mounts["/models"]["readOnly"] is True
    assert mounts["/config/model"]["readOnly"] is True
    assert env["LLAVA_SERVE_MODEL"] == "/config/model"
    assert {c["name"] for c in pod["containers"]} == {"llava-serve"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_settings_in_manifests_exist(overlay: str) -> None:
    """Every LLAVA_SERVE_* variable the Deployment sets is a real setting (a typo would stop
    the server at start-up)."""
    deployment = by_kind(kustomize(K8S / "overlays" / overlay), "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    names = [item["name"] for item in container["env"] if item["name"].startswith("LLAVA_SERVE_")]
    fields = {f"LLAVA_SERVE_{name.upper()}" for name in Settings.model_fields}
    assert names and set(names) <= fields, set(names) - fields


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_model_yaml_of_the_config_map_is_valid(overlay: str, tmp_path: Path) -> None:
    docs = kustomize(K8S / "overlays" / overlay)
    config_map = by_kind(docs, "ConfigMap")
    (tmp_path / "model.yaml").write_text(config_map["data"]["model.yaml"])
    spec = parse_model_yaml(tmp_path / "model.yaml")
    deployment = by_kind(docs, "Deployment")
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert {"name": config_map["metadata"]["name"]} in [
        {"name": v["configMap"]["name"]} for v in volumes if "configMap" in v
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    gpus = int(container["resources"]["limits"].get("nvidia.com/gpu", 0))
    if overlay == "gpu":
        requests = container["resources"]["requests"]
        assert requests["nvidia.com/gpu"] == container["resources"]["limits"]["nvidia.com/gpu"]
        assert spec.engine.tensor_parallel_size == gpus >= 1
        assert spec.source.path is not None and str(spec.source.path).startswith("/models/")
    else:
        assert gpus == 0


def test_autoscaler_and_adapter_use_our_waiting_metric() -> None:
    docs = kustomize(K8S / "overlays" / "gpu")
    hpa = by_kind(docs, "HorizontalPodAutoscaler")
    (target,) = hpa["spec"]["metrics"]
    name = target["pods"]["metric"]["name"]
    assert name == "llava_serve_requests_waiting" and name in our_metric_names()
    adapter = yaml.safe_load((K8S / "monitoring" / "prometheus-adapter-config.yaml").read_text())
    assert name in adapter["data"]["config.yaml"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == by_kind(docs, "Deployment")["metadata"]["name"]


def test_selectors_and_network_policy() -> None:
    docs = kustomize(K8S / "overlays" / "gpu")
    labels = by_kind(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    for kind in ("Service", "PodDisruptionBudget", "NetworkPolicy"):
        spec = by_kind(docs, kind)["spec"]
        selector = spec.get("selector") or spec["podSelector"]
        selector = selector.get("matchLabels", selector)
        assert selector.items() <= labels.items(), kind
    policy = by_kind(docs, "NetworkPolicy")["spec"]
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    ports = [port for rule in policy["egress"] for port in rule["ports"]]
    assert {"port": 53, "protocol": "UDP"} in ports
    for rule in policy["egress"]:
        for peer in rule["to"]:
            assert peer.get("ipBlock", {}).get("cidr") != "0.0.0.0/0"


# --- Compose, Prometheus and Grafana -------------------------------------------------------------


def test_compose_stack_is_consistent() -> None:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    assert {"llava-serve", "prometheus", "grafana"} <= services.keys()
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DOCKER / source).exists(), source
    server = services["llava-serve"]
    assert "docker/Dockerfile.cpu" in server["build"]["dockerfile"]
    drain = float(server["environment"]["LLAVA_SERVE_DRAIN_TIMEOUT_S"])
    assert float(server["stop_grace_period"].rstrip("s")) > drain
    prometheus = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    (job,) = prometheus["scrape_configs"]
    assert job["static_configs"][0]["targets"] == ["llava-serve:8000"]


def test_dashboard_queries_name_real_metrics() -> None:
    dashboard = json.loads((DOCKER / "grafana" / "dashboards" / "llava-serve.json").read_text())
    titles = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    for topic in ("first token", "per output token", "throughput", "queue", "kv-cache", "error"):
        assert topic in titles
    known = our_metric_names()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            for name in re.findall(r"\bllava_serve_[a-z_]+", target["expr"]):
                assert name in known, f"{panel['title']}: unknown metric {name}"
