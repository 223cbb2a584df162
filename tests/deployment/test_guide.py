"""The deployment guide, followed literally, works: a walk through every step against the system.

The guide is our first user's document (`../shared/seed/`, or its verbatim copy in
`docs/guide/` on a clone without the shared folder). Everything checked here is extracted from
its text, never listed in this file:
- every fenced shell and Python block runs as written (bash, `manage.py shell` fed on stdin,
  production settings), except step 7's `tail -f` and `docker logs`: there is no log file or
  container here, so their `grep` is applied to the log lines the payment emits, and the
  container and file they name must be our deployment's;
- every name it mentions (model, field, class, method, flow action, step, file, setting) exists;
- every URL reaches its view, and Paynow and Meta are given the ones the guide names;
- every admin section is there when staff log in over HTTP, and its record saves as described;
- every log line to look for is emitted during a payment made the way step 6 describes (booking
  on WhatsApp → payment form → EcoCash test number → IPN → paid);
- the rollback goes back to `0007` and step 1 forward again, on PostgreSQL;
- every checklist item is claimed by one of these steps, every troubleshooting item answered.
So renaming any of those pieces in our code fails this walk, and every failure names the
guide's line.

The guide's shell blocks run from the repository root when they start with
`cd whatsappcrm_backend` (else from `whatsappcrm_backend/`, where the guide's earlier `cd` left
the reader), with step 1's virtualenv active, as in the reader's terminal after step 1.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db.migrations.recorder import MigrationRecorder
from django.urls import Resolver404, resolve

from tests.deployment.conftest import BACKEND, OperatorShell
from tests.deployment.guide import COMMITTED_GUIDE, REPO, SHARED_GUIDE, Block, Guide, Located
from tests.helpers import use_flow_private_key, wait_until

OUR_APPS = (
    "customer_data",
    "conversations",
    "flows",
    "meta_integration",
    "paynow_integration",
    "monitoring",
    "whatsappcrm",
)
DEPLOYMENT_MD = REPO / "docs" / "DEPLOYMENT.md"


def at(located: Located | Block, problem: str) -> str:
    """A failure message that names the guide's line."""
    return f"guide line {located.line}: {problem}"


@contextmanager
def following(located: Located | Block) -> Iterator[None]:
    """Whatever fails inside fails as the guide's step at `located`."""
    try:
        yield
    except AssertionError as exc:
        raise AssertionError(at(located, str(exc))) from exc


def fail_all(problems: list[str]) -> None:
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


# --- the guide itself ---------------------------------------------------------------------------


def test_the_committed_copy_is_the_guide_verbatim():
    """CI's fresh clone has no ../shared/: the walk then reads the committed copy, which must
    be byte for byte the shared guide wherever both exist."""
    assert COMMITTED_GUIDE.exists(), "docs/guide/ must hold a verbatim copy of the guide"
    if not SHARED_GUIDE.exists():
        pytest.skip(f"{SHARED_GUIDE} is not here: the walk uses the committed copy")
    assert COMMITTED_GUIDE.read_bytes() == SHARED_GUIDE.read_bytes(), (
        f"{COMMITTED_GUIDE.relative_to(REPO)} differs from {SHARED_GUIDE}: copy it again"
    )


def block_kind(block: Block, guide: Guide) -> str | None:
    """What a fenced block is, from its own text (None: the walk does not know it)."""
    text = block.text
    if block.lang in ("bash", "sh", "shell"):
        if re.search(r"manage\.py migrate customer_data \d{4}", text):
            return "rollback"
        if "manage.py migrate" in text:
            return "migrate"
        if re.search(r"manage\.py shell\s*$", text, re.M):
            return "open shell"
        if "grep" in text and ("tail" in text or "docker logs" in text):
            return "logs"
    if block.lang == "env":
        return "env"
    if block.lang == "python":
        previous = [b for b in guide.blocks if b.line < block.line]
        if text.lstrip().startswith("# In Django shell"):
            return "in shell"
        if previous and block_kind(previous[-1], guide) == "open shell":
            return "in shell"
    return None


def test_every_block_is_one_the_walk_runs(guide):
    problems = [
        at(block, f"a ```{block.lang} block the walk does not know how to check:\n{block.text}")
        for block in guide.blocks
        if block_kind(block, guide) is None
    ]
    fail_all(problems)
    assert len(guide.blocks) >= 5  # the parser found the guide's blocks at all


def blocks_of(guide: Guide, kind: str) -> list[Block]:
    found = [block for block in guide.blocks if block_kind(block, guide) == kind]
    assert found, f"the guide has no {kind} block any more: update the walk"
    return found


# --- names: every model, field, class, method, action, step, file and setting ----------------


def _our_modules() -> list[Any]:
    modules = []
    for app in OUR_APPS:
        package = importlib.import_module(app)
        modules.append(package)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{app}."):
            if ".migrations" in info.name or info.name.endswith((".wsgi", ".asgi")):
                continue
            modules.append(importlib.import_module(info.name))
    return modules


