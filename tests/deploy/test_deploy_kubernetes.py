"""deploy/: every Kubernetes manifest validated offline, kustomizations consistent, and the
operational points of the deployment kept.

How each kind is validated:
- built-in kinds (Deployment, Service, ...): kubernetes-validate's bundled OpenAPI schemas,
  strict mode (unknown fields fail), for the oldest and the newest Kubernetes minor checked;
- ScaledObject (keda.sh/v1alpha1) and ServiceMonitor (monitoring.coreos.com/v1), which
  kubernetes-validate does not know: vendored JSON schemas generated from their CRDs
  (tests/deploy/schemas/, see the README there), plus hand checks of the fields that matter;
- kustomization.yaml: a hand-written schema of kustomize's Kustomization, plus every
  referenced resource and patch file existing and no manifest left unreferenced;
- when `kubectl` (or `kustomize`) is on PATH, each kustomization is also built for real and
  its output validated the same way (skipped otherwise).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from producers.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
SCHEMAS = Path(__file__).resolve().parent / "schemas"

# Oldest minor still commonly run, and the newest kubernetes-validate ships.
K8S_VERSIONS = ("1.29", kubernetes_validate.utils.latest_version())
CRD_SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): "keda-scaledobject.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor.json",
}
KUSTOMIZATION_API = ("kustomize.config.k8s.io/v1beta1", "Kustomization")
# YAML under deploy/ that is not a Kubernetes object.
NOT_MANIFESTS = {"examples/hpa/prometheus-adapter-values.yaml"}
NAME_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}
BASE_IMAGE = "batchrelay"


@dataclass(frozen=True)
class Doc:
    path: Path
    index: int
    body: dict[str, Any]

    @property
    def rel(self) -> str:
        return self.path.relative_to(DEPLOY).as_posix()

    @property
    def kind(self) -> str:
        return str(self.body.get("kind"))

    @property
    def name(self) -> str:
        return str(self.body.get("metadata", {}).get("name"))

    def __str__(self) -> str:
        return f"{self.rel}#{self.index} {self.kind}/{self.name}"


# --- loading -----------------------------------------------------------------------------------


def _yaml_files() -> list[Path]:
    return sorted(p for ext in ("*.yaml", "*.yml") for p in DEPLOY.rglob(ext))


def _docs(path: Path) -> list[Doc]:
    with path.open() as f:
        bodies = [b for b in yaml.safe_load_all(f) if b is not None]
    out = []
    for i, body in enumerate(bodies):
        assert isinstance(body, dict), f"{path}: document {i} is not a mapping"
        out.append(Doc(path, i, body))
    return out


def _kustomization_files() -> list[Path]:
    return [p for p in _yaml_files() if p.name in ("kustomization.yaml", "kustomization.yml")]


def _patch_files() -> set[Path]:
    patches: set[Path] = set()
    for kfile in _kustomization_files():
        k = _docs(kfile)[0].body
        for patch in k.get("patches", []):
            if "path" in patch:
                patches.add((kfile.parent / patch["path"]).resolve())
    return patches


def _manifests() -> list[Doc]:
    docs: list[Doc] = []
    for path in _yaml_files():
        rel = path.relative_to(DEPLOY).as_posix()
        if rel in NOT_MANIFESTS or path in _kustomization_files():
            continue
        docs.extend(_docs(path))
    return docs


MANIFESTS = _manifests()
KUSTOMIZATIONS = _kustomization_files()


def _render(kdir: Path) -> list[dict[str, Any]]:
    """A tiny kustomize: the resources of a kustomization, recursively, minus those that a
    `$patch: delete` patch removes. Enough to reason about what each entry point deploys;
    the real build runs in test_kustomize_build when kubectl or kustomize is available."""
    kfile = kdir / "kustomization.yaml"
    k = _docs(kfile)[0].body
    out: list[dict[str, Any]] = []
    for res in k.get("resources", []):
        target = (kdir / res).resolve()
        if target.is_dir():
            out.extend(_render(target))
        else:
            out.extend(d.body for d in _docs(target))
    for patch in k.get("patches", []):
        body = yaml.safe_load(patch["patch"]) if "patch" in patch else None
        if isinstance(body, dict) and body.get("$patch") == "delete":
            out = [
                o
                for o in out
                if not (
                    o["kind"] == body["kind"] and o["metadata"]["name"] == body["metadata"]["name"]
                )
            ]
    return out


def _find(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj["spec"]["template"]["spec"]
    return list(spec.get("initContainers", [])) + list(spec["containers"])


def _env_refs(container: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(kind, name) of every ConfigMap/Secret a container reads its environment from."""
    for src in container.get("envFrom", []):
        if "configMapRef" in src:
            yield "ConfigMap", src["configMapRef"]["name"]
        if "secretRef" in src:
            yield "Secret", src["secretRef"]["name"]
    for env in container.get("env", []):
        ref = env.get("valueFrom", {})
        if "configMapKeyRef" in ref:
            yield "ConfigMap", ref["configMapKeyRef"]["name"]
        if "secretKeyRef" in ref:
            yield "Secret", ref["secretKeyRef"]["name"]


