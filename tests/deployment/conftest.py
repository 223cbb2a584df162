"""Fixtures for walking the deployment guide: the guide itself, an operator's shell on this
checkout, and the whole system (our live site between the Paynow and WhatsApp emulators)."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.utils.module_loading import import_string

from tests.deployment.guide import REPO, Guide, guide_path

BACKEND = REPO / "whatsappcrm_backend"


@pytest.fixture(scope="session")
def guide() -> Guide:
    return Guide.read(guide_path())


def database_url() -> str:
    """The test database as a DATABASE_URL, for commands run in a shell of their own."""
    db = connection.settings_dict
    if "postgresql" not in db["ENGINE"]:
        raise RuntimeError("a shell of its own cannot reach the in-memory SQLite test database")
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = f"{credentials}@" if credentials else ""
    return f"postgres://{host}{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


@dataclass
class Ran:
    """A finished guide command: what it printed and its exit status."""

    command: str
    returncode: int
    stdout: str
    stderr: str

    def explain(self) -> str:
        return (
            f"$ {self.command.strip()}\n(exit {self.returncode})\n{self.stdout[-3000:]}"
            f"{self.stderr[-3000:]}"
        )


@dataclass
class OperatorShell:
    """bash on this checkout, as the guide's reader has it: the guide's commands run as
    written, with production settings (`whatsappcrm.settings`, not the test settings) reading
    the environment, and with `database_url` as the database."""

    database_url: str | None = None
    env: dict[str, str] = field(default_factory=dict)

    def run(
        self,
        script: str,
        *,
        cwd: Path = REPO,
        stdin: Path | None = None,
        activated: bool = True,
        timeout: float = 120,
    ) -> Ran:
        """Run `script` (lines of the guide) in bash from `cwd`. `activated`: the virtualenv
        of step 1 is active, as in the reader's terminal after step 1."""
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        env.pop("VIRTUAL_ENV", None)
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        env.update(self.env)
        prelude = "set -eo pipefail\n"
        if activated:
            prelude += f"source {BACKEND / 'venv' / 'bin' / 'activate'}\n"
        with open(stdin) if stdin else open(os.devnull) as source:
            done = subprocess.run(
                ["bash", "-c", prelude + script],
                cwd=cwd,
                env=env,
                stdin=source,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        return Ran(script, done.returncode, done.stdout, done.stderr)


@pytest.fixture
def shell(tmp_path) -> OperatorShell:
    """An operator's shell whose database is a fresh SQLite file (commands needing no data)."""
    return OperatorShell(database_url=f"sqlite:///{tmp_path / 'operator.sqlite3'}")


@pytest.fixture
def shell_on_test_db(transactional_db) -> OperatorShell:
    """An operator's shell on the test database itself (PostgreSQL), so what it does and what
    the test sees are the same rows."""
    return OperatorShell(database_url=database_url())


class LogLines(logging.Handler):
    """Every record, formatted as the deployment's log file has it (our text format, with the
    request id and redaction filters of settings.LOGGING)."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        config = settings.LOGGING
        self.setFormatter(logging.Formatter(config["formatters"]["text"]["format"]))
        for spec in config["filters"].values():
            self.addFilter(import_string(spec["()"])())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    handler = LogLines()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