class SystemNames:
    """Everything a guide can name, read from the running system."""

    def __init__(self) -> None:
        from flows.engine import registry
        from flows.engine.loader import discover

        registry.ensure_registered()
        self.models = {model.__name__: model for model in apps.get_models()}
        self.fields: set[str] = set()
        self.choices: dict[str, str] = {}  # value -> label
        self.labels: set[str] = set()
        for model in apps.get_models():
            self.labels |= {str(model._meta.verbose_name), str(model._meta.verbose_name_plural)}
            for field in model._meta.get_fields():
                self.fields.add(field.name)
                self.labels.add(str(getattr(field, "verbose_name", "")))
                for value, label in getattr(field, "flatchoices", None) or ():
                    self.choices[str(value)] = str(label)
                    self.labels.add(str(label))
        self.labels |= {str(config.verbose_name) for config in apps.get_app_configs()}
        self.classes: dict[str, type] = {}
        self.functions: set[str] = set()
        for module in _our_modules():
            for name, member in inspect.getmembers(module):
                if getattr(member, "__module__", None) != module.__name__:
                    continue
                if inspect.isclass(member):
                    self.classes[name] = member
                elif inspect.isfunction(member):
                    self.functions.add(name)
        self.actions = set(registry.ACTIONS)
        self.flows = discover()
        self.steps = {step: source for source, flow in self.flows for step in flow.get("steps", {})}
        self.texts = json.dumps([flow for _, flow in self.flows], ensure_ascii=False)
        self.settings = {name for name in dir(settings) if name.isupper()}
        # The code itself, for names that are values in it (a record name it looks up).
        self.source = "\n".join(
            Path(module.__file__).read_text() for module in _our_modules() if module.__file__
        )

    def known(self, name: str) -> bool:
        return (
            name in self.models
            or name in self.fields
            or name in self.choices
            or name in self.classes
            or name in self.functions
            or name in self.actions
            or name in self.steps
            or name in self.settings
        )


@pytest.fixture(scope="module")
def names() -> SystemNames:
    return SystemNames()


def check_code_span(span: Located, names: SystemNames, guide: Guide) -> str | None:
    """Why the running system lacks what the code span `span` names (None: it has it)."""
    text, context = span.text, span.context
    after = context.split(f"`{text}`", 1)[-1].lower()
    if text.startswith(("/", "http")):
        return None  # a URL: test_every_url_reaches_its_view
    if " " in text:  # a command the reader is told to type
        answered = text in DEPLOYMENT_MD.read_text()
        return None if answered else f"`{text}` is not answered in docs/DEPLOYMENT.md"
    if text.startswith("."):  # a file the settings read, documented by its example
        return None if (REPO / f"{text}.example").exists() else f"no {text}.example in the repo"
    if "/" in text or text.endswith(".py"):
        exists = (BACKEND / text).exists() or (REPO / text).exists()
        return None if exists else f"no file {text}"
    if text.endswith("()"):
        owner = next(
            (w for w in re.findall(r"`?([A-Z]\w+)`?", context) if w in names.classes), None
        )
        method = text[:-2]
        if owner:
            found = callable(getattr(names.classes[owner], method, None))
            return None if found else f"{owner} has no method {method}()"
        return None if method in names.functions else f"no function {method}()"
    if after.lstrip().startswith("flow action"):
        return None if text in names.actions else f"no flow action named {text!r}"
    if "step" in after.split(".")[0]:
        if text not in names.steps:
            return f"no flow step named {text!r}"
        above = guide.lines[max(0, span.line - 3) : span.line - 1]  # a file named just before
        files = [f for line in above for f in re.findall(r"`([^`]+\.py)`", line)]
        if files and not files[0].endswith(names.steps[text]):
            return f"step {text!r} is in {names.steps[text]}, not {files[0]}"
        return None
    if "field" in after.split(".")[0]:
        return None if text in names.fields else f"no model field named {text!r}"
    if match := re.match(rf"^\s*-\s+`{re.escape(text)}`\s+-\s+(?P<label>.+?)\s*$", context):
        label = names.choices.get(text)
        if label is None:
            return f"{text!r} is not a choice of any model field"
        if label.lower() != match["label"].lower():
            return f"{text!r} is labelled {label!r}, not {match['label']!r}"
        return None
    if names.known(text):
        return None
    if text in names.texts:  # a name the flow definitions use
        return None
    if re.search(rf"\b{re.escape(text)}\b", names.source):  # e.g. FLOW_NAME's value
        return None
    return f"nothing in the running system is named {text!r}"


def test_every_name_exists_in_the_running_system(guide, names):
    problems = []
    typed_in_admin = {f.line for path in guide.admin_paths() for f in path.fields}
    for span in guide.code_spans():
        if span.line in typed_in_admin:
            continue  # a value staff type in the admin: the admin walk saves it
        problem = check_code_span(span, names, guide)
        if problem:
            problems.append(at(span, problem))
    for word in guide.camel_case_words():
        if word.text in names.classes:
            continue
        if not any(word.text in label for label in names.labels) and word.text not in names.texts:
            problems.append(at(word, f"no class, model or label in our code is named {word.text}"))
    for dotted in guide.dotted_names():
        owner, attribute = dotted.text.split(".")
        if owner not in names.classes:
            problems.append(at(dotted, f"no class named {owner}"))
        elif not callable(getattr(names.classes[owner], attribute, None)):
            problems.append(at(dotted, f"{owner} has no method {attribute}"))
    fail_all(problems)


def test_the_payment_options_and_section_are_the_booking_flows(guide, names):
    """Changes Summary's "Mobile Money (Paynow)" section, step 6's option names, and the
    rollback's alternative methods, as the booking flow's payment question offers them."""
    question = _payment_question(names)
    sections = question["message"]["sections"]
    titles = {section["title"] for section in sections}
    rows = [
        f"{row['title']} {row.get('description', '')}"
        for section in sections
        for row in section["rows"]
    ]
    problems = []
    for quoted in guide.quoted("Changes Summary"):
        if "section" in quoted.context and quoted.text not in titles:
            problems.append(at(quoted, f"the payment options have no section {quoted.text!r}"))
    for quoted in guide.quoted("Step 6: Test the Integration"):
        if quoted.text.startswith("Pay ") and not any(_offered(row, quoted.text) for row in rows):
            problems.append(at(quoted, f"no payment option reads {quoted.text!r}"))
    for item in guide.numbered_items("Rollback Plan"):
        if match := re.search(r"alternative payment methods \(([^)]+)\)", item.text):
            for method in re.split(r",\s*", match.group(1)):
                if not any(row.startswith(method) for row in rows):
                    problems.append(at(item, f"no payment option {method!r}"))
    fail_all(problems)


def _payment_question(names: SystemNames) -> dict:
    for _, flow in names.flows:
        step = flow.get("steps", {}).get("ask_payment_option")
        if step:
            return step
    raise AssertionError("no ask_payment_option step")


