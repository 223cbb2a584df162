"""Move one contact through its flow: one inbound message in, the next messages out.

The caller holds the contact's ``ContactFlowState`` row lock (see ``flows.services``), so
a contact's messages are handled one after the other. The runner answers the current
question or starts a flow, then runs steps until the next question (which waits for the
traveller) or the end. Messages go out through ``conversations.services.queue_message``
and are sent after the transaction commits, in order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from conversations import services as conversations
from meta_integration import messages as graph
from meta_integration.services import UNSUPPORTED_REPLY

from .. import form_tokens, templating
from . import answers, registry
from .answers import Incoming
from .callbacks import COMMAND, Callback
from .render import RenderEnv, build
from .steps import DEFAULT_MAX_RETRIES, RETURN_TO_KEY
from .triggers import best_trigger, command_for

logger = logging.getLogger(__name__)

MAX_STEPS_PER_MESSAGE = 50
OPTIONS_KEY = "_options"
AWAITING_KEY = "_awaiting"  # a deferred action's token while its slow work runs
AWAITING_SINCE_KEY = "_awaiting_since"
AWAITING_PATIENCE = timedelta(minutes=2)

UNSUPPORTED_TEXT = UNSUPPORTED_REPLY  # one wording, whoever answers
IDLE_NOTE = (
    "It's been a while since we last spoke, so I closed our earlier conversation. "
    "Let's start fresh."
)
CANCELLED_TEXT = "OK, I've stopped there. Reply *menu* whenever you'd like to continue."
NOTHING_TO_CANCEL = "There's nothing in progress to cancel. Reply *menu* to see what I can do."
HANDOVER_TEXT = (
    "I've asked a member of our team to join the chat. They'll reply here shortly "
    "(office hours 08:00-17:00 CAT). You don't need to do anything else."
)
HELP_TEXT = (
    "I'm the booking assistant. You can reply at any time with:\n"
    "• *menu* - main menu\n"
    "• *cancel* - stop what we're doing\n"
    "• *agent* - talk to a person\n"
    "• *help* - this message"
)
ERROR_TEXT = (
    "Sorry, something went wrong on our side. Please try again in a moment, "
    "or reply *agent* to talk to a person."
)
STILL_WORKING = "One moment please, I'm still working on your last request."
RETRIES_EXHAUSTED = "I'm having trouble understanding, so I'll get a person to help."


def idle_timeout() -> timedelta:
    return timedelta(seconds=float(settings.FLOW_IDLE_TIMEOUT))


def default_flow_name() -> str:
    return settings.FLOW_DEFAULT or "main_menu"


@dataclass
class ActionContext:
    """What an action sees: the contact, the flow's context (plain data) and a way to talk."""

    runner: Runner
    contact: Any
    context: dict[str, Any]
    flow_name: str
    step_name: str

    def say(self, text: str) -> None:
        self.runner.send_spec(text)

    def send(self, spec: Any) -> None:
        self.runner.send_spec(spec)

    def send_payload(self, payload: dict[str, Any]) -> None:
        self.runner.send_payload(payload)

    def render(self, template: str) -> str:
        return self.runner.render(template)


