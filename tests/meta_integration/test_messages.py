"""Graph API payload builders: exact JSON shape, and Meta's limits at and one past the edge."""

import copy
import json
from pathlib import Path

import pytest
from pywa.types import URLButton

from meta_integration import constants as c
from meta_integration import messages as m
from meta_integration.messages import MessageLimitError, Row, validate_payload

TO = "263771234567"
OUTBOUND_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "meta" / "outbound"
PAYNOW_PAGE = "https://www.paynow.co.zw/Payment/ConfirmPayment/16347219"


def outbound_fixture(name: str) -> dict:
    """A message shape written from a named source (Meta's docs, pywa): `{"source", "payload"}`."""
    fixture = json.loads((OUTBOUND_FIXTURES / f"{name}.json").read_text())
    assert fixture["source"], "every outbound fixture names where its shape comes from"
    return fixture["payload"]


def s(n: int, char: str = "x") -> str:
    return char * n


def buttons_of(n: int) -> list[tuple[str, str]]:
    return [(f"b{i}", f"Button {i}") for i in range(n)]


def rows_of(n: int, prefix: str = "r") -> list[Row]:
    return [Row(f"{prefix}{i}", f"Row {i}") for i in range(n)]


ONE_SECTION = [("Tours", rows_of(2))]


def envelope(kind: str, content: dict) -> dict:
    """The expected Graph API message: the envelope every builder wraps its `kind` object in."""
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": TO,
        "type": kind,
        kind: content,
    }


def interactive(
    kind: str, body: str, action: dict, header: str | None = None, footer: str | None = None
) -> dict:
    """The expected interactive message of `kind`; header and footer only where given."""
    content: dict = {"type": kind, "body": {"text": body}, "action": action}
    if header is not None:
        content["header"] = {"type": "text", "text": header}
    if footer is not None:
        content["footer"] = {"text": footer}
    return envelope("interactive", content)


# --- exact shapes ----------------------------------------------------------------------------


def test_text_shape():
    assert m.text(TO, "Hello *Tendai*") == envelope(
        "text", {"preview_url": False, "body": "Hello *Tendai*"}
    )
    assert m.text(TO, "https://example.com", preview_url=True)["text"]["preview_url"] is True


def test_reply_buttons_shape():
    payload = m.reply_buttons(
        TO,
        "How would you like to pay?",
        [("pay_full", "Pay Full via Paynow"), ("pay_deposit", "Pay 50% Deposit")],
        header="Booking BK-ZW3K7Q2P",
        footer="Prices in USD",
    )
    assert payload == interactive(
        "button",
        "How would you like to pay?",
        {
            "buttons": [
                {"type": "reply", "reply": {"id": "pay_full", "title": "Pay Full via Paynow"}},
                {"type": "reply", "reply": {"id": "pay_deposit", "title": "Pay 50% Deposit"}},
            ]
        },
        header="Booking BK-ZW3K7Q2P",
        footer="Prices in USD",
    )


def test_reply_buttons_without_header_or_footer_omit_them():
    interactive = m.reply_buttons(TO, "Pick", buttons_of(1))["interactive"]
    assert set(interactive) == {"type", "body", "action"}


def test_list_message_shape():
    payload = m.list_message(
        TO,
        "Choose a tour",
        "View tours",
        [
            (
                "Day trips",
                [
                    Row("tour_falls", "Victoria Falls Tour", "Full day, from USD 150"),
                    Row("tour_sunset", "Zambezi Sunset Cruise"),
                ],
            ),
            ("Safaris", [("tour_hwange", "Hwange Safari", "3 days")]),
        ],
        header="Our tours",
        footer="Reply any time",
    )
    assert payload == interactive(
        "list",
        "Choose a tour",
        {
            "button": "View tours",
            "sections": [
                {
                    "title": "Day trips",
                    "rows": [
                        {
                            "id": "tour_falls",
                            "title": "Victoria Falls Tour",
                            "description": "Full day, from USD 150",
                        },
                        {"id": "tour_sunset", "title": "Zambezi Sunset Cruise"},
                    ],
                },
                {
                    "title": "Safaris",
                    "rows": [
                        {"id": "tour_hwange", "title": "Hwange Safari", "description": "3 days"}
                    ],
                },
            ],
        },
        header="Our tours",
        footer="Reply any time",
    )


