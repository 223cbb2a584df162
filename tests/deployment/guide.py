"""The deployment guide, read as an operator reads it: its fenced blocks, the names it mentions
(code spans, bold labels, CamelCase words), its URLs, admin paths, log lines, checklist and
troubleshooting items, each with the guide's own line number.

Nothing here knows what the guide says: it only knows the shapes Markdown gives (fences,
backticks, `**bold**` → `**bold**`, `- [ ]`, numbered lists). The walk (test_guide.py) checks
what this extracts against the running system.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The guide as our first user wrote it (the shared seed next to the repository) and the verbatim
# copy committed with the code, for a clone that has no shared folder next to it (CI).
SHARED_GUIDE = REPO.parent / "shared" / "seed" / "000_af874ddf7e1ec655.txt"
COMMITTED_GUIDE = REPO / "docs" / "guide" / "paynow-deployment-guide.md"

_FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>\w*)\s*$")
_CODE_SPAN = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")
_ADMIN_PATH = re.compile(r"\*\*(?P<app>[^*]+)\*\*\s*→\s*\*\*(?P<model>[^*]+)\*\*")
_FIELD_BULLET = re.compile(r"^\s*-\s+\*\*(?P<label>[^*]+)\*\*:\s*(?P<value>.*)$")
_URL = re.compile(r"https?://[^\s`)\"'>]+")
_CHECKLIST = re.compile(r"^\s*-\s+\[ \]\s+(?P<item>.+?)\s*$")
_NUMBERED = re.compile(r"^\s*(?P<number>\d+)\.\s+(?P<text>.+?)\s*$")
_HEADING = re.compile(r"^(?P<hashes>#{1,6})\s+(?P<title>.+?)\s*$")
_QUOTED_BULLET = re.compile(r'^\s*-\s+"(?P<text>[^"]+)"\s*$')
_CAMEL = re.compile(r"\b[A-Z][a-z]+(?:[A-Z][A-Za-z]*)+\b")


@dataclass(frozen=True)
class Located:
    """Some text of the guide and the (1-based) line it is on."""

    line: int
    text: str
    context: str = ""  # the whole line, for checks that read the words around a name


@dataclass(frozen=True)
class Block:
    """A fenced block: its language tag, the line of its opening fence, its dedented text."""

    line: int
    lang: str
    text: str
    section: str  # the nearest heading above it

    def line_of(self, needle: str) -> int:
        """The guide's line number of the block's first line containing `needle`."""
        for offset, text in enumerate(self.text.splitlines(), start=1):
            if needle in text:
                return self.line + offset
        return self.line


@dataclass(frozen=True)
class AdminPath:
    """`**App** → **Models**` and the `- **Label**: value` bullets that follow it."""

    line: int
    app: str
    model: str
    fields: tuple[Located, ...] = ()  # text = label, context = the value as written

    def value_of(self, label: str) -> str:
        return next(f.context for f in self.fields if f.text == label)


@dataclass
class Guide:
    path: Path
    lines: list[str]
    blocks: list[Block] = field(default_factory=list)
    _in_block: set[int] = field(default_factory=set)
    _headings: list[tuple[int, int, str]] = field(default_factory=list)  # line, level, title

    @classmethod
    def read(cls, path: Path) -> Guide:
        guide = cls(path=path, lines=path.read_text(encoding="utf-8").splitlines())
        guide._parse()
        return guide

    def _parse(self) -> None:
        opened: tuple[int, str, str] | None = None  # line, lang, indent
        body: list[str] = []
        for number, text in enumerate(self.lines, start=1):
            fence = _FENCE.match(text)
            if opened is None and fence:
                opened, body = (number, fence["lang"], fence["indent"]), []
                self._in_block.add(number)
            elif opened is not None and fence and fence["indent"] == opened[2]:
                start, lang, indent = opened
                dedented = [
                    line[len(indent) :] if line.startswith(indent) else line for line in body
                ]
                self.blocks.append(
                    Block(start, lang, "\n".join(dedented) + "\n", self.section_of(start))
                )
                self._in_block.add(number)
                opened = None
            elif opened is not None:
                body.append(text)
                self._in_block.add(number)
            elif heading := _HEADING.match(text):
                self._headings.append((number, len(heading["hashes"]), heading["title"]))
        if opened is not None:
            raise ValueError(f"guide line {opened[0]}: a fence that never closes")

    # -- where things are --

    def section_of(self, line: int) -> str:
        """The title of the nearest heading at or above `line`."""
        titles = [title for number, _, title in self._headings if number <= line]
        return titles[-1] if titles else ""

    def section_lines(self, title: str) -> range:
        """The line numbers under the heading `title`, up to the next heading of its level."""
        for index, (number, level, heading) in enumerate(self._headings):
            if heading == title:
                end = next(
                    (n for n, lvl, _ in self._headings[index + 1 :] if lvl <= level),
                    len(self.lines) + 1,
                )
                return range(number + 1, end)
        raise KeyError(f"the guide has no heading {title!r}")

    def subsections(self, title: str) -> list[tuple[int, str]]:
        """The headings directly under `title`."""
        inside = self.section_lines(title)
        [level] = [lvl for _, lvl, heading in self._headings if heading == title]
        return [(n, h) for n, lvl, h in self._headings if n in inside and lvl == level + 1]

    def prose(self) -> list[tuple[int, str]]:
        """Every line outside the fenced blocks."""
        return [
            (number, text)
            for number, text in enumerate(self.lines, start=1)
            if number not in self._in_block
        ]

    # -- what it names --

    def code_spans(self) -> list[Located]:
        return [
            Located(number, match.group(1), text)
            for number, text in self.prose()
            for match in _CODE_SPAN.finditer(text)
        ]

    def camel_case_words(self) -> list[Located]:
        """CamelCase words in the prose (outside code spans): class and model names."""
        found = []
        for number, text in self.prose():
            plain = _CODE_SPAN.sub(" ", text)
            found += [Located(number, m.group(0), text) for m in _CAMEL.finditer(plain)]
        return found

    def dotted_names(self) -> list[Located]:
        """`Class.attribute` written in prose (e.g. a method to review)."""
        pattern = re.compile(r"\b([A-Z][A-Za-z]+)\.([a-z_][a-z0-9_]*)\b")
        return [
            Located(number, match.group(0), text)
            for number, text in self.prose()
            for match in pattern.finditer(_CODE_SPAN.sub(" ", text))
        ]

    def urls(self) -> list[Located]:
        """Absolute URLs anywhere (prose and blocks), and site paths written as code spans."""
        found = [
            Located(number, match.group(0).rstrip(".,:;"), text)
            for number, text in enumerate(self.lines, start=1)
            for match in _URL.finditer(text)
        ]
        found += [span for span in self.code_spans() if span.text.startswith("/")]
        return sorted(found, key=lambda located: located.line)

    def admin_paths(self) -> list[AdminPath]:
        paths = []
        for number, text in self.prose():
            match = _ADMIN_PATH.search(text)
            if not match:
                continue
            fields = []
            # The bullets of the numbered step that follows ("Create ... with:").
            for later in range(number + 1, len(self.lines) + 1):
                line = self.lines[later - 1]
                if bullet := _FIELD_BULLET.match(line):
                    fields.append(Located(later, bullet["label"].strip(), bullet["value"].strip()))
                elif fields and not line.strip().startswith("-"):
                    break
                elif later in self._in_block or _HEADING.match(line):
                    break
            paths.append(
                AdminPath(number, match["app"].strip(), match["model"].strip(), tuple(fields))
            )
        return paths

    def log_lines(self) -> list[Located]:
        """The quoted bullets after "Look for:"."""
        found = []
        for number, text in self.prose():
            if text.strip().lower().startswith("look for"):
                for later in range(number + 1, len(self.lines) + 1):
                    bullet = _QUOTED_BULLET.match(self.lines[later - 1])
                    if not bullet:
                        break
                    found.append(Located(later, bullet["text"], self.lines[later - 1]))
        return found

    def quoted(self, section: str) -> list[Located]:
        """Every "double-quoted" phrase in the prose of `section`."""
        inside = self.section_lines(section)
        return [
            Located(number, match.group(1), text)
            for number, text in self.prose()
            if number in inside
            for match in re.finditer(r'"([^"]+)"', text)
        ]

    def checklist(self) -> list[Located]:
        return [
            Located(number, match["item"], text)
            for number, text in self.prose()
            if (match := _CHECKLIST.match(text))
        ]

    def numbered_items(self, section: str) -> list[Located]:
        inside = self.section_lines(section)
        return [
            Located(number, match["text"], text)
            for number, text in self.prose()
            if number in inside and (match := _NUMBERED.match(text))
        ]

    def bullets(self, section: str) -> list[Located]:
        """The `- ...` items in the prose of `section` (at any depth)."""
        inside = self.section_lines(section)
        return [
            Located(number, match.group(1), text)
            for number, text in self.prose()
            if number in inside and (match := re.match(r"^\s*-\s+(.+?)\s*$", text))
        ]

    def blocks_in(self, section: str) -> list[Block]:
        inside = self.section_lines(section)
        return [block for block in self.blocks if block.line in inside]


def guide_path() -> Path:
    """The shared guide when it is next to the repository, else the committed copy."""
    return SHARED_GUIDE if SHARED_GUIDE.exists() else COMMITTED_GUIDE