class Runner:
    def __init__(self, state, *, config=None, now: datetime | None = None) -> None:
        self.state = state
        self.contact = state.contact
        self.config = config
        self.now = now or timezone.now()
        self._flows: dict[str, Any] = {}
        self.current_step = ""

    # --- sending -----------------------------------------------------------------------

    def flow_step_label(self) -> str:
        flow = self.state.flow.name if self.state.flow_id else "bot"
        return f"{flow}:{self.current_step}"[:100] if self.current_step else flow[:100]

    def send_payload(self, payload: dict[str, Any]) -> None:
        conversations.queue_message(
            self.contact, payload, flow_step=self.flow_step_label(), config=self.config
        )

    def send_text(self, body: str) -> None:
        self.send_payload(graph.text(self.contact.address, body[:4096]))

    def template_data(self) -> dict[str, Any]:
        data = {k: v for k, v in self.state.context.items() if not k.startswith("_")}
        name = self.contact.name or ""
        data["contact"] = {"name": name, "first_name": name.split(" ")[0] if name else "there"}
        data["company"] = {
            "name": settings.COMPANY_NAME,
            "contact_details": company_contact_details(),
        }
        return data

    def render(self, template: str) -> str:
        return templating.render(template, self.template_data())

    def _env(self) -> RenderEnv:
        data = self.template_data()

        def when(name: str, params: dict) -> bool:
            return bool(registry.CONDITIONS[name](self._action_context(), **params))

        def rows(name: str, params: dict) -> list[dict[str, str]]:
            return registry.OPTION_PROVIDERS[name](self._action_context(), **params)

        return RenderEnv(text=lambda t: templating.render(t, data), when=when, rows=rows)

    def send_spec(self, spec: Any, *, prefix: str = "") -> list[dict[str, Any]]:
        rendered = build(spec, self.contact.address, self._env(), prefix=prefix)
        self.send_payload(rendered.payload)
        return rendered.options

    def _action_context(self) -> ActionContext:
        flow = self.state.flow.name if self.state.flow_id else ""
        return ActionContext(self, self.contact, self.state.context, flow, self.current_step)

    # --- flows -------------------------------------------------------------------------

    def load_flow(self, name: str):
        from flows.models import Flow

        if name not in self._flows:
            self._flows[name] = Flow.objects.filter(name=name, is_active=True).first()
        return self._flows[name]

    def steps(self) -> dict[str, Any]:
        return (self.state.flow.definition or {}).get("steps", {}) if self.state.flow_id else {}

    def reset(self) -> None:
        self.state.flow = None
        self.state.current_step = ""
        self.state.context = {}
        self.state.retries = 0
        self.state.started_at = None
        self.current_step = ""

    def start(self, name: str, *, step: str | None = None, context: dict | None = None) -> None:
        flow = self.load_flow(name)
        if flow is None:
            logger.error("Flow %s is not loaded; run load_flow_definitions", name)
            self.reset()
            self.send_text(ERROR_TEXT)
            return
        self.reset()
        self.state.flow = flow
        self.state.context = dict(context or {})
        self.state.started_at = self.now
        logger.info("Flow %s started", name, extra={"contact": self.contact.pk})
        self.run_from(step or flow.definition["start"])

    def end(self) -> None:
        if self.state.flow_id:
            logger.info(
                "Flow %s ended at %s",
                self.state.flow.name,
                self.current_step,
                extra={"contact": self.contact.pk},
            )
        self.reset()

    def handover(self) -> None:
        conversations.pause_bot(self.contact)
        self.send_text(HANDOVER_TEXT)
        logger.info("Conversation handed over to staff", extra={"contact": self.contact.pk})
        self.end()

    # --- the inbound entry point -----------------------------------------------------

    def handle(self, incoming: Incoming, message=None) -> None:
        state = self.state
        if (
            state.flow_id
            and state.last_activity_at
            and (self.now - state.last_activity_at > idle_timeout())
        ):
            logger.info(
                "Flow %s timed out at %s",
                state.flow.name,
                state.current_step,
                extra={"contact": self.contact.pk},
            )
            self.reset()
            self.send_text(IDLE_NOTE)
        state.last_activity_at = self.now
        self.current_step = state.current_step

        if incoming.kind == "flow_reply":
            self._form_completion(message)
            return
        command = command_for(incoming.words, incoming.reply_id)
        if command:
            self._command(command)
            return
        if state.flow_id and state.context.get(AWAITING_KEY):
            since = state.context.get(AWAITING_SINCE_KEY, "")
            if since and self.now - datetime.fromisoformat(since) < AWAITING_PATIENCE:
                self.send_text(STILL_WORKING)
                return
            # The deferred work never reported back (a crashed worker): do not wait forever.
            logger.warning(
                "Deferred action lost; conversation restarted", extra={"contact": self.contact.pk}
            )
            self.reset()
        callback = Callback.decode(incoming.reply_id)
        if callback is not None and callback.action != COMMAND and self._enter(callback):
            return
        if state.flow_id and state.current_step:
            step = self.steps().get(state.current_step)
            if step is None or step.get("type") != "question":
                logger.warning(
                    "Flow %s lost its step %s; restarting", state.flow.name, state.current_step
                )
                self.reset()
            else:
                self._answer(state.current_step, step, incoming)
                return
        self._idle(incoming)

    def _idle(self, incoming: Incoming) -> None:
        if incoming.kind == "unsupported":
            self.send_text(UNSUPPORTED_TEXT)
            return
        from flows.models import Flow

        flows = Flow.objects.filter(is_active=True).values_list("name", "trigger_keywords")
        name = best_trigger(incoming.words, flows)
        self.start(name or default_flow_name())

    def _command(self, command: str) -> None:
        if command == "menu":
            self.start(default_flow_name())
        elif command == "agent":
            self.handover()
        elif command == "cancel":
            if self.state.flow_id:
                self.end()
                self.send_text(CANCELLED_TEXT)
            else:
                self.send_text(NOTHING_TO_CANCEL)
        elif command == "help":
            self.send_text(HELP_TEXT)
            step = self.steps().get(self.state.current_step)
            if step and step.get("type") == "question":
                self.ask(self.state.current_step, step)
            elif not self.state.flow_id:
                self.start(default_flow_name())

    def _enter(self, callback: Callback) -> bool:
        """A button on one of our messages (e.g. "Pay balance" on a receipt): start the flow
        that declares its entry point, at the declared step, with the value in its context."""
        from flows.models import Flow

        for name, definition in Flow.objects.filter(is_active=True).values_list(
            "name", "definition"
        ):
            entry = ((definition or {}).get("entry_points") or {}).get(callback.action)
            if entry:
                self.start(name, step=entry["step"], context={entry["context"]: callback.value})
                return True
        logger.info(
            "Button %r names no entry point", callback.action, extra={"contact": self.contact.pk}
        )
        return False

    def _form_completion(self, message) -> None:
        """A WhatsApp Flow form closed: its registered handler continues the conversation."""
        name = form_tokens.form_name_of(message)
        handler = registry.FORM_COMPLETIONS.get(name or "")
        if handler is None:
            logger.warning(
                "Form completion for no known form (%s)",
                name or "unknown token",
                extra={"contact": self.contact.pk},
            )
            return
        handler(self.contact, message)

    # --- steps -------------------------------------------------------------------------

    def ask(self, name: str, step: dict[str, Any], *, prefix: str = "") -> None:
        self.current_step = name
        self.state.current_step = name
        options = self.send_spec(step["message"], prefix=prefix)
        self.state.context[OPTIONS_KEY] = options

    def _answer(self, name: str, step: dict[str, Any], incoming: Incoming) -> None:
        options = self.state.context.get(OPTIONS_KEY) or []
        if incoming.kind == "unsupported" and step["expect"] != "image":
            self.ask(name, step, prefix="Sorry, I can only read text messages.")
            return
        answer = answers.parse(step, incoming, options, timezone.localdate(self.now))
        if not answer.ok:
            self.state.retries += 1
            limit = int(step.get("max_retries", DEFAULT_MAX_RETRIES))
            logger.info(
                "Answer to %s:%s refused (%s of %s)",
                self.state.flow.name,
                name,
                self.state.retries,
                limit,
                extra={"contact": self.contact.pk},
            )
            if self.state.retries >= limit:
                self.state.retries = 0
                fallback = step.get("on_max_retries")
                if fallback:
                    self.run_from(fallback)
                else:
                    self.send_text(RETRIES_EXHAUSTED)
                    self.handover()
                return
            self.ask(name, step, prefix=self.render(answer.error))
            return
        self.state.retries = 0
        context = self.state.context
        context.pop(OPTIONS_KEY, None)
        if step.get("save_as"):
            context[step["save_as"]] = answer.value
            if answer.title:
                context[f"{step['save_as']}_label"] = answer.title
        transitions = step.get("transitions") or {}
        target = (
            transitions.get(answer.value) if isinstance(answer.value, str) else None
        ) or step.get("next")
        if step.get("return_if_editing") and context.get(RETURN_TO_KEY):
            target = context.pop(RETURN_TO_KEY)
        self.run_from(target)

    def run_from(self, name: str | None) -> None:
        """Run steps from ``name`` until a question waits for an answer or the flow ends."""
        for _ in range(MAX_STEPS_PER_MESSAGE):
            if not name or not self.state.flow_id:
                self.end()
                return
            step = self.steps().get(name)
            if step is None:
                logger.error("Flow %s has no step %s", self.state.flow.name, name)
                self.send_text(ERROR_TEXT)
                self.end()
                return
            self.current_step = name
            self.state.current_step = name
            kind = step["type"]
            if kind == "question":
                self.state.retries = 0
                self.ask(name, step)
                return
            if kind == "message":
                self.send_spec(step["message"])
                name = step.get("next")
            elif kind == "end":
                if step.get("message"):
                    self.send_spec(step["message"])
                self.end()
                return
            elif kind == "handover":
                if step.get("message"):
                    self.send_spec(step["message"])
                self.handover()
                return
            elif kind == "branch":
                name = self._branch(step)
            elif kind == "action":
                outcome = self._run_action(step)
                if outcome is None:
                    return
                name = (step.get("transitions") or {}).get(outcome) or step.get("next")
            elif kind == "switch_flow":
                carried = {
                    k: self.state.context[k]
                    for k in step.get("carry", [])
                    if k in self.state.context
                }
                self.start(step["flow"], step=step.get("step"), context=carried)
                return
        logger.error(
            "Flow %s ran %s steps without waiting; stopped", self.state.flow, MAX_STEPS_PER_MESSAGE
        )
        self.send_text(ERROR_TEXT)
        self.end()

    def _branch(self, step: dict[str, Any]) -> str:
        run = self._action_context()
        for branch in step["branches"]:
            if registry.CONDITIONS[branch["if"]](run, **branch.get("params", {})):
                return branch["then"]
        return step["else"]

    def _run_action(self, step: dict[str, Any]) -> str | None:
        registered = registry.ACTIONS[step["action"]]
        params = {
            key: self.render(value) if isinstance(value, str) else value
            for key, value in (step.get("params") or {}).items()
        }
        try:
            # A savepoint: a failing action leaves nothing half-written, and the
            # conversation goes on.
            with transaction.atomic():
                result = registered.func(self._action_context(), **params)
        except Exception:
            logger.exception(
                "Action %s failed in %s:%s",
                step["action"],
                self.state.flow.name,
                self.current_step,
                extra={"contact": self.contact.pk},
            )
            self.send_text(ERROR_TEXT)
            self.end()
            return None
        result = result or registry.ActionResult()
        if result.deferred is not None:
            self._defer(result)
            return None
        return self.apply_result(result)

    def apply_result(self, result: registry.ActionResult) -> str:
        self.state.context.update(result.updates)
        for spec in result.messages:
            self.send_spec(spec)
        return result.outcome

    def _defer(self, result: registry.ActionResult) -> None:
        """Wait at this action step; run the slow work after commit, then continue."""
        import uuid

        from flows import services

        token = uuid.uuid4().hex
        self.state.context.update(result.updates)
        for spec in result.messages:
            self.send_spec(spec)
        self.state.context[AWAITING_KEY] = token
        self.state.context[AWAITING_SINCE_KEY] = self.now.isoformat()
        contact_id, job = self.contact.pk, result.deferred
        transaction.on_commit(lambda: services.finish_deferred_action(contact_id, token, job))

    def resume(self, token: str, result: registry.ActionResult) -> None:
        """Apply a deferred action's result, if the flow is still waiting for it."""
        if not self.state.flow_id or self.state.context.get(AWAITING_KEY) != token:
            logger.info(
                "Deferred action result arrived after the flow moved on",
                extra={"contact": self.contact.pk},
            )
            for spec in result.messages:
                self.send_spec(spec)
            return
        self.state.context.pop(AWAITING_KEY, None)
        self.state.context.pop(AWAITING_SINCE_KEY, None)
        name = self.state.current_step
        self.current_step = name
        step = self.steps().get(name) or {}
        outcome = self.apply_result(result)
        self.run_from((step.get("transitions") or {}).get(outcome) or step.get("next"))


def company_contact_details() -> str:
    return settings.COMPANY_CONTACT_DETAILS