def _container_port(container: dict[str, Any], ref: int | str) -> int | None:
    """The containerPort a probe or Service port refers to (by name or number), or None."""
    for port in container.get("ports", []):
        if ref in (port.get("name"), port["containerPort"]):
            return int(port["containerPort"])
    return None


@cache
def _crd_validator(schema_file: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / schema_file).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _validate(body: dict[str, Any], version: str) -> None:
    key = (body.get("apiVersion"), body.get("kind"))
    if key in CRD_SCHEMAS:
        errors = list(_crd_validator(CRD_SCHEMAS[key]).iter_errors(body))
        assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
        return
    try:
        kubernetes_validate.validate(body, version, strict=True)
    except kubernetes_validate.ValidationError as e:
        raise AssertionError(f"{list(e.absolute_path)}: {e.message}") from None


BASE = _render(DEPLOY / "base")


# --- every manifest ----------------------------------------------------------------------------


def test_there_is_something_to_validate() -> None:
    kinds = {d.kind for d in MANIFESTS}
    assert {"Deployment", "Service", "Secret", "ConfigMap", "StatefulSet"} <= kinds
    assert {"ScaledObject", "ServiceMonitor", "HorizontalPodAutoscaler"} <= kinds
    assert "PodDisruptionBudget" in kinds


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("doc", MANIFESTS, ids=str)
def test_manifest_is_valid(doc: Doc, version: str) -> None:
    assert doc.body.get("apiVersion") and doc.body.get("kind"), "not a Kubernetes object"
    _validate(doc.body, version)


# Patch files take their labels from the object they patch.
@pytest.mark.parametrize(
    "doc", [d for d in MANIFESTS if d.path.resolve() not in _patch_files()], ids=str
)
def test_manifest_is_labelled(doc: Doc) -> None:
    labels = doc.body["metadata"].get("labels", {})
    assert labels.get(NAME_LABEL) == "batchrelay"
    assert labels.get(COMPONENT_LABEL)


