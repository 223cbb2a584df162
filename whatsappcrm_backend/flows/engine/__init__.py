"""The conversation flow engine: definitions as data, validated on load, run from the database.

- ``registry``: the named actions, conditions and option providers definitions may use.
- ``steps``: the step kinds and what each needs.
- ``loader``: finds ``FLOW``/``FLOWS`` in ``flows/definitions/*.py``, validates, stores rows.
- ``answers``: parsing and validating a traveller's answer to a question.
- ``render``: turning a step's message spec into a Graph payload within Meta's limits.
- ``triggers``: whole-word trigger phrases and the global commands.
- ``runner``: moves one contact through a flow, one inbound message at a time.
"""