def test_single_section_may_have_no_title():
    payload = m.list_message(TO, "Choose", "Options", [(None, rows_of(2))])
    assert payload["interactive"]["action"]["sections"] == [
        {"rows": [{"id": "r0", "title": "Row 0"}, {"id": "r1", "title": "Row 1"}]}
    ]
    assert (
        "title"
        not in m.list_message(TO, "b", "o", [("", rows_of(1))])["interactive"]["action"][
            "sections"
        ][0]
    )


def test_flow_message_data_exchange_shape():
    payload = m.flow_message(
        TO,
        "Pay for booking BK-ZW3K7Q2P",
        "1234567890123456",
        "bk_ZW3K7Q2P.pay_full.15000.1764540000.9f2c1e7a4b",
        "Pay now",
        header="Payment",
        footer="Secured by Paynow",
    )
    assert payload == interactive(
        "flow",
        "Pay for booking BK-ZW3K7Q2P",
        {
            "name": "flow",
            "parameters": {
                "flow_message_version": "3",
                "flow_id": "1234567890123456",
                "flow_token": "bk_ZW3K7Q2P.pay_full.15000.1764540000.9f2c1e7a4b",
                "flow_cta": "Pay now",
                "mode": "published",
                "flow_action": "data_exchange",
            },
        },
        header="Payment",
        footer="Secured by Paynow",
    )


def test_flow_message_navigate_shape():
    payload = m.flow_message(
        TO,
        "Tell us about your travellers",
        "1234567890123456",
        "tok-1",
        "Start",
        flow_action="navigate",
        screen="TRAVELLERS",
        data={"count": 2},
        mode="draft",
    )
    assert payload == interactive(
        "flow",
        "Tell us about your travellers",
        {
            "name": "flow",
            "parameters": {
                "flow_message_version": "3",
                "flow_id": "1234567890123456",
                "flow_token": "tok-1",
                "flow_cta": "Start",
                "mode": "draft",
                "flow_action": "navigate",
                "flow_action_payload": {"screen": "TRAVELLERS", "data": {"count": 2}},
            },
        },
    )


def test_flow_navigate_without_data_omits_data():
    payload = m.flow_message(TO, "b", "1", "t", "Go", flow_action="navigate", screen="S")
    params = payload["interactive"]["action"]["parameters"]
    assert params["flow_action_payload"] == {"screen": "S"}


def test_cta_url_shape():
    payload = m.cta_url(
        TO,
        "Pay your deposit of USD 100.00 by card.",
        "Pay by card",
        PAYNOW_PAGE,
        header="Booking BK-ZW3K7Q2P",
        footer="Secure payment by Paynow",
    )
    assert payload == interactive(
        "cta_url",
        "Pay your deposit of USD 100.00 by card.",
        {"name": "cta_url", "parameters": {"display_text": "Pay by card", "url": PAYNOW_PAGE}},
        header="Booking BK-ZW3K7Q2P",
        footer="Secure payment by Paynow",
    )
    bare = m.cta_url(TO, "b", "Open", PAYNOW_PAGE)["interactive"]
    assert "header" not in bare and "footer" not in bare


def test_cta_url_matches_metas_documented_request():
    documented = outbound_fixture("cta_url_meta_docs")
    validate_payload(documented)
    content = documented["interactive"]
    params = content["action"]["parameters"]
    assert documented == m.cta_url(
        documented["to"],
        content["body"]["text"],
        params["display_text"],
        params["url"],
        header=content["header"]["text"],
        footer=content["footer"]["text"],
    )


def test_cta_url_matches_what_pywa_sends():
    sent_by_pywa = outbound_fixture("cta_url_pywa")
    validate_payload(sent_by_pywa)
    content = sent_by_pywa["interactive"]
    params = content["action"]["parameters"]
    ours = m.cta_url(TO, content["body"]["text"], params["display_text"], params["url"])
    assert ours == sent_by_pywa
    # pywa's own button object (public API) builds the same action, independently of us.
    action = URLButton(title=params["display_text"], url=params["url"]).to_dict()
    assert json.loads(json.dumps(action)) == ours["interactive"]["action"]