def _offered(row: str, option: str) -> bool:
    """`option` as the traveller reads the row: its title, then its description (Meta limits a
    row title to 24 characters, so "Pay 50% Deposit via Paynow" is title + description)."""
    rendered = re.sub(r"\{\{\s*deposit_percent\s*\}\}", f"{settings.DEPOSIT_PERCENT:g}", row)
    return rendered.startswith(option)


# --- URLs ---------------------------------------------------------------------------------------


def test_every_url_reaches_its_view(guide):
    from paynow_integration.constants import DEFAULT_REMOTE_URL
    from paynow_integration.models import PaynowConfig

    [env] = blocks_of(guide, "env")
    site = dict(line.split("=", 1) for line in env.text.split())["SITE_URL"]
    our_hosts = {urlsplit(site).hostname}
    views: dict[str, str] = {}
    problems = []
    for url in guide.urls():
        parts = urlsplit(url.text)
        host = parts.hostname
        if host and host.endswith("paynow.co.zw"):
            admin_default = PaynowConfig._meta.get_field("api_base_url").default
            if url.text not in (DEFAULT_REMOTE_URL, admin_default):
                problems.append(at(url, f"{url.text} is not our Paynow API Base URL"))
            continue
        if host and host.endswith("facebook.com"):
            if url.text not in DEPLOYMENT_MD.read_text():
                problems.append(at(url, f"Meta's {url.text} is not in docs/DEPLOYMENT.md"))
            continue
        if host and not (
            host in our_hosts or host.endswith(".kalaisafaris.com") or host == "localhost"
        ):
            problems.append(at(url, f"{host} is neither ours nor Paynow's nor Meta's"))
            continue
        if parts.path in ("", "/"):
            continue  # the site itself (SITE_URL)
        try:
            match = resolve(parts.path)
        except Resolver404:
            problems.append(at(url, f"{parts.path} reaches no view (404)"))
            continue
        if views.setdefault(parts.path, match.view_name) != match.view_name:
            problems.append(at(url, f"{parts.path} reaches {match.view_name} here, elsewhere not"))
    fail_all(problems)
    assert len(views) >= 3, views


def labelled_url(guide: Guide, section: str, label: str) -> tuple[Located, str]:
    """The URL written on the line of `section` that names `label` (bold, or `Label:`)."""
    for number, text in guide.prose():
        if number in guide.section_lines(section) and (
            f"**{label}**" in text or f"{label}:" in text
        ):
            url = re.search(r"`(https?://[^`]+)`", text)
            if url:
                return Located(number, label, text), url.group(1)
    raise AssertionError(f"the guide's {section!r} names no {label} URL any more")


# --- the admin, over HTTP ------------------------------------------------------------------------


_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)


