"""Static checks of deploy/: what can be verified without a Docker engine or a Kubernetes cluster.

Compose and Helm files are parsed, cross-checked against the repository (build contexts, Dockerfiles,
copied paths), the project's environment contract and the Helm chart's documented keys; images must
be pinned; no secret may be baked into a file. deploy/dagster.yaml is validated by Dagster itself here
(schema) and loaded against a real PostgreSQL in test_postgres_instance.py.
"""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
HERE = Path(__file__).resolve().parent
VERSION = (REPO / "aircall_pipeline" / "VERSION").read_text().strip()

# Variables named in deploy/ that belong to someone else's contract, not the project's.
THIRD_PARTY_VARS = {
    # boto3's own names ("AWS_ENDPOINT_URL_S3 and the usual AWS_*" in the design's contract)
    "AWS_ENDPOINT_URL_S3": "boto3: S3 endpoint (MinIO / moto)",
    "AWS_ACCESS_KEY_ID": "boto3 credentials",
    "AWS_SECRET_ACCESS_KEY": "boto3 credentials",
    "AWS_SESSION_TOKEN": "boto3 credentials",
    "AWS_DEFAULT_REGION": "boto3 region",
    # Dagster's: the image a code location runs in (read by container run launchers)
    "DAGSTER_CURRENT_IMAGE": "Dagster",
    # the postgres image's first-start variables (compose `postgres` service)
    "POSTGRES_USER": "postgres image",
    "POSTGRES_PASSWORD": "postgres image",
    "POSTGRES_DB": "postgres image",
}
# Read by the project but provided by the platform, never by the operator: the images set it.
PLATFORM_VARS = {"DAGSTER_HOME"}
SECRET_VARS = {
    "AIRCALL_API_ID",
    "AIRCALL_API_TOKEN",
    "AIRCALL_PII_HASH_KEY",
    "ALERT_SLACK_TOKEN",
    "ALERT_WEBHOOK_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "DAGSTER_POSTGRES_PASSWORD",
    "POSTGRES_PASSWORD",
}

EXAMPLE_ACCOUNTS = DEPLOY / "accounts" / "accounts.example.yaml"
ACCOUNTS_MOUNT = "/etc/aircall/accounts"  # where compose and Helm mount the accounts folder / ConfigMap


def example_accounts():
    from aircall_pipeline.config.accounts import load_accounts
    from aircall_pipeline.config.settings import Settings

    return load_accounts(str(EXAMPLE_ACCOUNTS), Settings.defaults())


def account_key_vars() -> set[str]:
    """The per-account key variables (SECRET). settings.py reads no fixed name for them: their NAMES
    are whatever the accounts file's api_id_env / api_token_env say, so the example file is their
    contract in deploy/."""
    return {name for account in example_accounts() for name in (account.api_id_env, account.api_token_env)}


_READ_PATTERNS = [
    # os.environ.get("X"), os.environ["X"], os.getenv("X"), env("X") (settings' alias), _int("X", ...)
    re.compile(
        r"""(?:environ\.get|environ\[|getenv|\benv|\b_int|EnvVar(?:\.int)?)\(?\s*\(?\s*["']([A-Z][A-Z0-9_]{2,})["']"""
    ),
    # NAME_VAR = "X" / ENV_VAR = "X": a variable name kept in a constant
    re.compile(r"""^\s*[A-Z_]*VAR\s*=\s*["']([A-Z][A-Z0-9_]{2,})["']""", re.M),
]


def load_yaml(path: Path):
    return yaml.safe_load(path.read_text())


def project_reads() -> set[str]:
    """Every environment variable the package reads (settings.py and the few documented elsewhere)."""
    names: set[str] = set()
    for path in (REPO / "aircall_pipeline").rglob("*.py"):
        text = path.read_text()
        for pattern in _READ_PATTERNS:
            names.update(pattern.findall(text))
    return names