def test_template_shape():
    components = [
        {"type": "body", "parameters": [{"type": "text", "text": "Tendai"}]},
    ]
    assert m.template(TO, "booking_reminder", "en", components) == envelope(
        "template",
        {
            "name": "booking_reminder",
            "language": {"code": "en"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "Tendai"}]}],
        },
    )
    assert m.template(TO, "hello_world", "en_US")["template"] == {
        "name": "hello_world",
        "language": {"code": "en_US"},
    }


def test_mark_as_read_shape():
    wamid = "wamid.HBgMMjYzNzcxMjM0NTY3FQIAEhggM0EwMUI2QkY5QzM4RDZGNTk1QjQ4ODE5MzdDNzhCQjIA"
    assert m.mark_as_read(wamid) == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": wamid,
    }
    assert m.mark_as_read(wamid, typing_indicator=True)["typing_indicator"] == {"type": "text"}


# --- limits: at the limit passes, one over fails ---------------------------------------------


def _list(**overrides):
    kwargs = {"to": TO, "body": "b", "button": "Open", "sections": ONE_SECTION}
    kwargs.update(overrides)
    return m.list_message(**kwargs)


def _flow(**overrides):
    kwargs = {"to": TO, "body": "b", "flow_id": "1", "flow_token": "t", "flow_cta": "Go"}
    kwargs.update(overrides)
    return m.flow_message(**kwargs)


def _cta(**overrides):
    kwargs = {"to": TO, "body": "b", "display_text": "Open", "url": PAYNOW_PAGE}
    kwargs.update(overrides)
    return m.cta_url(**kwargs)


def _url_of(n: int) -> str:
    base = "https://www.paynow.co.zw/"
    return base + "x" * (n - len(base))


LIMIT_CASES = [
    ("text.body", c.TEXT_BODY_MAX, lambda n: m.text(TO, s(n))),
    ("buttons.body", c.BUTTONS_BODY_MAX, lambda n: m.reply_buttons(TO, s(n), buttons_of(1))),
    (
        "buttons.header",
        c.INTERACTIVE_HEADER_TEXT_MAX,
        lambda n: m.reply_buttons(TO, "b", buttons_of(1), header=s(n)),
    ),
    (
        "buttons.footer",
        c.INTERACTIVE_FOOTER_MAX,
        lambda n: m.reply_buttons(TO, "b", buttons_of(1), footer=s(n)),
    ),
    ("buttons.count", c.BUTTONS_MAX, lambda n: m.reply_buttons(TO, "b", buttons_of(n))),
    (
        "buttons.id",
        c.BUTTON_ID_MAX,
        lambda n: m.reply_buttons(TO, "b", [(s(n), "A"), ("other", "B")]),
    ),
    ("buttons.title", c.BUTTON_TITLE_MAX, lambda n: m.reply_buttons(TO, "b", [("a", s(n))])),
    ("list.header", c.INTERACTIVE_HEADER_TEXT_MAX, lambda n: _list(header=s(n))),
    ("list.body", c.LIST_BODY_MAX, lambda n: _list(body=s(n))),
    ("list.footer", c.INTERACTIVE_FOOTER_MAX, lambda n: _list(footer=s(n))),
    ("list.button", c.LIST_BUTTON_MAX, lambda n: _list(button=s(n))),
    (
        "list.sections",
        c.LIST_SECTIONS_MAX,
        lambda n: _list(sections=[(f"S{i}", [Row(f"r{i}", "Row")]) for i in range(n)]),
    ),
    (
        "list.section_title",
        c.LIST_SECTION_TITLE_MAX,
        lambda n: _list(sections=[(s(n), rows_of(1, "a")), ("Other", rows_of(1, "b"))]),
    ),
    (
        "list.rows_total_across_sections",
        c.LIST_ROWS_TOTAL_MAX,
        lambda n: _list(sections=[("A", rows_of(5, "a")), ("B", rows_of(n - 5, "b"))]),
    ),
    (
        "list.rows_in_one_section",
        c.LIST_ROWS_TOTAL_MAX,
        lambda n: _list(sections=[("A", rows_of(n))]),
    ),
    ("list.row_id", c.LIST_ROW_ID_MAX, lambda n: _list(sections=[("A", [Row(s(n), "t")])])),
    ("list.row_title", c.LIST_ROW_TITLE_MAX, lambda n: _list(sections=[("A", [Row("r", s(n))])])),
    (
        "list.row_description",
        c.LIST_ROW_DESCRIPTION_MAX,
        lambda n: _list(sections=[("A", [Row("r", "t", s(n))])]),
    ),
    ("flow.body", c.FLOW_BODY_MAX, lambda n: _flow(body=s(n))),
    ("flow.cta", c.FLOW_CTA_MAX, lambda n: _flow(flow_cta=s(n))),
    ("flow.header", c.INTERACTIVE_HEADER_TEXT_MAX, lambda n: _flow(header=s(n))),
    ("flow.footer", c.INTERACTIVE_FOOTER_MAX, lambda n: _flow(footer=s(n))),
    ("cta_url.body", c.CTA_URL_BODY_MAX, lambda n: _cta(body=s(n))),
    ("cta_url.display_text", c.CTA_URL_DISPLAY_TEXT_MAX, lambda n: _cta(display_text=s(n))),
    ("cta_url.header", c.INTERACTIVE_HEADER_TEXT_MAX, lambda n: _cta(header=s(n))),
    ("cta_url.footer", c.INTERACTIVE_FOOTER_MAX, lambda n: _cta(footer=s(n))),
    ("cta_url.url", c.CTA_URL_URL_MAX, lambda n: _cta(url=_url_of(n))),
]