class _Page(HTMLParser):
    """The admin page as a browser sees it: the index's sections and models, a form's labels
    and the values it would submit."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, dict[str, str]] = {}  # app caption -> {model name: url}
        self.labels: dict[str, str] = {}  # label text -> input name
        self.values: dict[str, str] = {}
        self.links: list[tuple[str, str]] = []  # (text, href)
        self.options: dict[str, list[str]] = {}
        self._caption: str | None = None
        self._in: list[str] = []
        self._href = ""
        self._label_for = ""
        self._text = ""
        self._select = ""
        self._option_value: str | None = None
        self._textarea = ""

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag not in _VOID:
            self._in.append(tag)
        if tag == "a":
            self._href, self._text = a.get("href", ""), ""
        elif tag == "caption":
            self._text = ""
        elif tag == "label":
            self._label_for, self._text = a.get("for", ""), ""
        elif tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.values[a["name"]] = a.get("value", "on")
            elif kind != "submit":
                self.values[a["name"]] = a.get("value", "")
        elif tag == "select":
            self._select = a.get("name", "")
            self.options[self._select] = []
        elif tag == "option" and self._select:
            self._option_value = a.get("value", "")
            self.options[self._select].append(self._option_value)
            if "selected" in a or self._select not in self.values:
                self.values[self._select] = self._option_value
        elif tag == "textarea":
            self._textarea, self._text = a.get("name", ""), ""

    def handle_endtag(self, tag: str) -> None:
        text = " ".join(self._text.split())
        if tag == "caption":
            self._caption = text
            self.sections.setdefault(text, {})
        elif tag == "a":
            if self._caption is not None and "th" in self._in:
                self.sections[self._caption][text] = self._href
            self.links.append((text, self._href))
        elif tag == "label" and self._label_for:
            self.labels[text.rstrip(":").strip().lower()] = self._label_for.removeprefix("id_")
        elif tag == "textarea" and self._textarea:
            self.values[self._textarea] = self._text
            self._textarea = ""
        elif tag == "select":
            self._select = ""
        elif tag == "table":
            self._caption = None
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        self._text += data


def read_page(response: httpx.Response) -> _Page:
    assert response.status_code == 200, (response.url, response.status_code, response.text[:500])
    page = _Page()
    page.feed(response.text)
    return page


@pytest.fixture
def staff_browser(live_server, django_user_model, settings):
    """A browser logged in to the admin over HTTP, as a superuser (the guide's "Log in")."""
    # The live server speaks plain HTTP on loopback; production's Secure cookies would not be
    # sent back over it (a browser treats localhost as secure, httpx does not).
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    django_user_model.objects.create_superuser("guide-admin", "admin@example.com", "guide-pass-7")
    with httpx.Client(base_url=live_server.url, timeout=15, follow_redirects=True) as browser:
        login = read_page(browser.get("/admin/login/"))
        answer = browser.post(
            "/admin/login/?next=/admin/",
            data={
                "csrfmiddlewaretoken": login.values["csrfmiddlewaretoken"],
                "username": "guide-admin",
                "password": "guide-pass-7",
                "next": "/admin/",
            },
        )
        assert answer.url.path == "/admin/", "could not log in to the admin"
        yield browser


def test_every_admin_section_is_there_and_its_record_can_be_made(guide, staff_browser):
    """Step 2 and step 4.3: the section and model, each labelled field, and the record saved
    with the guide's values (a value in backticks is typed as written)."""
    index = read_page(staff_browser.get("/admin/"))
    problems = []
    paths = guide.admin_paths()
    assert paths, "the guide names no admin section any more: update the walk"
    for path in paths:
        models = index.sections.get(path.app)
        if models is None:
            problems.append(
                at(path, f"the admin has no section {path.app!r}: {sorted(index.sections)}")
            )
            continue
        if path.model not in models:
            problems.append(
                at(path, f"section {path.app!r} has no {path.model!r}: {sorted(models)}")
            )
            continue
        listing = read_page(staff_browser.get(models[path.model]))
        add_url = next(
            (
                href
                for text, href in listing.links
                if text.startswith("Add") and href == f"{models[path.model]}add/"
            ),
            None,
        )
        if add_url is None:
            problems.append(at(path, f"{path.model!r} has no Add button for staff"))
            continue
        form = read_page(staff_browser.get(urljoin(models[path.model], add_url)))
        values = dict(form.values)
        for field in path.fields:
            name = form.labels.get(field.text.lower())
            if name is None:
                problems.append(at(field, f"the {path.model!r} form has no field {field.text!r}"))
                continue
            typed = re.fullmatch(r"`([^`]+)`", field.context)
            if typed:
                if name in form.options and typed.group(1) not in form.options[name]:
                    problems.append(at(field, f"{field.text!r} offers no {typed.group(1)!r}"))
                values[name] = typed.group(1)
            elif not values.get(name):
                values[name] = f"guide-{name}-4242"  # "Your Paynow integration ID ..."
        saved = staff_browser.post(urljoin(models[path.model], add_url), data=values)
        errors = re.findall(r'class="errorlist[^"]*"[^>]*>(.*?)</ul>', saved.text, re.S)
        if saved.url.path == urlsplit(urljoin(models[path.model], add_url)).path or errors:
            problems.append(at(path, f"saving a {path.model!r} as the guide says fails: {errors}"))
            continue
        model = _model_by_plural(path.model)
        record = model.objects.latest("pk")
        for field in path.fields:
            typed = re.fullmatch(r"`([^`]+)`", field.context)
            name = form.labels.get(field.text.lower())
            if typed and name and str(getattr(record, name)) != typed.group(1):
                problems.append(at(field, f"{field.text!r} was saved as {getattr(record, name)!r}"))
    fail_all(problems)


def _model_by_plural(plural: str):
    [model] = [m for m in apps.get_models() if str(m._meta.verbose_name_plural) == plural]
    return model


# --- shell blocks that need no data --------------------------------------------------------------


def test_step_1_activate_works_from_whatsappcrm_backend(guide, shell):
    """`make install` links whatsappcrm_backend/venv to the root virtualenv: the guide's
    `cd whatsappcrm_backend` and `source venv/bin/activate` give that environment's python."""
    [block] = blocks_of(guide, "migrate")
    setup = [line for line in block.text.splitlines() if "manage.py" not in line]
    assert any("activate" in line for line in setup), at(block, "step 1 no longer activates")
    link = BACKEND / "venv"
    assert link.exists(), at(
        block, "whatsappcrm_backend/venv is missing: `make install` creates it"
    )
    ran = shell.run(
        "\n".join(setup) + '\npython -c "import sys; print(sys.prefix)"', activated=False
    )
    assert ran.returncode == 0, at(block, ran.explain())
    assert Path(ran.stdout.strip()).resolve() == (REPO / ".venv").resolve(), at(
        block, ran.explain()
    )


def test_step_4_export_snippet_in_manage_py_shell(guide, shell, tmp_path):
    """The shell block opens `manage.py shell`; the Python block is typed into it (stdin)."""
    from flows.definitions.payment_whatsapp_flow import PAYMENT_WHATSAPP_FLOW
    from flows.flow_json import validate_flow_json

    [opener] = blocks_of(guide, "open shell")
    [snippet] = [b for b in blocks_of(guide, "in shell") if b.line > opener.line][:1]
    typed = tmp_path / "typed.py"
    typed.write_text(snippet.text)
    ran = shell.run(opener.text, stdin=typed)
    assert ran.returncode == 0, at(snippet, ran.explain())
    for printed in re.findall(r'print\("([^"{]+)"\)', snippet.text):
        assert printed in ran.stdout, at(snippet, f"{printed!r} not printed:\n{ran.explain()}")
    [written] = re.findall(r"open\('([^']+)', 'w'\)", snippet.text)
    exported = json.loads(Path(written).read_text())
    assert exported == json.loads(json.dumps(PAYMENT_WHATSAPP_FLOW)), at(snippet, "not the flow")
    assert validate_flow_json(exported) == [], at(snippet, "the exported Flow JSON is not valid")


def test_step_7_log_commands_would_show_the_lines(guide):
    """The container and file the guide tails exist in our deployment (the lines themselves
    are checked by the end-to-end payment, through the same `grep`)."""
    [block] = blocks_of(guide, "logs")
    problems = []
    compose = (REPO / "docker-compose.yml").read_text()
    for container in re.findall(r"docker logs -f (\S+)", block.text):
        if f"container_name: {container}" not in compose:
            problems.append(at(block, f"docker-compose.yml names no container {container}"))
    for path in re.findall(r"tail -f (\S+)", block.text):
        if path not in DEPLOYMENT_MD.read_text():
            problems.append(at(block, f"docs/DEPLOYMENT.md does not say how {path} is written"))
    assert re.findall(r"grep -i (\w+)", block.text), at(block, "no grep filter any more")
    fail_all(problems)


def test_step_3_env_names_settings_we_read(guide):
    [block] = blocks_of(guide, "env")
    example = (REPO / ".env.example").read_text()
    for number, line in enumerate(block.text.splitlines(), start=block.line + 1):
        name, _, value = line.partition("=")
        located = Located(number, name)
        assert name in dir(settings), at(located, f"{name} is not a setting")
        assert re.search(rf"^#?\s*{name}=", example, re.M), at(
            located, f"{name} not in .env.example"
        )
        assert value.startswith("https://"), at(located, "the guide's value is not an https URL")


# --- troubleshooting ----------------------------------------------------------------------------


def _our_answers(section: str) -> list[str]:
    """The numbered items of one `### ...` section of ours, each joined into one line."""
    items: list[str] = []
    for line in section.splitlines():
        if re.match(r"^\d+\.\s", line):
            items.append(line)
        elif items and line.startswith("   "):
            items[-1] += " " + line.strip()
    return items


def _plain(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("`", "").replace("*", "")).strip()


def test_troubleshooting_is_answered_in_our_deployment_doc_in_the_guides_order(guide):
    """docs/DEPLOYMENT.md's Troubleshooting has the guide's symptoms in the guide's order, and
    under each the guide's solutions in order, each followed by our command for it; every
    `manage.py` command it gives exists."""
    from django.core.management import get_commands

    text = DEPLOYMENT_MD.read_text()
    assert "\n## Troubleshooting\n" in text, "docs/DEPLOYMENT.md has no Troubleshooting section"
    ours = text.split("\n## Troubleshooting\n", 1)[1].split("\n## ", 1)[0]
    sections = dict(re.findall(r"^### (.+?)\n(.*?)(?=^### |\Z)", ours, re.M | re.S))
    problems = []
    titles = [title for _, title in guide.subsections("Troubleshooting")]
    if [t for t in sections if t in titles] != titles:
        problems.append(
            f"DEPLOYMENT.md's troubleshooting sections {list(sections)} are not {titles}"
        )
    for _, title in guide.subsections("Troubleshooting"):
        answers = [_plain(item) for item in _our_answers(sections.get(title, ""))]
        solutions = guide.numbered_items(title)
        for index, solution in enumerate(solutions):
            said = _plain(solution.text)
            if index >= len(answers) or said not in answers[index]:
                problems.append(
                    at(
                        solution,
                        f"DEPLOYMENT.md does not answer {solution.text!r} as item {index + 1} "
                        f"of {title!r}",
                    )
                )
                continue
            raw = _our_answers(sections[title])[index]
            after = raw.split(solution.text.split("`")[0].rstrip(), 1)[-1]
            if not re.search(r"`[^`]*(manage\.py|curl|docker|python|https?://)[^`]*`", after):
                problems.append(at(solution, f"the answer to {solution.text!r} gives no command"))
    commands = get_commands()
    for command in re.findall(r"manage\.py (\w+)", ours):
        if command not in commands:
            problems.append(
                f"docs/DEPLOYMENT.md troubleshooting: there is no `manage.py {command}`"
            )
    fail_all(problems)


def test_troubleshooting_hash_example_prints_paynows_hash(shell):
    """The answer to "Test hash calculation manually with known values", run as written (inside
    the container's working directory, whatsappcrm_backend/)."""
    ours = DEPLOYMENT_MD.read_text().split("\n## Troubleshooting\n", 1)[1]
    [item] = [a for a in _our_answers(ours) if "compute_hash(" in a]
    [command] = re.findall(r"`docker compose exec web (python -c [^`]+)`", item)
    [expected] = re.findall(r"`([0-9A-F]{128})`", item)
    ran = shell.run(command, cwd=BACKEND)
    assert ran.returncode == 0, ran.explain()
    assert ran.stdout.strip() == expected, ran.explain()


@pytest.mark.django_db
def test_troubleshooting_log_lines_and_answers(guide, client, make_booking, caplog):
    """The symptoms the guide quotes: "payment_whatsapp_flow not found" logged when the
    WhatsAppFlow record is missing, "Invalid IPN signature" when an IPN's hash fails."""
    from conversations.models import Contact
    from flows.payment_form import send_payment_form
    from paynow_integration.models import PaynowConfig

    quoted = {q.text: q for q in guide.quoted("Troubleshooting")}
    missing = next(q for text, q in quoted.items() if "not found" in text)
    contact = Contact.objects.create(whatsapp_id="263771000999", name="Rudo")
    booking = make_booking(total="100.00", contact=contact)
    with caplog.at_level("INFO"):
        sent = send_payment_form(
            contact=contact, booking=booking, amount=Decimal("50.00"), purpose="deposit"
        )
    assert sent is False
    assert missing.text in [r.getMessage() for r in caplog.records], at(missing, "not logged")

    rejected = next(q for text, q in quoted.items() if "signature" in text.lower())
    [ipn_path] = {u.text for u in guide.urls() if u.text.startswith("/") and "ipn" in u.text}
    PaynowConfig.objects.create(integration_id="1201", integration_key="k", is_active=True)
    caplog.clear()
    with caplog.at_level("INFO"):
        answer = client.post(
            ipn_path,
            data="reference=BK-1&amount=1.00&status=Paid&hash=00",
            content_type="application/x-www-form-urlencoded",
        )
    assert answer.status_code == 403, at(rejected, f"POST {ipn_path}: {answer.status_code}")
    assert answer.content.decode() == rejected.text, at(rejected, answer.content)
    assert rejected.text in [r.getMessage() for r in caplog.records], at(rejected, "not logged")


# --- the checklist -------------------------------------------------------------------------------

# Which step of this walk checks each kind of checklist item, by the item's own words. An item
# no row claims (a new or reworded item in the guide) fails: the walk must grow with the guide.
CHECKLIST_CHECKS = (
    (r"\bmigration\b", "test_rollback_and_step_1_migrate_on_postgresql"),
    (r"\bcreated in admin\b", "test_every_admin_section_is_there_and_its_record_can_be_made"),
    (r"\bSITE_URL\b", "test_payment_end_to_end_as_step_6_describes"),
    (r"\bflow published\b", "test_payment_end_to_end_as_step_6_describes"),
    (r"\brecord created in database\b", "test_payment_end_to_end_as_step_6_describes"),
    (r"\bwebhook URLs\b", "test_payment_end_to_end_as_step_6_describes"),
    (r"\bshows Paynow payment options\b", "test_payment_end_to_end_as_step_6_describes"),
    (r"\bflow launches\b", "test_payment_end_to_end_as_step_6_describes"),
    (r"\binitiation works\b", "test_payment_end_to_end_as_step_6_describes"),
    (r"\bIPN callbacks\b", "test_payment_end_to_end_as_step_6_describes"),
    (r"\brecords created with correct data\b", "test_payment_end_to_end_as_step_6_describes"),
    (r"\bamount_paid\b", "test_payment_end_to_end_as_step_6_describes"),
)


def test_every_checklist_item_is_checked_by_a_step_of_the_walk(guide):
    problems = []
    items = guide.checklist()
    assert items, "the guide has no checklist any more: update the walk"
    for item in items:
        claimed = [test for pattern, test in CHECKLIST_CHECKS if re.search(pattern, item.text)]
        if len(claimed) != 1:
            problems.append(
                at(item, f"checklist item {item.text!r} is checked by {claimed or 'no step'}")
            )
        elif claimed[0] not in globals():
            problems.append(at(item, f"{claimed[0]} does not exist"))
    fail_all(problems)


# --- the end-to-end payment (step 6), its logs (step 7) and the monitoring queries -------------


class Traveller:
    """The traveller's phone: the WhatsApp emulator's control API."""

    def __init__(self, control, wa_id: str) -> None:
        self.control, self.wa_id = control, wa_id
        self.seen = 0
        self.unread: list[dict] = []

    def say(self, text: str) -> None:
        answer = self.control.send_text(self.wa_id, text, name="Tendai Moyo")
        assert answer["accepted"], answer

    def expect(self, pattern: str, *, kind: str | None = None, timeout: float = 15) -> dict:
        regex = re.compile(pattern, re.I | re.S)

        def arrived():
            fresh = self.control.conversation(self.wa_id, since=self.seen)["messages"]
            for message in fresh:
                self.seen = max(self.seen, message["seq"])
                if message["direction"] == "out":
                    self.unread.append(message)
            while self.unread:
                message = self.unread.pop(0)
                if regex.search(message.get("text") or "") and kind in (
                    None,
                    message.get("interactive_type"),
                ):
                    return message
            return None

        try:
            return wait_until(arrived, timeout=timeout, interval=0.05)
        except AssertionError:
            said = [m.get("text") for m in self.control.conversation(self.wa_id)["messages"]]
            raise AssertionError(
                f"the bot did not say /{pattern}/; the chat: {said[-4:]}"
            ) from None

    def tap(self, message: dict, *, title: str | None = None, row_id: str | None = None) -> None:
        interactive = message["payload"]["interactive"]
        if interactive["type"] == "button":
            [choice] = [
                {"button_id": b["reply"]["id"]}
                for b in interactive["action"]["buttons"]
                if b["reply"]["title"] == title or b["reply"]["id"] == row_id
            ]
        else:
            [choice] = [
                {"row_id": row["id"]}
                for section in interactive["action"]["sections"]
                for row in section["rows"]
                if (title and row["title"].startswith(title)) or row["id"] == row_id
            ][:1]
        self.control.tap(self.wa_id, wamid=message["wamid"], **choice)


def _book_one_adult(phone: Traveller) -> str:
    travel_date = (date.today() + timedelta(days=40)).strftime("%d/%m/%Y")
    phone.say("Hi")
    phone.tap(phone.expect(r".", kind="list"), title="Book a tour")
    phone.tap(phone.expect(r"tour", kind="list"), title="Victoria Falls")
    for question, answer in (
        (r"date", travel_date),
        (r"adults", "1"),
        (r"children", "0"),
        (r"full name", "Tendai Moyo"),
        (r"how old", "34"),
        (r"nationality", "Zimbabwean"),
        (r"passport|ID number", "skip"),
        (r"e-?mail", "tendai.moyo@example.com"),
    ):
        phone.expect(question)
        phone.say(answer)
    phone.tap(phone.expect(r"correct", kind="button"), row_id="confirm")
    booked = phone.expect(r"booking reference is \*?BK-")
    return re.search(r"BK-[A-Z0-9]{8}", booked["text"]).group(0)


@pytest.fixture
def system(live_server, settings, transactional_db, paynow_config, paynow_emulator, eager_tasks):
    """Our live site between the two emulators, configured as steps 2-5 say: Paynow
    configured, SITE_URL this site, the payment flow published through Meta's (emulated) Flows
    API with the data endpoint built from SITE_URL, the catalogue and conversations loaded."""
    from flows import keys as flow_keys
    from flows.crypto import generate_key_pair
    from meta_integration.models import MetaAppConfig
    from sandbox.whatsapp.testing import ControlClient
    from tests.flows import support as ids
    from tests.helpers import whatsapp_emulator_for

    settings.SITE_URL = live_server.url
    private_pem, public_pem = generate_key_pair()
    use_flow_private_key(settings, private_pem.decode())
    with (
        whatsapp_emulator_for(
            ids,
            webhook_url=live_server.url + "/crm-api/meta/webhook/",
            retry_base_delay=0.1,
        ) as whatsapp,
        ControlClient(whatsapp.base_url, timeout=20) as control,
    ):
        MetaAppConfig.objects.create(
            name="Kalai Safaris",
            phone_number_id=ids.PHONE_NUMBER_ID,
            waba_id=ids.WABA_ID,
            display_phone_number="263771000000",
            access_token=ids.ACCESS_TOKEN,
            app_secret=ids.APP_SECRET,
            graph_base_url=whatsapp.base_url,
        )
        control.set_public_key(public_pem.decode())
        out = StringIO()
        call_command("seed_demo", stdout=out)
        call_command("load_flow_definitions", stdout=out)
        call_command(
            "register_whatsapp_flow",
            "payment_whatsapp_flow",
            "--via-graph",
            "--publish",
            stdout=out,
        )
        try:
            yield whatsapp, control
        finally:
            whatsapp.webhook_url = None
            try:  # let Paynow finish delivering before the database is emptied
                wait_until(lambda: _paynow_done(paynow_emulator), timeout=10)
            except AssertionError:  # a failed walk: stop the retries instead
                httpx.post(f"{paynow_emulator.control_url}/reset", timeout=5)
    flow_keys.clear_cache()


def _paynow_done(emulator) -> bool:
    transactions = httpx.get(f"{emulator.control_url}/transactions", timeout=5).json()[
        "transactions"
    ]
    return all(
        t["status"] in ("Created", "Sent")
        or (t["deliveries"] and t["deliveries"][-1]["outcome"] == "delivered")
        for t in transactions
    )


def _deliveries(emulator) -> list[str]:
    transactions = httpx.get(f"{emulator.control_url}/transactions", timeout=5).json()
    return [
        f"{d['status']} -> HTTP {d['status_code']}"
        for t in transactions["transactions"]
        for d in t["deliveries"]
    ][-3:]


def _grep(pattern: str, lines: list[str], *, ignore_case: bool) -> list[str]:
    return [line for line in lines if re.search(pattern, line, re.I if ignore_case else 0)]


def _log_regex(text: str) -> str:
    """A guide log line as a pattern: a lone capital letter (`Payment X marked ...`) stands for
    a value."""
    return (
        r"\b"
        + r" ".join(r"\S+" if re.fullmatch(r"[A-Z]", w) else re.escape(w) for w in text.split())
        + r"\b"
    )


WA_ID = "263771234567"
PAYING_NUMBER = "263771111111"  # Paynow's EcoCash test number (paid about 5 s after the prompt)


# Two emulators call the live site at once: SQLite's shared test connection cannot take it.
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_payment_end_to_end_as_step_6_describes(
    guide, system, paynow_emulator, log_lines, tmp_path
):
    from customer_data.models import Booking, Payment
    from flows.models import WhatsAppFlow
    from paynow_integration.services import PaynowService
    from tests.deployment.conftest import database_url

    whatsapp, control = system
    step_6 = "Step 6: Test the Integration"
    items = guide.bullets(step_6)
    problems: list[str] = []

    # Step 4.3: the WhatsAppFlow record, published, its data endpoint on SITE_URL.
    [record_path] = [p for p in guide.admin_paths() if p.model == "WhatsApp Flows"]
    record = WhatsAppFlow.objects.get(name=record_path.value_of("Name").strip("`"))
    for label in ("Status", "Sync Status"):
        field = record.status if label == "Status" else record.sync_status
        assert field == record_path.value_of(label).strip("`"), at(record_path, (label, field))
    production, data_channel_uri = labelled_url(
        guide, "Step 4: Create WhatsApp Payment Flow", "Production"
    )
    published = httpx.get(f"{whatsapp.base_url}/_control/flows", timeout=5).json()["flows"]
    [flow] = [f for f in published if f["id"] == record.flow_id]
    assert flow["status"] == "PUBLISHED", at(production, flow)
    assert flow["endpoint_uri"] == settings.SITE_URL + urlsplit(data_channel_uri).path, at(
        production, flow
    )

    # Step 6.1: book on WhatsApp; the Paynow options; the payment form opens.
    phone = Traveller(control, WA_ID)
    with following(items[0]):
        reference = _book_one_adult(phone)
        options = phone.expect(r"how would you like to pay", kind="list")
    rows = {
        f"{row['title']} {row.get('description', '')}": row["id"]
        for section in options["payload"]["interactive"]["action"]["sections"]
        for row in section["rows"]
    }
    chosen = [q for q in guide.quoted(step_6) if q.text.startswith("Pay ")]
    for option in chosen:
        if not any(row.startswith(option.text) for row in rows):
            problems.append(
                at(option, f"the booking flow does not offer {option.text!r}: {list(rows)}")
            )
    fail_all(problems)
    deposit = next(option for option in chosen if "Deposit" in option.text)
    launches = next(item for item in items if "launches" in item.text)
    with following(launches):
        phone.tap(options, row_id=next(i for r, i in rows.items() if r.startswith(deposit.text)))
        form = phone.expect(r".", kind="flow")

    # Step 6.2: the method the guide picks, a number in the guide's format, an e-mail.
    method_item = next(item for item in items if "payment method" in item.text)
    number_item = next(item for item in items if "format:" in item.text)
    wanted = re.search(r"e\.g\., (\w+)", method_item.text).group(1)
    shape = re.search(r"format: (\d+)", number_item.text).group(1)
    assert len(PAYING_NUMBER) == len(shape) and PAYING_NUMBER[:4] == shape[:4], at(
        number_item, shape
    )
    methods = _radio_options(record.flow_json, "payment_method")
    [method] = [m["id"] for m in methods if m["title"].lower() == wanted.lower()] or [None]
    assert method, at(method_item, f"the form offers no {wanted}: {methods}")
    success = next(item for item in items if "success screen" in item.text)
    with following(success):
        opened = control.open_flow(WA_ID, form["wamid"])
        assert opened["status"] == "open", opened
        done = control.submit(
            opened["session"],
            {"payment_method": method, "phone": PAYING_NUMBER, "email": "tendai.moyo@example.com"},
        )
        assert done["status"] == "completed", done
        phone.expect(r"approve it on your phone|received", timeout=15)

    # Step 5: Paynow was given the guide's result and return URLs, on SITE_URL.
    [sent] = httpx.get(f"{paynow_emulator.control_url}/transactions", timeout=5).json()[
        "transactions"
    ]
    for label, field in (("Result URL", "resulturl"), ("Return URL", "returnurl")):
        line, url = labelled_url(guide, "Step 5: Configure Paynow Webhook URLs", label)
        ours = settings.SITE_URL + urlsplit(url).path
        if not sent[field].startswith(ours):
            problems.append(at(line, f"Paynow was given {sent[field]}, not {ours}"))
        try:
            resolve(urlsplit(url).path)
        except Resolver404:
            problems.append(at(line, f"{url} reaches no view here, yet Paynow is given it"))
    fail_all(problems)

    # Step 6.3: the IPN: payment "successful", the booking's amount_paid, the return page.
    ipn_item = next(item for item in items if "status is updated to" in item.text)
    wanted_status = re.search(r'"(\w+)"', ipn_item.text).group(1)
    payment = Payment.objects.get(booking__booking_reference=reference)
    try:
        wait_until(lambda: Payment.objects.get(pk=payment.pk).status == wanted_status, timeout=15)
    except AssertionError:
        now = Payment.objects.get(pk=payment.pk).status
        pytest.fail(
            at(
                ipn_item,
                f"the payment is {now!r}, not {wanted_status!r}, 15 s after "
                f"Paynow's test number paid (Paynow's deliveries: {_deliveries(paynow_emulator)})",
            ),
            pytrace=False,
        )
    booking = Booking.objects.get(pk=payment.booking_id)
    amount_item = next(item for item in items if "amount_paid" in item.text)
    assert booking.amount_paid == payment.amount > 0, at(amount_item, booking.amount_paid)
    assert (payment.payment_method, payment.phone_number, payment.email) == (
        f"paynow_{method}",
        "0" + PAYING_NUMBER[3:],
        "tendai.moyo@example.com",
    ), at(items[0], payment.__dict__)
    assert payment.paynow_attempt.paynow_reference, at(ipn_item, "no Paynow reference recorded")
    line, _ = labelled_url(guide, "Step 5: Configure Paynow Webhook URLs", "Return URL")
    page = httpx.get(sent["returnurl"], timeout=10)
    assert page.status_code == 200 and reference in page.text, at(line, page.status_code)

    # Step 7: each line to look for, through the guide's own `grep -i`.
    [logs] = blocks_of(guide, "logs")
    [word] = set(re.findall(r"grep -i (\w+)", logs.text))
    for looked_for in guide.log_lines():
        pattern = _log_regex(looked_for.text)

        def shown(pattern=pattern):
            return _grep(pattern, _grep(word, log_lines.lines, ignore_case=True), ignore_case=False)

        try:
            wait_until(shown, timeout=5)  # some are logged just after the change they report
        except AssertionError:
            tail = "\n".join(_grep(word, log_lines.lines, ignore_case=True)[-20:])
            problems.append(
                at(
                    looked_for,
                    f"{looked_for.text!r} is not among the lines `grep -i {word}` shows:\n{tail}",
                )
            )
    fail_all(problems)

    # Monitoring: both queries typed into `manage.py shell`, after one failed payment too.
    refused = PaynowService().initiate_payment(
        booking, Decimal("10.00"), "paynow_ecocash", "0774444444", "tendai.moyo@example.com"
    )
    assert refused.outcome == "refused", refused
    [queries] = [
        b for b in blocks_of(guide, "in shell") if b.section == "Database Queries for Monitoring"
    ]
    typed = tmp_path / "monitoring.py"
    typed.write_text(queries.text)
    ran = OperatorShell(database_url=database_url()).run(
        "python manage.py shell", cwd=BACKEND, stdin=typed
    )
    assert ran.returncode == 0, at(queries, ran.explain())
    assert "Success rate: 1/2" in ran.stdout, at(queries, ran.explain())
    assert f"{reference}: Paynow: Insufficient balance" in ran.stdout, at(queries, ran.explain())


def _radio_options(flow_json: dict, name: str) -> list[dict]:
    for screen in flow_json.get("screens", []):
        stack = list(screen.get("layout", {}).get("children", []))
        while stack:
            component = stack.pop()
            stack.extend(component.get("children", []))
            if component.get("name") == name and isinstance(component.get("data-source"), list):
                return component["data-source"]
    return []


# --- migrations: step 1 and the rollback, on PostgreSQL ------------------------------------------


@pytest.mark.postgres
def test_rollback_and_step_1_migrate_on_postgresql(guide, shell_on_test_db, make_booking):
    """The rollback plan's `migrate customer_data 0007`, then step 1's block as written, which
    applies again the migration that adds the Paynow payment methods."""
    from customer_data.models import Payment

    [rollback] = blocks_of(guide, "rollback")
    [step_1] = blocks_of(guide, "migrate")
    target = re.search(r"migrate customer_data (\d{4})", rollback.text).group(1)
    recorder = MigrationRecorder.Migration.objects.filter(app="customer_data")
    latest = max(recorder.values_list("name", flat=True))
    try:
        back = shell_on_test_db.run(rollback.text, cwd=BACKEND)
        assert back.returncode == 0, at(rollback, back.explain())
        now_at = max(recorder.values_list("name", flat=True))
        assert now_at.startswith(target), at(rollback, f"customer_data is at {now_at}")

        forward = shell_on_test_db.run(step_1.text, activated=False)
        assert forward.returncode == 0, at(step_1, forward.explain())
        assert f"Applying customer_data.{latest}" in forward.stdout, at(step_1, forward.explain())
    finally:
        call_command("migrate", verbosity=0)  # whatever happened, later tests get the schema
    # The database takes the payment methods the guide lists again.
    booking = make_booking(total="100.00")
    for span in guide.code_spans():
        if re.fullmatch(r"paynow_[a-z]+", span.text):
            payment = Payment.objects.create(
                booking=booking, amount=Decimal("1.00"), payment_method=span.text
            )
            assert payment.pk, at(span, span.text)
