"""The production topology: docker-compose.yml, Dockerfile, gunicorn settings, the docs.

`docker compose config` validates the compose file where a Compose v2 client exists; PyYAML,
when installed, parses it fully. Without either (this project does not depend on PyYAML) a
small reader of the file's block structure checks the same facts.
"""

import re
import runpy
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
APP_SERVICES = ("migrate", "web", "worker", "beat")


def blocks(text: str, indent: int) -> dict[str, str]:
    """``{key: its block's text}`` for the mapping keys at ``indent`` spaces in ``text``."""
    found: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        depth = len(line) - len(line.lstrip(" "))
        match = re.match(rf"^ {{{indent}}}([A-Za-z0-9_.-]+):", line)
        if match and depth == indent:
            current = match.group(1)
            found[current] = []
        elif depth < indent or (depth == indent and not match):
            current = None
        elif current is not None:
            found[current].append(line)
    return {key: "\n".join(lines) for key, lines in found.items()}


@pytest.fixture(scope="module")
def compose_text():
    return COMPOSE.read_text()


@pytest.fixture(scope="module")
def services(compose_text):
    top = blocks(compose_text, 0)
    return blocks(top["services"], 2), top


def test_compose_has_the_services(services):
    found, top = services
    assert {"postgres", "redis", "web", "worker", "beat", "migrate", "nginx"} <= set(found)
    assert {"pgdata", "redisdata"} <= set(blocks(top["volumes"], 2))


def test_app_services_share_the_image_and_read_env(services):
    found, top = services
    anchor = top["x-app"]
    assert "env_file: .env" in anchor
    assert "build: ." in anchor
    assert "postgres:5432" in anchor and "CELERY_BROKER_URL: redis://redis:6379/0" in anchor
    assert "CACHE_URL: redis://redis:6379/1" in anchor
    assert "condition: service_healthy" in anchor
    for name in APP_SERVICES:
        assert "<<: *app" in found[name], name


def test_compose_commands(services):
    found, _ = services
    assert re.search(
        r'command: \["gunicorn", "--config", "/app/deploy/gunicorn.conf.py"', found["web"]
    )
    assert "whatsappcrm.wsgi:application" in found["web"]
    assert "container_name: whatsappcrm_backend" in found["web"]  # the guide's docker logs
    assert "- worker" in found["worker"] and "- celery" in found["worker"]
    assert "- beat" in found["beat"]
    assert '"migrate"' in found["migrate"]
    for name in ("web", "worker", "beat"):
        assert "service_completed_successfully" in found[name], name
    assert 'profiles: ["nginx"]' in found["nginx"]
    assert "./deploy/nginx.conf" in found["nginx"]
    assert "pg_isready" in found["postgres"] and "redis-cli" in found["redis"]


def test_compose_parses_as_yaml_when_pyyaml_is_installed():
    yaml = pytest.importorskip("yaml")
    data = yaml.safe_load(COMPOSE.read_text())
    services = data["services"]
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)
    assert services["web"]["env_file"] == ".env"
    assert services["web"]["command"][0] == "gunicorn"


def test_docker_compose_config_where_available(tmp_path):
    docker = shutil.which("docker")
    if not docker:
        pytest.skip("no docker client")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("no Compose v2 plugin")
    env = tmp_path / ".env"
    env.write_text("POSTGRES_PASSWORD=x\nSECRET_KEY=x\n")
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "--env-file", str(env), "config", "--quiet"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr


def test_dockerfile():
    text = (REPO / "Dockerfile").read_text()
    assert text.startswith("#") and "FROM python:3.11" in text
    assert "--require-hashes -r requirements/base.txt" in text
    assert "collectstatic" in text
    assert re.search(r"^USER app$", text, re.M)  # not root
    assert 'CMD ["gunicorn", "--config", "/app/deploy/gunicorn.conf.py"' in text
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".env" in ignored and ".venv" in ignored and "*.key" in ignored


def test_gunicorn_settings_load_and_are_sane(monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.setenv("LOG_FORMAT", "json")
    conf = runpy.run_path(str(REPO / "deploy" / "gunicorn.conf.py"))
    assert conf["workers"] == 3
    assert conf["worker_class"] == "gthread"
    assert conf["timeout"] > 25  # above Paynow's connect + read timeouts
    assert conf["bind"] == "0.0.0.0:8000"
    assert conf["logconfig_dict"]["formatters"]["app"] == {
        "()": "whatsappcrm.logging.JsonFormatter"
    }
    assert "{x-request-id}o" in conf["access_log_format"]


def test_nginx_example():
    text = (REPO / "deploy" / "nginx.conf").read_text()
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in text
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in text
    assert "client_max_body_size" in text
    assert "location = /metrics" in text


def test_deployment_guide_has_our_exact_commands():
    text = (REPO / "docs" / "DEPLOYMENT.md").read_text()
    for command in (
        "manage.py migrate",
        "Paynow Integration → Paynow Configurations",
        "SITE_URL=https://backend.kalaisafaris.com",
        "python manage.py export_whatsapp_flow payment_whatsapp_flow -o /tmp/payment_flow.json",
        "from flows.definitions.payment_whatsapp_flow import PAYMENT_WHATSAPP_FLOW",
        "Flows → WhatsApp Flows",
        "https://backend.kalaisafaris.com/crm-api/paynow/ipn/",
        "https://backend.kalaisafaris.com/crm-api/paynow/return/",
        "PAYNOW_ENABLED=false",
        "python manage.py migrate customer_data 0007",
        "docker logs -f whatsappcrm_backend | grep -i paynow",
    ):
        assert command in text, command
    ops = (REPO / "docs" / "OPERATIONS.md").read_text()
    for command in ("payment_stats", "reconcile_payments", "/metrics", "METRICS_TOKEN"):
        assert command in ops, command