each_limit = pytest.mark.parametrize(
    "limit,build",
    [(limit, build) for _, limit, build in LIMIT_CASES],
    ids=[n for n, *_ in LIMIT_CASES],
)


@each_limit
def test_at_the_limit_passes(limit, build):
    validate_payload(build(limit))


@each_limit
def test_one_over_the_limit_fails(limit, build):
    with pytest.raises(MessageLimitError, match=str(limit)):
        build(limit + 1)


def test_limits_table_matches_protocols_md():
    assert c.MESSAGE_LIMITS == {
        "text.body": 4096,
        "interactive.header.text": 60,
        "interactive.footer.text": 60,
        "button.body": 1024,
        "button.count": 3,
        "button.id": 256,
        "button.title": 20,
        "list.body": 4096,
        "list.button": 20,
        "list.sections": 10,
        "list.section.title": 24,
        "list.rows_total": 10,
        "list.row.id": 200,
        "list.row.title": 24,
        "list.row.description": 72,
        "flow.body": 1024,
        "flow.cta": 20,
        "cta_url.body": 1024,
        "cta_url.display_text": 20,
        "cta_url.url": 2000,
    }


def test_limits_count_characters_not_bytes():
    m.reply_buttons(TO, "b", [("a", s(c.BUTTON_TITLE_MAX, "é"))])
    m.text(TO, s(c.TEXT_BODY_MAX, "ü"))


def test_error_message_names_the_field_and_limit():
    with pytest.raises(MessageLimitError) as excinfo:
        m.reply_buttons(TO, "b", [("a", "ok"), ("b", s(21))])
    assert str(excinfo.value) == (
        "interactive.action.buttons[1].reply.title: 21 characters, limit is 20"
    )


def test_message_limit_error_is_a_value_error():
    assert issubclass(MessageLimitError, ValueError)


# --- other rules -----------------------------------------------------------------------------