def dagster_yaml_env_refs(path: Path) -> set[str]:
    refs: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            if set(node) == {"env"} and isinstance(node["env"], str):
                refs.add(node["env"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(load_yaml(path))
    return refs


def contract() -> set[str]:
    return (
        project_reads()
        | dagster_yaml_env_refs(DEPLOY / "dagster.yaml")
        | dagster_yaml_env_refs(REPO / "dagster.yaml")
        | set(THIRD_PARTY_VARS)
        | account_key_vars()
    )


def env_example() -> dict[str, str]:
    values = {}
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep, f".env.example line without '=': {line!r}"
        assert name not in values, f"{name} listed twice in .env.example"
        values[name] = value
    return values


def compose() -> dict:
    return load_yaml(DEPLOY / "docker-compose.yaml")


def helm_values() -> dict:
    return load_yaml(DEPLOY / "helm" / "values.yaml")


def compose_env_names() -> set[str]:
    names = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", (DEPLOY / "docker-compose.yaml").read_text()))
    for service in compose()["services"].values():
        env = service.get("environment") or {}
        names.update(env if isinstance(env, dict) else (item.split("=", 1)[0] for item in env))
    return names


def helm_env_names() -> set[str]:
    values = helm_values()
    names: set[str] = set()
    for section in (values.get("dagsterWebserver", {}), values.get("dagsterDaemon", {})):
        names.update(section.get("env") or {})
    for deployment in values["dagster-user-deployments"]["deployments"]:
        names.update(deployment.get("env") or {})
    return names


def readme_secret_names() -> set[str]:
    text = (DEPLOY / "README.md").read_text()
    return set(re.findall(r"--from-literal=([A-Z][A-Z0-9_]*)=", text))


def flatten(node, prefix: str = ""):
    if isinstance(node, dict):
        if not node:
            yield prefix
        for key, value in node.items():
            yield from flatten(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(node, list):
        if not node:
            yield prefix
        for value in node:
            yield from flatten(value, prefix + "[]")
    else:
        yield prefix


def key_allowed(path: str, allowed: list[str]) -> bool:
    for pattern in allowed:
        if pattern.endswith(".*"):
            base = pattern[:-2]
            if path == base or path.startswith(base + ".") or path.startswith(base + "["):
                return True
        elif path == pattern:
            return True
    return False


# ------------------------------------------------------------------------------------------------
# Parsing and the files compose builds from
# ------------------------------------------------------------------------------------------------


def test_compose_and_helm_files_parse():
    assert set(compose()["services"]) >= {
        "postgres",
        "redis",
        "s3",
        "s3_init",
        "user_code",
        "webserver",
        "daemon",
    }
    assert helm_values()["runLauncher"]["type"] == "K8sRunLauncher"
    docs = list(yaml.safe_load_all((DEPLOY / "helm" / "redis.yaml").read_text()))
    assert [d["kind"] for d in docs] == ["Deployment", "Service", "NetworkPolicy"]
    assert load_yaml(DEPLOY / "workspace.yaml")["load_from"][0]["grpc_server"]["port"] == 4000


def test_every_build_context_and_dockerfile_exists_and_every_copied_path_too():
    builds = {name: s["build"] for name, s in compose()["services"].items() if "build" in s}
    assert {"user_code", "webserver"} <= set(builds)
    for name, build in builds.items():
        context = (DEPLOY / build["context"]).resolve()
        dockerfile = context / build["dockerfile"]
        assert context.is_dir(), f"{name}: build context {context} missing"
        assert dockerfile.is_file(), f"{name}: {dockerfile} missing"
        ignore = Path(f"{dockerfile}.dockerignore")
        assert ignore.is_file(), f"{name}: {ignore.name} keeps .venv/.env/evidence out of the build context"
        patterns = [p.strip() for p in ignore.read_text().splitlines() if p.strip() and not p.startswith("#")]
        for line in dockerfile.read_text().splitlines():
            if not line.startswith("COPY "):
                continue
            sources = [s for s in line.split()[1:-1] if not s.startswith("--")]
            for source in sources:
                assert (context / source).exists(), f"{dockerfile.name}: COPY {source} does not exist"
                # The Dockerfile-specific .dockerignore must let the path in.
                included = False
                for pattern in patterns:
                    negate = pattern.startswith("!")
                    pat = pattern.lstrip("!")
                    if fnmatch.fnmatch(source, pat) or fnmatch.fnmatch(source + "/x", pat):
                        included = negate
                assert included, f"{ignore.name} excludes {source}, which {dockerfile.name} copies"


def test_dockerfiles_run_as_non_root_with_healthchecks_and_the_documented_commands():
    user_code = (DEPLOY / "Dockerfile").read_text()
    dagster = (DEPLOY / "Dockerfile.dagster").read_text()
    for text in (user_code, dagster):
        users = re.findall(r"^USER\s+(\S+)", text, re.M)
        assert users and users[-1].split(":")[0] not in ("0", "root")
        assert "HEALTHCHECK" in text
        assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11\.\d+-slim", text, re.M)
        assert "pins.py" in text and "--constraint" in text  # versions come from setup.py
        # No secret is baked into an image layer.
        for name in SECRET_VARS:
            assert not re.search(rf"^(ENV|ARG)\b.*\b{name}\b", text, re.M), f"{name} baked into a Dockerfile"
    assert (
        'CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "aircall_pipeline.definitions",'
        ' "--heartbeat-ttl", "300"]' in user_code
    )
    assert '".[postgres,k8s]"' in user_code
    installed = re.search(r"--constraint \S+ \\\n\s+(.+?) \\\n", dagster).group(1).split()
    assert installed == ["dagster", "dagster-webserver", "dagster-postgres", "dagster-aws", "dagster-k8s"]


def test_pins_come_from_setup_py_and_match_what_the_tests_run_with():
    # -I -S: no site-packages, no setuptools: exactly what a bare python:3.11-slim build stage has.
    out = subprocess.run(
        [sys.executable, "-I", "-S", str(DEPLOY / "pins.py"), str(REPO / "setup.py")],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    pins = dict(line.split("==") for line in out.split())
    for dist in (
        "dagster",
        "dagster-webserver",
        "dagster-postgres",
        "dagster-aws",
        "dagster-k8s",
        "psycopg2-binary",
    ):
        assert pins[dist] == version(dist), f"{dist}: image would get {pins[dist]}, tests run {version(dist)}"
    assert all(
        re.fullmatch(r"[a-z0-9-]+", name) for name in pins
    )  # no extras: pip refuses them in constraints


# ------------------------------------------------------------------------------------------------
# Images
# ------------------------------------------------------------------------------------------------


def _assert_pinned(image: str, where: str):
    assert ":" in image.rsplit("/", 1)[-1], f"{where}: image {image!r} has no tag"
    tag = image.rsplit(":", 1)[1]
    assert tag and tag != "latest" and not tag.startswith("$"), f"{where}: image {image!r} is not pinned"


def test_every_image_is_pinned():
    for name, service in compose()["services"].items():
        _assert_pinned(service["image"], f"compose service {name}")
        if "build" in service:
            # The project's own images carry the package version, bumped with aircall_pipeline/VERSION.
            assert service["image"].endswith(f":{VERSION}"), f"{name}: tag must be {VERSION}"
    user_code_env = compose()["services"]["user_code"]["environment"]
    assert user_code_env["DAGSTER_CURRENT_IMAGE"] == compose()["services"]["user_code"]["image"]

    values = helm_values()
    images = [
        values["dagsterWebserver"]["image"],
        values["dagsterDaemon"]["image"],
        *(d["image"] for d in values["dagster-user-deployments"]["deployments"]),
    ]
    for image in images:
        _assert_pinned(f"{image['repository']}:{image['tag']}", "helm values")
        assert str(image["tag"]) == VERSION
    for doc in yaml.safe_load_all((DEPLOY / "helm" / "redis.yaml").read_text()):
        for container in doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            _assert_pinned(container["image"], "helm/redis.yaml")
    for dockerfile in ("Dockerfile", "Dockerfile.dagster"):
        text = (DEPLOY / dockerfile).read_text()
        for image in re.findall(r"^ARG PYTHON_IMAGE=(\S+)", text, re.M):
            _assert_pinned(image, dockerfile)
        assert "latest" not in text


def test_helm_chart_version_matches_the_pinned_dagster():
    reference = load_yaml(HERE / "helm_chart_keys.yaml")
    assert reference["chart_version"] == version("dagster")
    values_text = (DEPLOY / "helm" / "values.yaml").read_text()
    assert f"--version {version('dagster')}" in values_text
    assert f"--version {version('dagster')}" in (DEPLOY / "README.md").read_text()


# ------------------------------------------------------------------------------------------------
# Environment contract
# ------------------------------------------------------------------------------------------------


def test_env_example_lists_names_only():
    values = env_example()
    assert values, ".env.example is empty"
    filled = {name: value for name, value in values.items() if value.strip()}
    assert not filled, f".env.example must carry names only, found values for {sorted(filled)}"
    # Every variable has a comment above it or in its block: at least one comment per 3 names.
    text = (DEPLOY / ".env.example").read_text()
    assert text.count("\n#") >= len(values) // 3


def test_every_variable_the_project_reads_is_in_env_example():
    needed = (project_reads() | dagster_yaml_env_refs(DEPLOY / "dagster.yaml")) - PLATFORM_VARS
    missing = needed - set(env_example())
    assert not missing, f"read by the project but absent from deploy/.env.example: {sorted(missing)}"
    # The contract the design fixes must be read somewhere (guards the scan itself).
    for name in (
        "AIRCALL_API_ID",
        "AIRCALL_API_TOKEN",
        "AIRCALL_LIMITER_URL",
        "EVIDENCE_URI",
        "ALERT_WEBHOOK_URL",
    ):
        assert name in needed


@pytest.mark.parametrize(
    "source, names",
    [
        (".env.example", lambda: set(env_example())),
        ("docker-compose.yaml", compose_env_names),
        ("helm/values.yaml", helm_env_names),
        ("README.md (kubectl --from-literal)", readme_secret_names),
    ],
)
def test_every_variable_named_in_deploy_is_in_the_contract(source, names):
    named = names()
    assert named, f"no variable found in {source}: the scan is broken"
    unknown = named - contract()
    assert not unknown, (
        f"{source} names variables nobody reads: {sorted(unknown)} "
        "(a typo, or a variable missing from settings.py / dagster.yaml)"
    )


def test_no_secret_value_is_written_in_compose_or_helm():
    for name, service in compose()["services"].items():
        env = service.get("environment") or {}
        for var, value in env.items():
            if var in SECRET_VARS | account_key_vars():
                assert str(value).startswith("${"), f"compose {name}: {var} must come from .env, not the file"
    paths = list(flatten(helm_values()))
    assert not any(p.endswith("postgresqlPassword") for p in paths), (
        "the Postgres password belongs in a Secret"
    )
    for env_name in helm_env_names() | set(several_accounts_env()):
        assert env_name not in SECRET_VARS | account_key_vars(), (
            f"helm values: {env_name} is a secret, put it in a Kubernetes Secret"
        )
    # The secrets the run pods need are attached where run pods get them.
    deployment = helm_values()["dagster-user-deployments"]["deployments"][0]
    secret_names = {s["name"] for s in deployment["envSecrets"]}
    assert "aircall-api-key" in secret_names
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True
    launcher = helm_values()["runLauncher"]["config"]["k8sRunLauncher"]
    assert secret_names <= {s["name"] for s in launcher["envSecrets"]}
    # The chart keeps only names for run pods: `optional` would silently not apply there.
    assert not [p for p in paths if p.endswith(".optional")]


def test_the_limiter_is_shared_through_redis_in_compose_and_helm():
    user_code = compose()["services"]["user_code"]
    assert user_code["environment"]["AIRCALL_LIMITER_URL"].endswith("redis://redis:6379/0}")
    deployment = helm_values()["dagster-user-deployments"]["deployments"][0]
    assert deployment["env"]["AIRCALL_LIMITER_URL"] == "redis://aircall-redis:6379/0"
    service = next(
        d for d in yaml.safe_load_all((DEPLOY / "helm" / "redis.yaml").read_text()) if d["kind"] == "Service"
    )
    assert service["metadata"]["name"] == "aircall-redis" and service["spec"]["ports"][0]["port"] == 6379


# ------------------------------------------------------------------------------------------------
# Helm keys
# ------------------------------------------------------------------------------------------------


def test_helm_values_use_only_documented_chart_keys():
    allowed = load_yaml(HERE / "helm_chart_keys.yaml")["allowed"]
    unknown = [p for p in flatten(helm_values()) if not key_allowed(p, allowed)]
    assert not unknown, f"keys the dagster/dagster chart does not document: {unknown}"


def test_helm_user_deployment_serves_the_definitions_module():
    deployment = helm_values()["dagster-user-deployments"]["deployments"][0]
    assert deployment["codeServerArgs"] == ["-m", "aircall_pipeline.definitions", "--heartbeat-ttl", "300"]
    assert deployment["port"] == 4000
    assert helm_values()["dagster-user-deployments"]["enabled"] is True


# ------------------------------------------------------------------------------------------------
# Concurrency: one place only, same limits in compose (dagster.yaml) and Helm
# ------------------------------------------------------------------------------------------------

RUN_QUEUE_LIMIT_KEYS = ("max_concurrent_runs", "tag_concurrency_limits", "block_op_concurrency_limited_runs")


def test_concurrency_is_not_duplicated_under_the_run_coordinator():
    instance = load_yaml(DEPLOY / "dagster.yaml")
    coordinator_config = (instance.get("run_coordinator") or {}).get("config") or {}
    assert not set(coordinator_config) & set(RUN_QUEUE_LIMIT_KEYS)
    assert not set(instance.get("run_queue") or {}) & set(RUN_QUEUE_LIMIT_KEYS)

    values = helm_values()
    queued = (
        values.get("dagsterDaemon", {})
        .get("runCoordinator", {})
        .get("config", {})
        .get("queuedRunCoordinator", {})
    )
    assert not {"maxConcurrentRuns", "tagConcurrencyLimits", "blockOpConcurrencyLimitedRuns"} & set(queued)


def test_compose_and_helm_apply_the_same_limits_as_local_dagster_yaml():
    from dagster._core.storage.tags import get_multidimensional_partition_tag

    from aircall_pipeline.ingest.partitions import ACCOUNT_DIM
    from aircall_pipeline.names import ACCOUNT_TAG

    local = load_yaml(REPO / "dagster.yaml")["concurrency"]
    prod = load_yaml(DEPLOY / "dagster.yaml")["concurrency"]
    helm = helm_values()["concurrency"]
    assert helm["enabled"] is True
    # One run per account at a time: by the `aircall/account` tag (scheduler, CLI, backfill command)
    # and by the partition's account (runs and backfills launched from the UI carry only that one).
    per_account = [{"key": key, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
                   for key in (ACCOUNT_TAG, get_multidimensional_partition_tag(ACCOUNT_DIM))]
    for limits in (local["runs"]["tag_concurrency_limits"], prod["runs"]["tag_concurrency_limits"],
                   helm["runs"]["tagConcurrencyLimits"]):
        assert all(limit in limits for limit in per_account), limits
    runs = {local["runs"]["max_concurrent_runs"], prod["runs"]["max_concurrent_runs"], helm["runs"]["maxConcurrentRuns"]}
    assert len(runs) == 1
    # The one `aircall_api` pool is shared by every account's API steps: as large as the run limit
    # (a run executes one step at a time), so it never makes one account wait for another's step;
    # a limit of 1 (the per-account pools' value) would serialize every account.
    pools = {local["pools"]["default_limit"], prod["pools"]["default_limit"], helm["pools"]["defaultLimit"]}
    assert pools == runs and runs.pop() > 1
    assert local["pools"]["granularity"] == prod["pools"]["granularity"] == helm["pools"]["granularity"] == "op"


def test_the_run_queue_paces_backfill_chunks_the_same_everywhere():
    """A backfill's chunks each wait for the queue's next pass; the three instances agree on it."""
    local = load_yaml(REPO / "dagster.yaml")["run_coordinator"]["config"]["dequeue_interval_seconds"]
    prod = load_yaml(DEPLOY / "dagster.yaml")["run_coordinator"]["config"]["dequeue_interval_seconds"]
    helm = helm_values()["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert local == prod == helm["dequeueIntervalSeconds"] == 1


def test_deploy_dagster_yaml_validates_against_dagsters_instance_schema(tmp_path, monkeypatch):
    """Schema only (the full load against a real Postgres is in test_postgres_instance.py)."""
    from dagster._core.instance.config import dagster_instance_config

    (tmp_path / "dagster.yaml").write_text((DEPLOY / "dagster.yaml").read_text())
    for name in dagster_yaml_env_refs(DEPLOY / "dagster.yaml"):
        monkeypatch.setenv(name, "5432" if name.endswith("_PORT") else "x")
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["storage"]["postgres"]["postgres_db"]["port"] == {"env": "DAGSTER_POSTGRES_PORT"}
    assert config["telemetry"]["enabled"] is False
    assert config["run_monitoring"]["enabled"] is True
    assert config["compute_logs"]["class"] == "S3ComputeLogManager"
    assert "endpoint_url" not in config["compute_logs"]["config"]  # boto3 reads AWS_ENDPOINT_URL_S3 itself


def test_concurrency_in_both_places_is_refused_by_dagster(tmp_path):
    """The guard the previous test relies on is real: Dagster rejects the duplicate."""
    from dagster._core.errors import DagsterInvalidConfigError
    from dagster._core.instance.config import dagster_instance_config

    config = load_yaml(DEPLOY / "dagster.yaml")
    del config["storage"], config["compute_logs"]
    config["run_coordinator"]["config"]["max_concurrent_runs"] = 2
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(DagsterInvalidConfigError, match="incompatible with the `concurrency > runs` config"):
        dagster_instance_config(str(tmp_path))


def test_readme_covers_the_operator_topics():
    text = (DEPLOY / "README.md").read_text()
    for needle in (
        "docker compose -f deploy/docker-compose.yaml",
        "helm upgrade --install",
        "Rotat",
        "check-connection",
        "pg_dump",
        "Object Lock",
        "COMPLIANCE",
        "What was exercised here and what was not",
    ):
        assert needle in text, f"deploy/README.md lacks {needle!r}"
    assert os.path.basename(str(DEPLOY / ".env.example")) in text


# ------------------------------------------------------------------------------------------------
# Evidence signing key: a file mounted from a secret, only where runs execute; never in deploy/
# ------------------------------------------------------------------------------------------------

SIGNING_SECRET = "evidence_signing_key"  # the Compose secret, and the key inside the Kubernetes Secret


def _compose_default(value: str, name: str) -> str:
    """`${NAME:-default}` -> default (what the container gets when deploy/.env leaves NAME empty)."""
    match = re.fullmatch(rf"\$\{{{name}:-(.*)\}}", str(value))
    assert match, f"{name} should be ${{{name}:-...}} so that deploy/.env can override it, got {value!r}"
    return match.group(1)


def test_compose_mounts_the_signing_key_as_a_secret_into_user_code_only():
    from aircall_pipeline.config.settings import SIGNING_KEY_VAR, _signing_key

    services = compose()["services"]
    user_code = services["user_code"]
    (mount,) = [s for s in user_code["secrets"] if s["source"] == SIGNING_SECRET]
    # Runs execute inside user_code (DefaultRunLauncher): the variable names the mounted file.
    value = _compose_default(user_code["environment"][SIGNING_KEY_VAR], SIGNING_KEY_VAR)
    assert value == f"file:{mount['target']}" and mount["target"].startswith("/run/secrets/")
    assert _signing_key(value) == value  # the form settings.py accepts
    # The secret is a file kept out of git and out of every image build context.
    source = compose()["secrets"][SIGNING_SECRET]["file"]
    path = (DEPLOY / source).resolve()
    relative = path.relative_to(REPO).as_posix()
    assert f"/{Path(relative).parent.as_posix()}/" in (REPO / ".gitignore").read_text().splitlines()
    for ignore in DEPLOY.glob("*.dockerignore"):
        patterns = [p.strip() for p in ignore.read_text().splitlines() if p.strip() and not p.startswith("#")]
        included = False
        for pattern in patterns:
            if fnmatch.fnmatch(relative, pattern.lstrip("!")):
                included = pattern.startswith("!")
        assert not included, f"{ignore.name} lets the signing key into the build context"
    # Nobody else gets the private key: not the webserver, the daemon, or the bucket initialiser.
    others = [name for name, s in services.items() if name != "user_code" and s.get("secrets")]
    assert not others, f"services that do not run runs mount secrets: {others}"


def _helm_key_path(volumes: list[dict], mounts: list[dict]) -> tuple[str, dict]:
    """The file path the signing-key Secret appears at in a pod, and its volume."""
    (volume,) = [
        v for v in volumes if v.get("secret", {}).get("secretName") == "aircall-evidence-signing-key"
    ]
    (mount,) = [m for m in mounts if m["name"] == volume["name"]]
    assert mount.get("readOnly") is True
    (item,) = volume["secret"]["items"]
    assert item["key"] == SIGNING_SECRET
    return f"{mount['mountPath']}/{item['path']}", volume


def test_helm_mounts_the_signing_key_secret_into_the_code_server_and_every_run_pod():
    from aircall_pipeline.config.settings import SIGNING_KEY_VAR, _signing_key

    values = helm_values()
    deployment = values["dagster-user-deployments"]["deployments"][0]
    path, volume = _helm_key_path(deployment["volumes"], deployment["volumeMounts"])
    assert deployment["env"][SIGNING_KEY_VAR] == f"file:{path}"
    assert _signing_key(deployment["env"][SIGNING_KEY_VAR])
    # Group-readable for the image's group (fsGroup), never world-readable.
    assert volume["secret"]["defaultMode"] == 0o440
    # The launcher attaches the same file at the same path, for code locations deployed otherwise.
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert _helm_key_path(launcher["volumes"], launcher["volumeMounts"]) == (path, volume)
    # Secret volume files are owned by root:fsGroup; the run pods run as 10001 and need that group.
    pod_security = launcher["runK8sConfig"]["podSpecConfig"]["securityContext"]
    assert pod_security["fsGroup"] == pod_security["runAsGroup"] == pod_security["runAsUser"] == 10001
    assert deployment["podSecurityContext"]["fsGroup"] == 10001
    # The README creates the Secret with the key name the volume expects.
    assert f"--from-file={SIGNING_SECRET}=" in (DEPLOY / "README.md").read_text()


def test_a_run_pod_gets_the_signing_key_once_when_dagster_merges_launcher_and_code_location():
    """What the K8sRunLauncher does (K8sContainerContext.create_for_run): the launcher's config merged
    with the code location's container context, which the chart builds from the user deployment
    (volumes, volumeMounts, envSecrets). The same volume from both sides must become ONE volume in
    the Job, or Kubernetes refuses the pod (duplicate volume name)."""
    from dagster_k8s.container_context import K8sContainerContext
    from dagster_k8s.job import DagsterK8sJobConfig, UserDefinedDagsterK8sConfig, construct_dagster_k8s_job

    values = helm_values()
    deployment = values["dagster-user-deployments"]["deployments"][0]
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    run_config = launcher["runK8sConfig"]
    from_launcher = K8sContainerContext(
        env_secrets=[s["name"] for s in launcher["envSecrets"]],
        volumes=launcher["volumes"],
        volume_mounts=launcher["volumeMounts"],
        run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(
            {
                "container_config": run_config["containerConfig"],
                "pod_spec_config": run_config["podSpecConfig"],
            }
        ),
    )
    from_code_location = K8sContainerContext.create_from_config({"k8s": {  # the chart's k8sContainerContext
        "env_secrets": [s["name"] for s in deployment["envSecrets"]],
        "volume_mounts": deployment["volumeMounts"],
        "volumes": deployment["volumes"],
    }})  # fmt: skip
    context = K8sContainerContext().merge(from_launcher).merge(from_code_location)
    job = construct_dagster_k8s_job(
        DagsterK8sJobConfig(job_image=f"registry.example.com/aircall-pipeline:{VERSION}", dagster_home="/opt/dagster/dagster_home",
                            instance_config_map="dagster-instance", postgres_password_secret="aircall-postgresql"),
        ["dagster", "api", "execute_run"],
        "dagster-run-test",
        user_defined_k8s_config=context.run_k8s_config,
    )  # fmt: skip
    pod = job.spec.template.spec
    key_volumes = [
        v for v in pod.volumes or [] if v.secret and v.secret.secret_name == "aircall-evidence-signing-key"
    ]
    assert len(key_volumes) == 1 and key_volumes[0].secret.default_mode == 0o440
    mounts = [m for m in pod.containers[0].volume_mounts or [] if m.name == key_volumes[0].name]
    assert len(mounts) == 1 and mounts[0].read_only
    path, _ = _helm_key_path(deployment["volumes"], deployment["volumeMounts"])
    assert path.startswith(mounts[0].mount_path + "/")
    assert pod.security_context.fs_group == 10001


KEY_MATERIAL = re.compile(
    r"-----BEGIN [A-Z ]*(PRIVATE|PUBLIC) KEY-----|MC4CAQAwBQYDK2Vw"
)  # PEM, or Ed25519 PKCS#8 DER in base64


def test_no_key_material_in_deploy_files():
    from aircall_pipeline.evidence.signing import keygen

    for path in sorted(p for p in DEPLOY.rglob("*") if p.is_file() and "secrets" not in p.parts):
        text = path.read_text(errors="replace")
        assert not KEY_MATERIAL.search(text), f"{path.relative_to(REPO)} holds key material"
    # The pattern does catch what keygen writes (guards the scan itself).
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        keygen(Path(tmp) / "k")
        assert KEY_MATERIAL.search((Path(tmp) / "k").read_text())
        assert KEY_MATERIAL.search((Path(tmp) / "k.pub").read_text())
    # .env.example names the variables only (checked above for every name); the key stays a reference.
    assert env_example()["EVIDENCE_SIGNING_KEY"] == ""


def _readme_policies() -> list[dict]:
    """The JSON policy documents of deploy/README.md (each must be valid JSON: operators paste them)."""
    import json

    blocks = re.findall(r"```json\n(.*?)```", (DEPLOY / "README.md").read_text(), re.S)
    return [json.loads(block) for block in blocks]


def _actions(statement: dict) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def test_readme_policies_grant_what_the_code_calls_and_no_more():
    from aircall_pipeline.evidence.backends import _IAM_ACTION

    policies = _readme_policies()
    kms = [p for p in policies if any("Principal" in s for s in p["Statement"])]
    iam = [p for p in policies if p not in kms]
    assert len(kms) == 1 and len(iam) == 2, (
        "expected one KMS key policy, the pipeline's and the auditor's IAM policies"
    )

    # KMS: the pipeline's role signs and reads its public key; auditors never sign.
    def granted(principal_part: str) -> set[str]:
        return {
            a
            for s in kms[0]["Statement"]
            if principal_part in s["Principal"]["AWS"] and s["Effect"] == "Allow"
            for a in _actions(s)
        }

    assert {"kms:Sign", "kms:GetPublicKey"} <= granted("role/aircall-pipeline")
    assert "kms:Sign" not in granted("role/external-auditor") and "kms:GetPublicKey" in granted(
        "external-auditor"
    )
    signers = {s["Principal"]["AWS"] for s in kms[0]["Statement"] if "kms:Sign" in _actions(s)}
    assert signers == {"arn:aws:iam::111122223333:role/aircall-pipeline"}

    # S3: every action the evidence store calls (with Object Lock), never a delete or a bypass.
    pipeline, auditor = iam
    pipeline_actions = set().union(*(_actions(s) for s in pipeline["Statement"]))
    assert set(_IAM_ACTION.values()) | {"s3:PutObjectRetention"} <= pipeline_actions
    assert not {a for a in pipeline_actions if "Delete" in a or "Bypass" in a}
    auditor_actions = set().union(*(_actions(s) for s in auditor["Statement"]))
    assert {"s3:GetObject", "s3:ListBucket"} <= auditor_actions
    assert not {a for a in auditor_actions if a.startswith("s3:Put") or "Delete" in a}


# ------------------------------------------------------------------------------------------------
# Several Aircall accounts: the example accounts file, its compose mount, the Helm example block
# ------------------------------------------------------------------------------------------------

SEVERAL_ACCOUNTS_MARKER = "# several-accounts:"


def several_accounts_block() -> dict:
    """The commented example at the end of helm/values.yaml, uncommented: what an operator adds."""
    text = (DEPLOY / "helm" / "values.yaml").read_text()
    assert SEVERAL_ACCOUNTS_MARKER in text, "helm/values.yaml lost its several-accounts example"
    lines = text.split(SEVERAL_ACCOUNTS_MARKER, 1)[1].splitlines()[1:]
    assert all(line.startswith("#") for line in lines if line.strip()), "the example must end the file"
    return yaml.safe_load("\n".join(line[2:] for line in lines if line.strip()))


def several_accounts_env() -> dict[str, str]:
    return several_accounts_block()["dagster-user-deployments"]["deployments"][0]["env"]


def with_several_accounts() -> dict:
    """values.yaml with the example's entries added to its lists and maps, as the README says."""
    values = helm_values()
    block = several_accounts_block()
    deployment = values["dagster-user-deployments"]["deployments"][0]
    extra = block["dagster-user-deployments"]["deployments"][0]
    assert extra["name"] == deployment["name"]
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    extra_launcher = block["runLauncher"]["config"]["k8sRunLauncher"]
    deployment["env"].update(extra["env"])
    for target, source in ((deployment, extra), (launcher, extra_launcher)):
        for key in ("envSecrets", "volumes", "volumeMounts"):
            target[key] = target[key] + source[key]
    return values


def test_the_example_accounts_file_loads_and_names_only_variables():
    accounts = example_accounts()
    assert [a.name for a in accounts] == ["acme_eu", "acme_us"]
    for account in accounts:
        prefix = f"AIRCALL_{account.name.upper()}_"
        assert (account.api_id_env, account.api_token_env) == (f"{prefix}API_ID", f"{prefix}API_TOKEN")
        assert account.evidence_uri.startswith("s3://") and account.evidence_uri.endswith(f"/{account.name}")
    assert len({a.evidence_uri for a in accounts}) == len(accounts)  # never one folder for two accounts
    # A file an account names is shipped next to it, at the path the mount gives it, and loads.
    from aircall_pipeline.config.policy import CompliancePolicy

    for account in accounts:
        if account.policy_file:
            assert Path(account.policy_file).parent.as_posix() == ACCOUNTS_MOUNT
            shipped = EXAMPLE_ACCOUNTS.parent / Path(account.policy_file).name
            assert CompliancePolicy.from_file(shipped).approved_webhook_domains


def test_compose_mounts_the_accounts_folder_into_user_code_only():
    services = compose()["services"]
    mounts = {name: [v for v in s.get("volumes") or [] if ACCOUNTS_MOUNT in str(v)] for name, s in services.items()}
    assert mounts.pop("user_code") == [f"./accounts:{ACCOUNTS_MOUNT}:ro"]
    assert not any(mounts.values()), f"only user_code loads the definitions: {mounts}"
    # The folder is in git (the example), so the mount exists for a single-account setup too.
    assert (DEPLOY / "accounts").is_dir() and EXAMPLE_ACCOUNTS.is_file()
    assert "env_file" in services["user_code"] and ".env" in services["user_code"]["env_file"]
    assert f"AIRCALL_ACCOUNTS_FILE={ACCOUNTS_MOUNT}/accounts.yaml" in (DEPLOY / "README.md").read_text()
    # Each account's key variable is documented where compose reads it (.env.example, commented out).
    example = (DEPLOY / ".env.example").read_text()
    assert all(f"#   {name}=" in example for name in account_key_vars())


def test_helm_several_accounts_example_uses_documented_keys_and_reaches_every_run_pod():
    allowed = load_yaml(HERE / "helm_chart_keys.yaml")["allowed"]
    unknown = [p for p in flatten(several_accounts_block()) if not key_allowed(p, allowed)]
    assert not unknown, f"keys the dagster/dagster chart does not document: {unknown}"
    values = with_several_accounts()
    deployment = values["dagster-user-deployments"]["deployments"][0]
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    # AIRCALL_ACCOUNTS_FILE is the mounted ConfigMap's accounts.yaml, in the code server and the run pods.
    assert several_accounts_env() == {"AIRCALL_ACCOUNTS_FILE": f"{ACCOUNTS_MOUNT}/accounts.yaml"}
    for where in (deployment, launcher):
        (mount,) = [m for m in where["volumeMounts"] if m["mountPath"] == ACCOUNTS_MOUNT]
        (volume,) = [v for v in where["volumes"] if v["name"] == mount["name"]]
        assert mount["readOnly"] is True and volume["configMap"]["name"] == "aircall-accounts"
    # One Secret per account, attached where the code server and every run pod get them.
    per_account = {f"aircall-{a.name.replace('_', '-')}-api-key" for a in example_accounts()}
    assert per_account <= {s["name"] for s in deployment["envSecrets"]}
    assert per_account <= {s["name"] for s in launcher["envSecrets"]}
    # The README creates each of them with exactly the variables the example accounts file names.
    readme = (DEPLOY / "README.md").read_text()
    for name in per_account:
        assert f"create secret generic {name}" in readme
    assert account_key_vars() <= readme_secret_names()
    assert "create configmap aircall-accounts" in readme

    # The pod a run gets: the ConfigMap volume once (launcher and code location merged), the Secrets.
    from dagster_k8s.container_context import K8sContainerContext
    from dagster_k8s.job import DagsterK8sJobConfig, construct_dagster_k8s_job

    from_launcher = K8sContainerContext(env_secrets=[s["name"] for s in launcher["envSecrets"]],
                                        volumes=launcher["volumes"], volume_mounts=launcher["volumeMounts"])
    from_code_location = K8sContainerContext.create_from_config({"k8s": {
        "env_secrets": [s["name"] for s in deployment["envSecrets"]],
        "volume_mounts": deployment["volumeMounts"], "volumes": deployment["volumes"],
        "env_vars": [f"{k}={v}" for k, v in deployment["env"].items()],
    }})
    context = K8sContainerContext().merge(from_launcher).merge(from_code_location)
    job = construct_dagster_k8s_job(
        DagsterK8sJobConfig(job_image=f"registry.example.com/aircall-pipeline:{VERSION}", dagster_home="/opt/dagster/dagster_home",
                            instance_config_map="dagster-instance", postgres_password_secret="aircall-postgresql"),
        ["dagster", "api", "execute_run"], "dagster-run-test", user_defined_k8s_config=context.run_k8s_config,
    )  # fmt: skip
    pod = job.spec.template.spec
    container = pod.containers[0]
    assert [v.config_map.name for v in pod.volumes if v.config_map] == ["aircall-accounts"]
    assert [m.mount_path for m in container.volume_mounts if m.mount_path == ACCOUNTS_MOUNT] == [ACCOUNTS_MOUNT]
    assert per_account <= {e.secret_ref.name for e in container.env_from or [] if e.secret_ref}
    assert {e.name: e.value for e in container.env}["AIRCALL_ACCOUNTS_FILE"] == f"{ACCOUNTS_MOUNT}/accounts.yaml"


@pytest.mark.parametrize("config", ["dagster.yaml", "deploy/dagster.yaml"])
def test_the_run_queue_retries_a_code_server_it_cannot_reach(config):
    """Both instances start runs through the code server (DefaultRunLauncher): Dagster's default (0
    retries) would fail every queued account's day at once while the code server restarts."""
    queue = yaml.safe_load((REPO / config).read_text())["run_coordinator"]["config"]
    assert queue["max_user_code_failure_retries"] >= 3
    assert queue["user_code_failure_retry_delay"] <= 30


def test_dagster_reads_the_run_queue_retries(tmp_path):
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    (tmp_path / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(tmp_path))) as instance:
        queue = instance.get_concurrency_config().run_queue_config
    assert (queue.max_user_code_failure_retries, queue.user_code_failure_retry_delay) == (5, 15)