@pytest.mark.parametrize("doc", [d for d in MANIFESTS if d.kind in WORKLOAD_KINDS], ids=str)
def test_workload_selector_and_pod_labels(doc: Doc) -> None:
    selector = doc.body["spec"]["selector"]["matchLabels"]
    pod_labels = doc.body["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()
    assert pod_labels[NAME_LABEL] == "batchrelay"
    assert pod_labels[COMPONENT_LABEL] == doc.body["metadata"]["labels"][COMPONENT_LABEL]


@pytest.mark.parametrize("doc", [d for d in MANIFESTS if d.kind in WORKLOAD_KINDS], ids=str)
def test_pods_are_hardened(doc: Doc) -> None:
    pod = doc.body["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod.get("automountServiceAccountToken") is False
    for c in _containers(doc.body):
        assert c["securityContext"]["allowPrivilegeEscalation"] is False, c["name"]
        assert c["securityContext"]["capabilities"]["drop"] == ["ALL"], c["name"]
        assert c["resources"]["requests"] and c["resources"]["limits"]["memory"], c["name"]
        # Probes that name a port must name one the container declares.
        ports = {p.get("name") for p in c.get("ports", [])}
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            action = c.get(probe, {})
            for kind in ("httpGet", "tcpSocket"):
                port = action.get(kind, {}).get("port")
                if isinstance(port, str):
                    assert port in ports, (c["name"], probe, port)


@pytest.mark.parametrize("doc", [d for d in MANIFESTS if d.kind == "Service"], ids=str)
def test_service_selects_a_workload_of_its_kustomization(doc: Doc) -> None:
    siblings = [
        d for d in MANIFESTS if d.path.parent == doc.path.parent and d.kind in WORKLOAD_KINDS
    ]
    selector = doc.body["spec"]["selector"]
    matches = [
        w
        for w in siblings
        if selector.items() <= w.body["spec"]["template"]["metadata"]["labels"].items()
    ]
    assert len(matches) == 1, f"{doc} selects {len(matches)} workloads"
    target = matches[0]
    for port in doc.body["spec"]["ports"]:
        # targetPort defaults to port; by name or by number, a container must declare it.
        ref = port.get("targetPort", port["port"])
        resolved = [_container_port(c, ref) for c in _containers(target.body)]
        assert any(r is not None for r in resolved), (str(doc), port)


def test_base_is_namespace_agnostic() -> None:
    for obj in BASE:
        assert "namespace" not in obj["metadata"], f"{obj['kind']}/{obj['metadata']['name']}"
    kustomization = _docs(DEPLOY / "base" / "kustomization.yaml")[0].body
    assert "namespace" not in kustomization


def test_base_reads_only_configmaps_and_secrets_it_ships() -> None:
    shipped = {(o["kind"], o["metadata"]["name"]) for o in BASE}
    for obj in BASE:
        if obj["kind"] in WORKLOAD_KINDS:
            for c in _containers(obj):
                for ref in _env_refs(c):
                    assert ref in shipped, (obj["metadata"]["name"], ref)


def test_all_batchrelay_containers_run_the_one_image() -> None:
    images = {c["image"] for o in BASE if o["kind"] in WORKLOAD_KINDS for c in _containers(o)}
    assert images == {BASE_IMAGE}
    kustomization = _docs(DEPLOY / "base" / "kustomization.yaml")[0].body
    assert [i["name"] for i in kustomization["images"]] == [BASE_IMAGE]


# Beat has nothing to probe: a standby beat is idle by design (it waits on the redbeat lock).
UNPROBED = {"batchrelay-beat"}


@pytest.mark.parametrize(
    "deployment",
    [o for o in BASE if o["kind"] == "Deployment"],
    ids=lambda o: o["metadata"]["name"],
)
def test_base_deployments_are_probed(deployment: dict[str, Any]) -> None:
    if deployment["metadata"]["name"] in UNPROBED:
        return
    for c in _containers(deployment):
        assert c.get("livenessProbe"), c["name"]
        # A container that serves a port takes traffic only once it is ready.
        if c.get("ports"):
            assert c.get("readinessProbe"), c["name"]
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            action = c.get(probe, {})
            for kind in ("httpGet", "tcpSocket"):
                if kind in action:
                    assert _container_port(c, action[kind]["port"]), (c["name"], probe)


def test_base_ships_no_unused_configmap_or_secret() -> None:
    used: set[tuple[str, str]] = set()
    for obj in BASE:
        if obj["kind"] in WORKLOAD_KINDS:
            for c in _containers(obj):
                used |= set(_env_refs(c))
            for vol in obj["spec"]["template"]["spec"].get("volumes", []):
                if "secret" in vol:
                    used.add(("Secret", vol["secret"]["secretName"]))
                if "configMap" in vol:
                    used.add(("ConfigMap", vol["configMap"]["name"]))
    shipped = {(o["kind"], o["metadata"]["name"]) for o in BASE}
    unused = {ref for ref in shipped if ref[0] in ("Secret", "ConfigMap")} - used
    assert not unused, f"shipped but read by no workload: {sorted(unused)}"


@pytest.mark.parametrize(
    "pdb",
    [o for o in BASE if o["kind"] == "PodDisruptionBudget"],
    ids=lambda o: o["metadata"]["name"],
)
def test_base_pdbs_leave_room_for_a_drain(pdb: dict[str, Any]) -> None:
    selector = pdb["spec"]["selector"]["matchLabels"]
    selected = [
        o
        for o in BASE
        if o["kind"] == "Deployment"
        and selector.items() <= o["spec"]["template"]["metadata"]["labels"].items()
    ]
    assert len(selected) == 1, [o["metadata"]["name"] for o in selected]
    replicas = selected[0]["spec"]["replicas"]
    # minAvailable == replicas would block every node drain.
    assert 1 <= pdb["spec"]["minAvailable"] < replicas


# --- kustomizations ----------------------------------------------------------------------------


@pytest.mark.parametrize("kfile", KUSTOMIZATIONS, ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_kustomization_is_valid(kfile: Path) -> None:
    docs = _docs(kfile)
    assert len(docs) == 1
    body = docs[0].body
    assert (body["apiVersion"], body["kind"]) == KUSTOMIZATION_API
    errors = list(_crd_validator("kustomization.json").iter_errors(body))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
    for res in body.get("resources", []):
        target = kfile.parent / res
        assert target.is_file() or (target / "kustomization.yaml").is_file(), res
    for patch in body.get("patches", []):
        if "path" in patch:
            assert (kfile.parent / patch["path"]).is_file(), patch["path"]
        else:
            inline = yaml.safe_load(patch["patch"])
            assert isinstance(inline, dict) and inline.get("kind"), patch


@pytest.mark.parametrize("kfile", KUSTOMIZATIONS, ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_no_manifest_is_left_out_of_its_kustomization(kfile: Path) -> None:
    body = _docs(kfile)[0].body
    used = {(kfile.parent / r).resolve() for r in body.get("resources", [])}
    used |= {(kfile.parent / p["path"]).resolve() for p in body.get("patches", []) if "path" in p}
    for path in sorted(kfile.parent.glob("*.y*ml")):
        rel = path.relative_to(DEPLOY).as_posix()
        if path == kfile or rel in NOT_MANIFESTS:
            continue
        assert path.resolve() in used, f"{rel} is not listed in {kfile.relative_to(DEPLOY)}"


def test_every_manifest_directory_has_a_kustomization() -> None:
    dirs = {d.path.parent for d in MANIFESTS}
    assert dirs <= {k.parent for k in KUSTOMIZATIONS}


# --- worker and autoscaling --------------------------------------------------------------------


def test_worker_deployment() -> None:
    worker = _find(BASE, "Deployment", "batchrelay-worker")
    assert "replicas" not in worker["spec"], "the autoscaler owns the replica count"
    pod = worker["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= 120, "room for Celery's warm shutdown"
    (c,) = _containers(worker)
    assert c["command"] == ["batchrelay", "worker"]
    args = c.get("args", [])
    assert "--concurrency" in args and int(args[args.index("--concurrency") + 1]) >= 1
    assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
    probe = " ".join(c["livenessProbe"]["exec"]["command"])
    assert re.search(r"celery -A worker\.app inspect ping -d \"?celery@\$\{?HOSTNAME", probe), probe
    assert c["livenessProbe"]["timeoutSeconds"] >= 10


def test_keda_scales_the_worker_on_queue_depth() -> None:
    so = _find(BASE, "ScaledObject", "batchrelay-worker")
    assert so["apiVersion"] == "keda.sh/v1alpha1"
    spec = so["spec"]
    worker = _find(BASE, "Deployment", "batchrelay-worker")
    assert spec["scaleTargetRef"]["name"] == worker["metadata"]["name"]
    assert spec["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
    assert spec["minReplicaCount"] >= 1, "workers also poll and collect: never scale to zero"
    assert spec["maxReplicaCount"] > spec["minReplicaCount"]
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "prometheus"
    meta = trigger["metadata"]
    assert re.fullmatch(r"sum\(batchrelay_queue_depth(\{[^}]*\})?\)", meta["query"]), meta["query"]
    assert meta["serverAddress"].startswith("http")
    # KEDA trigger metadata is a map of strings.
    assert all(isinstance(v, str) for v in meta.values())
    assert float(meta["threshold"]) > 0


def test_hpa_example_replaces_keda_with_an_external_metric() -> None:
    objs = _render(DEPLOY / "examples" / "hpa")
    assert not [o for o in objs if o["kind"] == "ScaledObject"], "two autoscalers would fight"
    hpa = _find(objs, "HorizontalPodAutoscaler", "batchrelay-worker")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == "batchrelay-worker"
    assert hpa["spec"]["minReplicas"] >= 1
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] in ("External", "Pods")
    source = metric["external"] if metric["type"] == "External" else metric["pods"]
    assert source["metric"]["name"] == "batchrelay_queue_depth"
    # ...and prometheus-adapter is told to serve that name.
    values = yaml.safe_load(
        (DEPLOY / "examples" / "hpa" / "prometheus-adapter-values.yaml").read_text()
    )
    rules = values["rules"]["external" if metric["type"] == "External" else "custom"]
    assert any(r["name"]["as"] == "batchrelay_queue_depth" for r in rules)
    assert any("batchrelay_queue_depth" in r["seriesQuery"] for r in rules)


# --- beat, flower, exporter --------------------------------------------------------------------


def test_beat_runs_two_replicas() -> None:
    beat = _find(BASE, "Deployment", "batchrelay-beat")
    assert beat["spec"]["replicas"] == 2
    (c,) = _containers(beat)
    assert c["command"] == ["batchrelay", "beat"]
    pdb = [o for o in BASE if o["kind"] == "PodDisruptionBudget"]
    assert any(
        p["spec"]["selector"]["matchLabels"].items()
        <= beat["spec"]["template"]["metadata"]["labels"].items()
        and p["spec"].get("minAvailable") == 1
        for p in pdb
    )


def test_flower_is_behind_basic_auth() -> None:
    flower = _find(BASE, "Deployment", "batchrelay-flower")
    (c,) = _containers(flower)
    assert c["command"] == ["batchrelay", "flower"]
    # Flower binds 127.0.0.1 unless given --address.
    assert c["args"] == ["--address", "0.0.0.0", "--port", "5555"]
    secrets = [name for kind, name in _env_refs(c) if kind == "Secret"]
    auth = [
        o
        for o in BASE
        if o["kind"] == "Secret"
        and o["metadata"]["name"] in secrets
        and "BATCHRELAY_FLOWER_BASIC_AUTH" in {**o.get("stringData", {}), **o.get("data", {})}
    ]
    assert len(auth) == 1, (
        "the Flower Deployment must read BATCHRELAY_FLOWER_BASIC_AUTH from a Secret"
    )
    value = auth[0]["stringData"]["BATCHRELAY_FLOWER_BASIC_AUTH"]
    assert re.fullmatch(r"[^:]+:.+", value), "user:password"
    assert "REPLACE" in value, "the shipped value is a placeholder, documented to replace"
    svc = _find(BASE, "Service", "batchrelay-flower")
    assert [p["port"] for p in svc["spec"]["ports"]] == [5555]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthcheck"


def test_exporter_is_scraped() -> None:
    exporter = _find(BASE, "Deployment", "batchrelay-exporter")
    assert exporter["spec"]["replicas"] == 1
    assert exporter["spec"]["strategy"]["type"] == "Recreate", "never two exporters at once"
    (c,) = _containers(exporter)
    assert c["command"] == ["batchrelay", "exporter"]
    assert c["args"] == ["--host", "0.0.0.0", "--port", "9808"]
    svc = _find(BASE, "Service", "batchrelay-exporter")
    (port,) = svc["spec"]["ports"]
    assert port["port"] == 9808
    sm = _find(BASE, "ServiceMonitor", "batchrelay-exporter")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert [e["port"] for e in sm["spec"]["endpoints"]] == [port["name"]]
    assert sm["spec"]["endpoints"][0].get("path", "/metrics") == "/metrics"


# --- gateway -----------------------------------------------------------------------------------

GATEWAY_PORT = 8090


def _gateway_container() -> dict[str, Any]:
    (c,) = _containers(_find(BASE, "Deployment", "batchrelay-gateway"))
    return c


def _gateway_keys_secret(objs: list[dict[str, Any]]) -> dict[str, Any]:
    """The one Secret the gateway reads that carries BATCHRELAY_GATEWAY_KEYS."""
    gateway = _find(objs, "Deployment", "batchrelay-gateway")
    (c,) = _containers(gateway)
    names = {name for kind, name in _env_refs(c) if kind == "Secret"}
    found = [
        o
        for o in objs
        if o["kind"] == "Secret"
        and o["metadata"]["name"] in names
        and "BATCHRELAY_GATEWAY_KEYS" in {**o.get("stringData", {}), **o.get("data", {})}
    ]
    assert len(found) == 1, "the gateway must read BATCHRELAY_GATEWAY_KEYS from one Secret"
    return found[0]


def test_gateway_deployment() -> None:
    gateway = _find(BASE, "Deployment", "batchrelay-gateway")
    spec = gateway["spec"]
    assert spec["replicas"] >= 2, "stateless, and never a single point of failure"
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    c = _gateway_container()
    assert c["command"] == ["batchrelay", "gateway"]
    # The gateway binds 127.0.0.1 unless told otherwise; a pod must listen on all interfaces.
    assert c["args"] == ["--host", "0.0.0.0", "--port", str(GATEWAY_PORT)]
    for probe in ("readinessProbe", "livenessProbe"):
        http = c[probe]["httpGet"]
        assert http["path"] == "/healthz", probe
        assert _container_port(c, http["port"]) == GATEWAY_PORT, probe
        assert "httpHeaders" not in http, "/healthz needs no credentials"
    refs = set(_env_refs(c))
    assert {("ConfigMap", "batchrelay-config"), ("Secret", "batchrelay-redis")} <= refs
    pod = spec["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= 30, "room to finish requests in flight"


def test_gateway_service_targets_the_pod_port() -> None:
    svc = _find(BASE, "Service", "batchrelay-gateway")
    assert svc["spec"].get("type", "ClusterIP") == "ClusterIP"
    (port,) = svc["spec"]["ports"]
    assert port["port"] == GATEWAY_PORT
    assert _container_port(_gateway_container(), port.get("targetPort", port["port"])) == (
        GATEWAY_PORT
    )
    selector = svc["spec"]["selector"]
    selected = [
        o["metadata"]["name"]
        for o in BASE
        if o["kind"] in WORKLOAD_KINDS
        and selector.items() <= o["spec"]["template"]["metadata"]["labels"].items()
    ]
    assert selected == ["batchrelay-gateway"]


def test_gateway_has_a_disruption_budget() -> None:
    gateway = _find(BASE, "Deployment", "batchrelay-gateway")
    labels = gateway["spec"]["template"]["metadata"]["labels"]
    pdbs = [
        p
        for p in BASE
        if p["kind"] == "PodDisruptionBudget"
        and p["spec"]["selector"]["matchLabels"].items() <= labels.items()
    ]
    assert len(pdbs) == 1
    assert pdbs[0]["spec"]["minAvailable"] == 1


def test_gateway_keys_are_a_secret_placeholder_that_lets_nobody_in() -> None:
    secret = _gateway_keys_secret(BASE)
    assert secret["metadata"]["name"] == "batchrelay-gateway"
    keys = json.loads(secret["stringData"]["BATCHRELAY_GATEWAY_KEYS"])
    assert isinstance(keys, dict) and keys
    assert any("replace" in tenant.lower() for tenant in keys), "documented to replace"
    for tenant, key in keys.items():
        # Shipped in git, so never a usable key: only a hash, and one no key matches.
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", key), (tenant, key)
        assert set(key.removeprefix("sha256:")) == {"0"}, (tenant, key)
    # A placeholder webhook secret would switch POST /webhooks/openai on with a bogus key.
    assert "OPENAI_WEBHOOK_SECRET" not in {**secret.get("stringData", {}), **secret.get("data", {})}


def test_gateway_liveness_rides_out_a_redis_outage() -> None:
    """/healthz answers 503 while Redis does not (gateway/app.py), and a restart does not
    bring Redis back: liveness gives up no sooner than the other roles do."""
    live = _gateway_container()["livenessProbe"]
    tolerance = Settings.model_fields["redis_outage_tolerance"].default
    assert live["periodSeconds"] * live["failureThreshold"] >= tolerance
    ready = _gateway_container()["readinessProbe"]
    assert ready["periodSeconds"] * ready.get("failureThreshold", 3) <= 60, "leave quickly"


def test_dev_overlay_gives_the_gateway_the_compose_dev_tenant() -> None:
    objs = _render(DEPLOY / "overlays" / "dev")
    _find(objs, "Deployment", "batchrelay-gateway")
    _find(objs, "Service", "batchrelay-gateway")
    kustomization = _docs(DEPLOY / "overlays" / "dev" / "kustomization.yaml")[0].body
    patches = [
        _docs(DEPLOY / "overlays" / "dev" / p["path"])[0].body
        for p in kustomization["patches"]
        if "path" in p
    ]
    (patch,) = [
        b
        for b in patches
        if b["kind"] == "Secret" and b["metadata"]["name"] == "batchrelay-gateway"
    ]
    keys = json.loads(patch["stringData"]["BATCHRELAY_GATEWAY_KEYS"])
    dev_env = (REPO / "deploy" / "compose" / "dev.env").read_text()
    (line,) = [ln for ln in dev_env.splitlines() if ln.startswith("BATCHRELAY_GATEWAY_KEYS=")]
    assert keys == json.loads(line.partition("=")[2]) == {"dev": "dev-key-change-me"}


# --- settings and redis ------------------------------------------------------------------------


def test_configmap_holds_batchrelay_settings() -> None:
    cm = _find(BASE, "ConfigMap", "batchrelay-config")
    data = cm["data"]
    assert data, "settings"
    assert all(k.startswith("BATCHRELAY_") for k in data), list(data)
    assert all(isinstance(v, str) for v in data.values())
    assert int(data["BATCHRELAY_MAX_REQUESTS_PER_BATCH"]) <= 50_000
    assert int(data["BATCHRELAY_MAX_BATCH_BYTES"]) <= 200 * 1024 * 1024
    for key in (
        "BATCHRELAY_REDIS_URL",
        "BATCHRELAY_WEBHOOK_SECRET",
        "BATCHRELAY_FLOWER_BASIC_AUTH",
        "BATCHRELAY_GATEWAY_KEYS",
        "OPENAI_WEBHOOK_SECRET",
    ):
        assert key not in data, f"{key} is a secret"


def test_redis_url_is_a_secret_pointing_at_the_example_redis() -> None:
    secret = _find(BASE, "Secret", "batchrelay-redis")
    url = secret["stringData"]["BATCHRELAY_REDIS_URL"]
    assert re.match(r"^(redis|rediss|sentinel)://", url)
    host = re.sub(r"^\w+://(?:[^@]*@)?", "", url).split(":")[0].split("/")[0]
    redis = _render(DEPLOY / "examples" / "redis")
    svc = _find(redis, "Service", host)
    sts = _find(redis, "StatefulSet", "batchrelay-redis")
    assert sts["spec"]["serviceName"] == svc["metadata"]["name"]


def test_example_redis_persists_with_aof_and_never_evicts() -> None:
    objs = _render(DEPLOY / "examples" / "redis")
    cm = _find(objs, "ConfigMap", "batchrelay-redis-config")
    conf: dict[str, str] = {}
    for line in cm["data"]["redis.conf"].splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            conf[key] = value.strip()
    assert conf["appendonly"] == "yes"
    assert conf["appendfsync"] == "everysec"
    assert conf["maxmemory-policy"] == "noeviction"
    sts = _find(objs, "StatefulSet", "batchrelay-redis")
    (c,) = _containers(sts)
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert c["command"] == ["redis-server", f"{mounts['config']}/redis.conf"]
    assert mounts["data"] == conf["dir"] == "/data"
    assert [t["metadata"]["name"] for t in sts["spec"]["volumeClaimTemplates"]] == ["data"]
    volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    assert volumes["config"]["configMap"]["name"] == cm["metadata"]["name"]


def test_dev_overlay_runs_the_emulator_and_points_workers_at_it() -> None:
    objs = _render(DEPLOY / "overlays" / "dev")
    emulator = _find(objs, "Deployment", "batchrelay-emulator")
    (c,) = _containers(emulator)
    assert c["command"] == ["batchrelay", "emulator"]
    assert c["args"] == ["--host", "0.0.0.0", "--port", "8089"]
    svc = _find(objs, "Service", "batchrelay-emulator")
    patch = yaml.safe_load((DEPLOY / "overlays" / "dev" / "config-patch.yaml").read_text())
    url = patch["data"]["OPENAI_BASE_URL"]
    assert url == f"http://{svc['metadata']['name']}:{svc['spec']['ports'][0]['port']}/v1"
    assert not [o for o in objs if o["kind"] in ("ScaledObject", "ServiceMonitor")]
    _find(objs, "StatefulSet", "batchrelay-redis")


# --- the real kustomize, when there is one -----------------------------------------------------


def _kustomize_cli() -> list[str] | None:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


KUSTOMIZE = _kustomize_cli()


@pytest.mark.skipif(KUSTOMIZE is None, reason="neither kustomize nor kubectl on PATH")
@pytest.mark.parametrize("kfile", KUSTOMIZATIONS, ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_kustomize_build(kfile: Path) -> None:
    assert KUSTOMIZE is not None
    out = subprocess.run(
        [*KUSTOMIZE, str(kfile.parent)], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    built = [b for b in yaml.safe_load_all(out.stdout) if b]
    assert built
    for body in built:
        _validate(body, K8S_VERSIONS[-1])
    # The tiny renderer above agrees with kustomize on what gets deployed.
    assert sorted((b["kind"], b["metadata"]["name"]) for b in built) == sorted(
        (o["kind"], o["metadata"]["name"]) for o in _render(kfile.parent)
    )