RULE_VIOLATIONS = {
    "empty text body": lambda: m.text(TO, ""),
    "blank text body": lambda: m.text(TO, "   \n"),
    "empty recipient": lambda: m.text("", "hi"),
    "recipient with spaces": lambda: m.text(" 263771234567", "hi"),
    "no buttons": lambda: m.reply_buttons(TO, "b", []),
    "empty button body": lambda: m.reply_buttons(TO, "", buttons_of(1)),
    "empty button title": lambda: m.reply_buttons(TO, "b", [("a", "")]),
    "empty button id": lambda: m.reply_buttons(TO, "b", [("", "A")]),
    "duplicate button titles": lambda: m.reply_buttons(TO, "b", [("a", "Yes"), ("b", "Yes")]),
    "duplicate button ids": lambda: m.reply_buttons(TO, "b", [("a", "Yes"), ("a", "No")]),
    "empty header": lambda: m.reply_buttons(TO, "b", buttons_of(1), header=""),
    "empty footer": lambda: m.reply_buttons(TO, "b", buttons_of(1), footer=""),
    "no sections": lambda: _list(sections=[]),
    "section without rows": lambda: _list(sections=[("A", [])]),
    "untitled section among several": lambda: _list(
        sections=[(None, rows_of(1, "a")), ("B", rows_of(1, "b"))]
    ),
    "duplicate row ids across sections": lambda: _list(
        sections=[("A", [Row("same", "One")]), ("B", [Row("same", "Two")])]
    ),
    "empty list button": lambda: _list(button=""),
    "empty row title": lambda: _list(sections=[("A", [Row("r", "")])]),
    "empty flow cta": lambda: _flow(flow_cta=""),
    "empty flow id": lambda: _flow(flow_id=""),
    "empty flow token": lambda: _flow(flow_token=""),
    "empty flow body": lambda: _flow(body=""),
    "payload with data_exchange (screen)": lambda: _flow(screen="S"),
    "payload with data_exchange (data)": lambda: _flow(data={"a": 1}),
    "navigate without screen": lambda: _flow(flow_action="navigate"),
    "navigate with empty data": lambda: _flow(flow_action="navigate", screen="S", data={}),
    "unknown flow action": lambda: _flow(flow_action="open"),
    "unknown flow mode": lambda: _flow(mode="live"),
    "non-JSON flow data": lambda: _flow(flow_action="navigate", screen="S", data={"x": object()}),
    "empty template name": lambda: m.template(TO, "", "en"),
    "empty template language": lambda: m.template(TO, "hello_world", ""),
    "template component without type": lambda: m.template(TO, "t", "en", [{"parameters": []}]),
    "empty wamid": lambda: m.mark_as_read(""),
    "empty cta body": lambda: _cta(body=""),
    "empty cta display text": lambda: _cta(display_text=" "),
    "empty cta url": lambda: _cta(url=""),
    "relative cta url": lambda: _cta(url="/crm-api/paynow/return/"),
    "cta url without host": lambda: _cta(url="https:///path"),
    "ftp cta url": lambda: _cta(url="ftp://files.example.com/tour.pdf"),
    "javascript cta url": lambda: _cta(url="javascript:alert(1)"),
    "cta url with a space": lambda: _cta(url="https://www.paynow.co.zw/a b"),
    "cta url with a broken IPv6 host": lambda: _cta(url="https://[::1/pay"),
}


@pytest.mark.parametrize("build", RULE_VIOLATIONS.values(), ids=RULE_VIOLATIONS.keys())
def test_rule_violations_fail_loudly(build):
    with pytest.raises(MessageLimitError):
        build()


# --- validate_payload on hand-built payloads -------------------------------------------------


def _with(payload: dict, path: tuple, value) -> dict:
    payload = copy.deepcopy(payload)
    target = payload
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return payload


_DELETE = object()
FLOW = m.flow_message(TO, "b", "1", "t", "Go")
BUTTONS = m.reply_buttons(TO, "b", buttons_of(2))
LIST = _list()
CTA = _cta()

HAND_BUILT_BAD = {
    "not a dict": ([], None, None),
    "no messaging_product": (m.text(TO, "x"), ("messaging_product",), _DELETE),
    "wrong messaging_product": (m.text(TO, "x"), ("messaging_product",), "sms"),
    "group recipient type": (m.text(TO, "x"), ("recipient_type",), "group"),
    "unknown type": (m.text(TO, "x"), ("type",), "carousel"),
    "missing text object": (m.text(TO, "x"), ("text",), _DELETE),
    "preview_url not bool": (m.text(TO, "x"), ("text", "preview_url"), "yes"),
    "body not a string": (m.text(TO, "x"), ("text", "body"), 42),
    "unknown interactive type": (BUTTONS, ("interactive", "type"), "product"),
    "button type not reply": (
        BUTTONS,
        ("interactive", "action", "buttons", 0, "type"),
        "url",
    ),
    "buttons not a list": (BUTTONS, ("interactive", "action", "buttons"), {"a": 1}),
    "button media header without id or link": (
        BUTTONS,
        ("interactive", "header"),
        {"type": "image", "image": {}},
    ),
    "list media header": (
        LIST,
        ("interactive", "header"),
        {"type": "image", "image": {"id": "1"}},
    ),
    "list section title empty": (
        LIST,
        ("interactive", "action", "sections", 0, "title"),
        "",
    ),
    "flow wrong version": (
        FLOW,
        ("interactive", "action", "parameters", "flow_message_version"),
        "2",
    ),
    "flow version as int": (
        FLOW,
        ("interactive", "action", "parameters", "flow_message_version"),
        3,
    ),
    "flow action name": (FLOW, ("interactive", "action", "name"), "cta_url"),
    "flow without id or name": (FLOW, ("interactive", "action", "parameters", "flow_id"), _DELETE),
    "flow with both id and name": (
        FLOW,
        ("interactive", "action", "parameters", "flow_name"),
        "payment",
    ),
    "flow without body": (FLOW, ("interactive", "body"), _DELETE),
    "flow media header": (
        FLOW,
        ("interactive", "header"),
        {"type": "image", "image": {"id": "1"}},
    ),
    "flow payload with default (navigate) action but no screen": (
        _with(FLOW, ("interactive", "action", "parameters", "flow_action"), _DELETE),
        ("interactive", "action", "parameters", "flow_action_payload"),
        {"data": {"a": 1}},
    ),
    "cta action name": (CTA, ("interactive", "action", "name"), "flow"),
    "cta without parameters": (CTA, ("interactive", "action", "parameters"), _DELETE),
    "cta without url": (CTA, ("interactive", "action", "parameters", "url"), _DELETE),
    "cta url not a string": (CTA, ("interactive", "action", "parameters", "url"), 42),
    "cta without body": (CTA, ("interactive", "body"), _DELETE),
    "cta header of an unknown type": (
        CTA,
        ("interactive", "header"),
        {"type": "sticker", "sticker": {"id": "1"}},
    ),
    "read receipt without id": (m.mark_as_read("wamid.X"), ("message_id",), _DELETE),
    "typing indicator wrong type": (
        m.mark_as_read("wamid.X"),
        ("typing_indicator",),
        {"type": "audio"},
    ),
}


@pytest.mark.parametrize("payload,path,value", HAND_BUILT_BAD.values(), ids=HAND_BUILT_BAD.keys())
def test_hand_built_payloads_are_checked(payload, path, value):
    bad = payload if path is None else _with(payload, path, value)
    with pytest.raises(MessageLimitError):
        validate_payload(bad)


def test_hand_built_valid_payloads_pass():
    validate_payload(
        _with(BUTTONS, ("interactive", "header"), {"type": "image", "image": {"id": "9"}})
    )
    validate_payload(
        _with(
            BUTTONS,
            ("interactive", "header"),
            {"type": "document", "document": {"link": "https://example.com/itinerary.pdf"}},
        )
    )
    by_name = _with(FLOW, ("interactive", "action", "parameters", "flow_id"), _DELETE)
    by_name["interactive"]["action"]["parameters"]["flow_name"] = "payment_flow"
    validate_payload(by_name)
    # Meta defaults flow_action to navigate and recipient_type to individual.
    navigate = _with(FLOW, ("interactive", "action", "parameters", "flow_action"), _DELETE)
    navigate["interactive"]["action"]["parameters"]["flow_action_payload"] = {"screen": "S"}
    validate_payload(navigate)
    validate_payload(_with(m.text(TO, "x"), ("recipient_type",), _DELETE))
    # Meta allows an image, video or document header on a CTA URL message; http works too.
    validate_payload(
        _with(CTA, ("interactive", "header"), {"type": "image", "image": {"link": PAYNOW_PAGE}})
    )
    validate_payload(_cta(url="http://127.0.0.1:8401/Payment/ConfirmPayment/?guid=1"))
    # A row description may be blank: it is optional text.
    validate_payload(
        _with(LIST, ("interactive", "action", "sections", 0, "rows", 0, "description"), "")
    )


def test_builders_accept_row_tuples():
    payload = _list(sections=[("A", [("r1", "Row one"), ("r2", "Row two", "desc")])])
    rows = payload["interactive"]["action"]["sections"][0]["rows"]
    assert rows == [
        {"id": "r1", "title": "Row one"},
        {"id": "r2", "title": "Row two", "description": "desc"},
    ]


def test_retry_policy():
    assert c.is_retryable(error_code=130429)
    assert c.is_retryable(error_code=131056)
    assert c.is_retryable(http_status=500)
    assert c.is_retryable(http_status=503, error_code=131000)
    for code in (131047, 131026, 131048, 132068, 132069):
        assert not c.is_retryable(error_code=code, http_status=400)
    assert not c.is_retryable(http_status=400)
    assert not c.is_retryable()
    assert c.GraphErrorCode(131047) is c.GraphErrorCode.OUTSIDE_SERVICE_WINDOW
