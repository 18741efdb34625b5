"""Read an issue's text as a careful teammate would: sentences, sections, requirements, keywords.

Rule-based and deterministic. Sentences come from simplemma's splitter, words from its English
lemma dictionary (shipped inside the package; loaded once per process, on first use). What a
sentence does decides where it goes: a question, something ruled out, a problem, a stated
requirement (a "must", a limit, an imperative), a goal. Headings the text already has count
for more than cues; code and stack traces are kept verbatim and never split into sentences.
Cues are English: in another language the reader places only what it can tell (questions by
their "?", sections by their headings) and says that it understood less.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

import simplemma

# The sections of a refined description, in the order it shows them, with their headings.
HEADINGS = {
    "problem": "Problem",
    "goal": "Goal",
    "scope": "Scope",
    "out_of_scope": "Out of scope",
    "questions": "Open questions",
    "steps": "Steps to reproduce",
    "actual": "Actual result",
    "notes": "Notes",
    "criteria": "Acceptance criteria",
}
LISTED = frozenset({"scope", "out_of_scope", "questions", "steps", "criteria"})  # always lists

# Headings and labels a text may already use, by the section they name. A strong one decides
# where its sentences go; a weak one only where those that say nothing clearer go.
_NAMED = {
    "problem": (True, "problem|problem statement|bug|issue|symptoms?|current behaviou?r"),
    "goal": (True, "goals?|objectives?|user story|story|why|motivation|purpose"),
    "scope": (True, "scope|in scope|includes?|what is included"),
    "out_of_scope": (
        True,
        "out of scope|not in scope|non[- ]goals?|not included|excluded|exclusions|later",
    ),
    "questions": (True, "open questions|questions|unknowns|to clarify|to be decided|tbd"),
    "steps": (True, "steps to reproduce|steps|reproduction|repro|how to reproduce"),
    "actual": (True, "actual|actual result|actual behaviou?r|observed|what happens"),
    "criteria": (
        True,
        "acceptance criteria|ac|definition of done|dod|requirements?|must haves?|expected"
        "|expected result|expected behaviou?r|criteria",
    ),
    "notes": (False, "notes?|details|additional (?:info|information|context)|environment|misc"),
}
_WEAK = {"background": "problem", "context": "problem", "summary": "goal", "description": "goal"}
_HEADING_NAMES = {
    name: section
    for section, (_, names) in _NAMED.items()
    for name in names.split("|")
    if "(" not in name and "[" not in name and "?" not in name
}
_HEADING_PATTERNS = [
    (re.compile(rf"(?:{names})", re.IGNORECASE), section, strong)
    for section, (strong, names) in _NAMED.items()
]

# What a sentence says, read from its words (English).
_QUESTION_START = re.compile(
    r"^(?:should|shall|do|does|did|can|could|would|will|is|are|was|were|what|which|who|whom"
    r"|whose|when|where|why|how|may|might|must|has|have)\b",
    re.IGNORECASE,
)
_RULED_OUT = re.compile(
    r"\b(?:out of scope|not in scope|non-goals?|not part of (?:this|the)|no need (?:to|for)"
    r"|(?:is|are) not (?:needed|required|included|planned)|not (?:needed|required) (?:for|in)"
    r"|we (?:do not|don't|will not|won't) (?:need to |have to )?(?:support|include|cover|build"
    r"|handle|add|do|change)|(?:in|for) a (?:later|future|separate|follow-up) (?:issue|ticket"
    r"|story|epic|phase|release|step)|(?:comes?|come|will come) later|excluded)\b",
    re.IGNORECASE,
)
_PROBLEM = re.compile(
    r"\b(?:currently|today|at the moment|right now|at present|so far|nowadays|cannot|can't"
    r"|can not|unable|impossible|no way to|manually|by hand|complain\w*|ask(?:s|ed)? (?:support"
    r"|us|for)|waste\w*|costs?|costing|takes? (?:hours|days|ages|too long)|annoy\w*|frustrat\w*"
    r"|there (?:is|are) no|(?:is|are) missing|lacks?|keeps? (?:failing|crashing))\b",
    re.IGNORECASE,
)
_TROUBLE = re.compile(
    r"\b(?:error|errors|crash\w*|fails?|failing|failure|broken|wrong|bug|slow|leaks?|lost"
    r"|loses|instead of|happens|occurs?|since (?:release|version|v?\d))\b",
    re.IGNORECASE,
)
_MODAL = re.compile(
    r"\b(?:must|shall|should|needs? to|has to|have to|(?:is|are) required to|(?:is|are) able to"
    r"|can|may|will|(?:is|are) (?:expected|supposed) to)\b(?! not be able)",
    re.IGNORECASE,
)
_LIMIT = re.compile(
    r"\b(?:at (?:most|least)|no (?:more|fewer|less|later|earlier) than|up to|within|maximum"
    r"|minimum|limit(?:ed)? to|exactly|never|always|only)\b"
    r"|\d[\d.,]*\s*(?:%|ms|s|sec|seconds?|minutes?|mins?|hours?|h|days?|weeks?|months?|rows?"
    r"|items?|records?|attempts?|tries|times|characters?|chars|[kmg]b|users?|requests?|px"
    r"|lines?|files?|pages?|results?|per)\b",
    re.IGNORECASE,
)
_GOAL = re.compile(
    r"\b(?:so that|in order to|wants? to|would like|we want|the goal|the aim|aims? to|as an? \w+"
    r"(?: \w+)?, I want|to let|to allow|to enable|to make it possible)\b",
    re.IGNORECASE,
)
_SCOPE = re.compile(
    r"\b(?:in scope|(?:this|the) (?:epic|story|issue|task|change|work|ticket) (?:covers|includes"
    r"|is about|touches|spans)|covers both|applies to (?:all|every|both))\b",
    re.IGNORECASE,
)

# Lines that are code or a stack trace, not prose.
_CODE_LINE = re.compile(
    r"^\s*(?:Traceback \(most recent call last\)|File \".*\", line \d+|at [\w$.<>]+\(.*\)"
    r"|Caused by: |\.\.\. \d+ more|Exception in thread |[\w.$]*(?:Error|Exception)\b(?::.*)?$"
    r"|\$ |>>> |[{}\[\]();]+$|(?:def|class|import|from|return|const|let|var|function|public"
    r"|private|SELECT|INSERT|UPDATE|DELETE)\b.*[:;({=]\s*$)"
    r"|.*(?:[;{]|=>|\)\s*\{|\);)\s*$"
)
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*([\w+.-]*)")
_HEADING = re.compile(r"^\s{0,3}(?:#{1,6}\s+(.+?)\s*#*\s*|\*\*([^*]+?)\*\*\s*:?\s*)$")
_LABEL = re.compile(
    r"^\s*(?:\*\*|__)?([A-Za-z][A-Za-z /-]{0,30}?)\s*(?::\s*(?:\*\*|__)|(?:\*\*|__)\s*:|:)\s*"
    r"(.*)$"
)
_ITEM = re.compile(r"^(\s*)([-*+]|\d{1,3}[.)])\s+(?:\[([ xX])\]\s+)?(.*)$")
_TABLE = re.compile(r"^\s*\|.*\|\s*$")
_QUOTE = re.compile(r"^\s*>\s?")

# The engine's own lines in a description it refined: read back as what they are.
PLACEHOLDERS = {
    "criteria": "_No testable requirement is stated yet: add what must be true when it is done._",
    "steps": "_No steps are given yet: add how to make it happen, one step at a time._",
}
_EPIC_LINE = re.compile(r"^Part of the epic [A-Z][A-Z0-9_]*-\d+\b")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Function words: never keywords, never the verb of an imperative.
FUNCTION_WORDS = _words(
    """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each
    either else etc every few for from further had has have having he her here hers him his
    how i if in into is it its itself just let may me might more most must my no nor not now
    of off on once only or other our ours out over own per same shall she should so some
    such than that the their them then there these they this those through to too under
    until up upon us very via was we were what when where which while who whom whose why
    will with within without would yet you your"""
)
_SUBJECT_SYSTEM = re.compile(
    r"^(?:we|it|the (?:system|app|application|service|server|backend|back end|frontend|front end"
    r"|site|website|tool|platform|product|code|implementation))$",
    re.IGNORECASE,
)
_WORDS = re.compile(r"[^\W_][\w'\u2019-]*")


@lru_cache(maxsize=8192)
def lemma(word: str) -> str:
    """Return an English word's dictionary form ("locked" -> "lock"), lower-cased."""
    # simplemma's default dictionary: loaded on first use (0.4 s, ~25 MB, once per process),
    # then ~1 us a word. Its low-memory one costs ~3 MB but ~50 us a word: 0.1 s an answer.
    return simplemma.lemmatize(word.lower(), lang="en").lower()


@lru_cache(maxsize=8192)
def is_english_word(word: str) -> bool:
    return simplemma.is_known(word.lower(), lang="en")


def english_share(text: str) -> float:
    """Return the share of a text's words (its first 300) that English knows, 0 to 1."""
    words = [w for w in _WORDS.findall(text)[:300] if not w[0].isdigit()]
    if not words:
        return 0.0
    return sum(is_english_word(w) for w in words) / len(words)


def keywords(text: str) -> list[str]:
    """Return the words that carry a text's meaning: lemmas, less function words, in order."""
    found = []
    for word in _WORDS.findall(text):
        low = word.lower().strip("'\u2019-")
        if len(low) < 2 or low in FUNCTION_WORDS:
            continue
        key = low if low[0].isdigit() else lemma(low)
        if key not in found:
            found.append(key)
    return found


@dataclass
class Part:
    """One sentence, list item or verbatim block of a description, and where it belongs."""

    text: str
    section: str  # a key of HEADINGS, or "custom:<heading>" for a heading the reader kept
    sure: bool = True  # placed by what it says or by a known heading, not by default
    code: bool = False  # verbatim: a code block, stack trace or table, kept as written
    listed: bool = False  # was a list item (kept as one in sections shown as paragraphs)
    checked: bool = False  # a ticked task-list item stays ticked


@dataclass
class Reading:
    """What the reader made of a text: its parts in order, and how much it understood."""

    parts: list[Part] = field(default_factory=list)
    english: float = 1.0
    fenced: int = 0  # code or traces that had no fence and now have one
    marked: int = 0  # questions that lacked their question mark

    def section(self, name: str) -> list[Part]:
        return [part for part in self.parts if part.section == name]

    def sentences(self) -> list[Part]:
        return [part for part in self.parts if not part.code]

    @property
    def understood(self) -> float:
        """The share of sentences placed by what they say or by a known heading, 0 to 1."""
        sentences = self.sentences()
        if not sentences:
            return 0.0
        return sum(part.sure for part in sentences) / len(sentences)

    def changes(self, *, bug: bool = False) -> list[str]:
        """Say what writing the text out by sections did, in the terms a reviewer checks."""
        names = [HEADINGS.get(p.section) or p.section.removeprefix("custom:") for p in self.parts]
        done = [f"Sorted the text into sections: {', '.join(dict.fromkeys(names))}"]
        if criteria := self.section("criteria"):
            done.append(f"Listed the {len(criteria)} stated requirements as acceptance criteria")
        else:
            done.append("Asked for testable acceptance criteria: the text states none")
        if bug and not self.section("steps"):
            done.append("Asked for the steps to reproduce it: the text gives none")
        if questions := self.section("questions"):
            marked = f" (added {self.marked} missing question marks)" if self.marked else ""
            done.append(f"Kept the {len(questions)} open questions as questions{marked}")
        if ruled_out := self.section("out_of_scope"):
            done.append(f"Kept what is out of scope apart ({len(ruled_out)})")
        if self.fenced:
            done.append("Kept the code and stack traces verbatim in fenced blocks")
        if any(_EPIC_LINE.match(p.text) for p in self.parts):
            done.append("Named the parent epic")
        return done

    def markdown(self, *, bug: bool = False) -> str:
        """Write the parts as a markdown description, one section after another."""
        order = list(HEADINGS)
        customs = [p.section for p in self.parts if p.section.startswith("custom:")]
        order[order.index("criteria") : order.index("criteria")] = list(dict.fromkeys(customs))
        blocks = []
        for name in order:
            parts = self.section(name)
            if not parts and (name == "criteria" or (name == "steps" and bug)):
                parts = [Part(PLACEHOLDERS[name], name)]
            if not parts:
                continue
            title = name.removeprefix("custom:") if name.startswith("custom:") else HEADINGS[name]
            blocks.append(f"## {title}")
            blocks.extend(_render(name, parts))
        return "\n\n".join(blocks) + "\n"


def _render(section: str, parts: list[Part]) -> Iterator[str]:
    """Yield a section's blocks: lists as lists, prose as paragraphs, code verbatim."""
    lines: list[str] = []
    paragraph: list[str] = []
    for part in parts:
        if part.code or (not part.listed and section not in LISTED):
            if lines:
                yield "\n".join(lines)
                lines = []
            if part.code:
                if paragraph:
                    yield " ".join(paragraph)
                    paragraph = []
                yield part.text
            else:
                paragraph.append(part.text)
            continue
        if paragraph:
            yield " ".join(paragraph)
            paragraph = []
        if section == "criteria":
            lines.append(f"- [{'x' if part.checked else ' '}] {part.text}")
        elif section == "steps":
            lines.append(f"{len(lines) + 1}. {part.text}")
        else:
            lines.append(f"- {part.text}")
    if paragraph:
        yield " ".join(paragraph)
    if lines:
        yield "\n".join(lines)


@dataclass
class _Block:
    kind: str  # "heading", "label" (a line ending in a colon), "code", "item", "text"
    text: str
    ordered: bool = False
    checked: bool = False
    fenced: bool = True


def _blocks(text: str) -> Iterator[_Block]:
    """Cut a description into headings, code, list items and paragraphs, in order."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    i = 0
    paragraph: list[str] = []

    def flush() -> Iterator[_Block]:
        if paragraph:
            yield _Block("text", " ".join(line.strip() for line in paragraph))
            paragraph.clear()

    while i < len(lines):
        line = lines[i]
        if fence := _FENCE.match(line):
            yield from flush()
            marker, info = fence.group(1), fence.group(2)
            end = next(
                (j for j in range(i + 1, len(lines)) if lines[j].strip().startswith(marker)),
                len(lines),
            )
            yield _Block("code", _fenced(lines[i + 1 : end], info))
            i = end + 1
            continue
        if _TABLE.match(line):
            yield from flush()
            end = next((j for j in range(i, len(lines)) if not _TABLE.match(lines[j])), len(lines))
            yield _Block("code", "\n".join(lines[i:end]))
            i = end
            continue
        if _is_code(line, paragraph):
            yield from flush()
            end = i + 1
            while end < len(lines) and (
                _is_code(lines[end], [])
                or lines[end].startswith(("    ", "\t"))
                or (not lines[end].strip() and _is_code(lines[min(end + 1, len(lines) - 1)], []))
            ):
                end += 1
            yield _Block("code", _fenced(lines[i:end], "text"), fenced=False)
            i = end
            continue
        stripped = _QUOTE.sub("", line).strip()
        if not stripped:
            yield from flush()
        elif heading := _HEADING.match(line):
            yield from flush()
            yield _Block("heading", (heading.group(1) or heading.group(2)).strip().rstrip(":"))
        elif item := _ITEM.match(line):
            yield from flush()
            body = [item.group(4).strip()]
            while i + 1 < len(lines) and lines[i + 1].startswith((" ", "\t")):
                nxt = lines[i + 1]
                if not nxt.strip() or _ITEM.match(nxt) or _FENCE.match(nxt) or _is_code(nxt, []):
                    break
                body.append(nxt.strip())
                i += 1
            checked = (item.group(3) or " ").lower() == "x"
            ordered = item.group(2)[0].isdigit()
            yield _Block("item", " ".join(body), ordered=ordered, checked=checked)
        elif _is_label_line(stripped):
            yield from flush()
            yield _Block("label", stripped.rstrip(":").strip("*_ "))
        else:
            if (label := _LABEL.match(stripped)) and _known(label.group(1)):
                yield from flush()  # "Expected: ..." and "Actual: ..." are parts of their own
            paragraph.append(stripped)
        i += 1
    yield from flush()


def _is_label_line(line: str) -> bool:
    """Tell a line that heads what follows ("Steps to reproduce:") from a sentence that ends
    in a colon ("The nightly import job crashed:").
    """
    if not line.endswith(":") or not line[0].isalpha():
        return False
    name = line.rstrip(":").strip("*_ ")
    words = name.split()
    return _known(name) or (len(words) <= 5 and words[0].lower() not in FUNCTION_WORDS)


def _known(name: str) -> bool:
    return not _heading_section(name)[0].startswith("custom:")


def _is_code(line: str, paragraph: list[str]) -> bool:
    # An indented line is code only where it cannot continue a paragraph or a list item.
    if line.startswith(("    ", "\t")) and line.strip() and not paragraph:
        return not _ITEM.match(line)
    return bool(line.strip()) and bool(_CODE_LINE.match(line))


def _fenced(lines: list[str], info: str) -> str:
    # A bare fence or a "json" one would read as the answer's own JSON block: name the language.
    info = {"": "text", "json": "jsonc"}.get(info.lower(), info)
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return "\n".join([f"```{info}", *lines, "```"])


def _heading_section(name: str) -> tuple[str, bool]:
    """Return the section a heading names and whether it decides; unknown ones are kept."""
    key = re.sub(r"[^a-z ]", "", name.lower()).strip()
    if key in _HEADING_NAMES:
        section = _HEADING_NAMES[key]
        return section, _NAMED[section][0]
    if key in _WEAK:
        return _WEAK[key], False
    for pattern, section, strong in _HEADING_PATTERNS:
        if pattern.fullmatch(key):
            return section, strong
    return f"custom:{name.strip()}", False


def read(text: str, *, bug: bool = False) -> Reading:
    """Read a description: every sentence kept, each in the section it belongs to."""
    blocks = list(_blocks(text))
    prose = " ".join(block.text for block in blocks if block.kind != "code")
    reading = Reading(english=english_share(prose))
    english = reading.english >= 0.6
    heading: tuple[str, bool] | None = None  # a markdown heading: until the next one
    label: tuple[str, bool] | None = None  # "Steps to reproduce:": the list or paragraph after it
    label_kind = ""
    for block in blocks:
        if block.kind in ("heading", "label"):
            named = _heading_section(block.text)
            if named[0].startswith("custom:") and block.text.lower() in ("code", "logs", "log"):
                named = ("notes", False)
            if block.kind == "heading":
                heading, label = named, None
            else:
                label, label_kind = named, ""
            continue
        kind = f"{block.kind}{block.ordered}"
        if label and label_kind not in ("", kind):
            label = None  # what follows the list or paragraph it headed is on its own again
        label_kind = kind
        current = label or heading
        if block.kind == "code":
            section = current[0] if current else _last_section(reading)
            reading.parts.append(Part(block.text, section, code=True))
            reading.fenced += not block.fenced
            continue
        text_, where = block.text, current
        if (named := _LABEL.match(text_)) and _known(named.group(1)) and named.group(2):
            text_, where = named.group(2).strip(), _heading_section(named.group(1))
            text_ = text_[:1].upper() + text_[1:]
        for sentence in _split(text_):
            if sentence in PLACEHOLDERS.values():
                continue
            part = _place(sentence, where, block, bug=bug, english=english)
            if part.section == "questions" and not part.text.endswith("?"):
                part.text = part.text.rstrip(".!:; ") + "?"
                reading.marked += 1
            reading.parts.append(part)
    _place_the_rest(reading, bug=bug)
    _drop_repeats(reading)
    return reading


def _split(text: str) -> list[str]:
    return [s.strip() for s in simplemma.split_sentences(text, lang="en") if s.strip()]


def _place(
    sentence: str, heading: tuple[str, bool] | None, block: _Block, *, bug: bool, english: bool
) -> Part:
    """Decide a sentence's section by what it says; its heading when it says nothing clearer."""
    part = Part(sentence, "", listed=block.kind == "item", checked=block.checked)
    section, strong = heading or ("", False)
    if sentence.endswith("?") or (
        section == "questions" and (not english or _QUESTION_START.match(sentence))
    ):
        part.section = "questions"
    elif english and _RULED_OUT.search(sentence):
        part.section = "out_of_scope"
    elif _EPIC_LINE.match(sentence):
        part.section = "goal"
    elif strong:
        part.section = section
    elif bug and block.ordered:
        part.section = "steps"
    elif english and (found := _meaning(sentence, bug=bug)):
        part.section = found
    elif section:
        part.section, part.sure = section, not section.startswith("custom:")
    else:
        part.section, part.sure = "", False  # placed with the others that say nothing clear
    return part


def _meaning(sentence: str, *, bug: bool) -> str:
    """Return the section an English sentence's words put it in, or "" if they do not."""
    if _PROBLEM.search(sentence):
        return "problem"
    if _MODAL.search(sentence) or _LIMIT.search(sentence) or is_imperative(sentence):
        return "criteria"
    if _GOAL.search(sentence):
        return "goal"
    if _TROUBLE.search(sentence):
        return "problem"
    if _SCOPE.search(sentence):
        return "scope"
    return ""


def _place_the_rest(reading: Reading, *, bug: bool) -> None:
    """Place the sentences that said nothing clear: the first states what the issue is about;
    later ones that state a behaviour are requirements, the others notes.
    """
    summary_taken = any(p.section in ("problem", "goal") for p in reading.parts if p.sure)
    for part in reading.parts:
        if part.section:
            continue
        if not summary_taken:
            part.section, summary_taken = ("problem" if bug else "goal"), True
        elif not bug and reading.english >= 0.6 and _states_behaviour(part.text):
            part.section = "criteria"
        else:
            part.section = "notes"


def _drop_repeats(reading: Reading) -> None:
    seen = set()
    kept = []
    for part in reading.parts:
        key = " ".join(part.text.lower().split())
        if key not in seen:
            seen.add(key)
            kept.append(part)
    reading.parts = kept


def _last_section(reading: Reading) -> str:
    return reading.parts[-1].section or "notes" if reading.parts else "notes"


def is_imperative(sentence: str) -> bool:
    """Tell whether an English sentence opens with a verb in its base form ("Lock the ...")."""
    words = [word.strip(",.;:!") for word in sentence.split()]
    if len(words) < 2 or not words[0][:1].isupper():
        return False
    first, second = words[0].lower(), words[1].lower()
    if first in FUNCTION_WORDS or not is_english_word(first) or lemma(first) != first:
        return False
    if _is_present_verb(second):
        return False  # "Export includes ...": a noun, then its verb
    # "Password reset emails ..." opens with a noun: what follows a verb in the imperative is
    # its object (a determiner, a number, a name), unless the verb is one that work opens with.
    return (
        first in WORK_VERBS
        or second in _OBJECT_OPENERS
        or second[:1].isdigit()
        or words[1][:1].isupper()
    )


# Verbs that a piece of work opens with, whatever follows ("Fix typo in footer").
WORK_VERBS = _words(
    """add allow build cache change check clean create delete deprecate disable display
    document enable export fix handle hide implement import improve limit lock log migrate
    move notify prevent refactor release remove rename replace require reset restore retry
    return save send set show sort speed store support test track translate update upgrade
    use validate write"""
)
_OBJECT_OPENERS = _words(
    """a an the all any each every this that these those its their our my your no some both up
    out in off on down away back new old it them us"""
)


def _is_present_verb(word: str) -> bool:
    """Tell whether a word reads as a verb in the third person present ("includes")."""
    word = word.lower()
    base = lemma(word)
    return word.endswith("s") and base != word and word in (base + "s", base + "es")


def _behaviour(words: list[str]) -> tuple[int, bool] | None:
    """Find the verb of a sentence that states what something does.

    Return its index, and whether it follows a plural subject in its base form ("Users sign
    in"), or None: "The export uses the filters" -> (2, False).
    """
    if not words or words[0].lower() in ("it", "this", "that", "there", "he", "she", "i"):
        return None
    for i in range(1, min(len(words) - 1, 5)):
        word, after = words[i].lower(), words[i + 1].lower()
        if word in FUNCTION_WORDS or not word.isalpha():
            return None
        # What follows a verb: its object or a preposition, not more of the subject's noun.
        follows = after in FUNCTION_WORDS or after[:1].isdigit() or words[i + 1][:1].isupper()
        if _is_present_verb(word) and follows:
            return i, False
        subject = words[i - 1].lower()
        if lemma(word) == word and lemma(subject) != subject and follows and i == 1:
            return i, True
    return None


def _states_behaviour(sentence: str) -> bool:
    """Tell whether a sentence states what something does: "The export uses the filters"."""
    return _behaviour([w.strip(",;:.") for w in sentence.split()]) is not None


def title_of(sentence: str) -> tuple[str, bool]:
    """Name the work a requirement asks for, as a subtask title in the imperative.

    Return the title and whether it was rephrased ("The account is locked after 5 failed
    attempts" -> "Lock the account after 5 failed attempts"); a sentence the rules cannot turn
    round is kept as written, which still names the thing.
    """
    text = re.split(r"\s*(?:;|, so that | so that | in order to | because |: )", sentence)[0]
    text = text.strip().rstrip(".!")
    rephrased = _rephrase(text)
    title = rephrased or text
    title = title[:1].upper() + title[1:]
    return shorten(title, 100), rephrased is not None


def _rephrase(text: str) -> str | None:
    words = text.split()
    if is_imperative(text):
        return text
    modal = re.match(
        r"^(?P<subj>(?:\S+\s+){0,5}?\S+)\s+(?P<modal>must|shall|should|will|can|may|needs? to"
        r"|has to|have to|(?:is|are) (?:required|able|expected) to)\s+(?P<neg>not\s+)?"
        r"(?P<rest>.+)$",
        text,
        re.IGNORECASE,
    )
    if modal:
        subj, verb, rest = modal["subj"], modal["modal"].lower(), modal["rest"]
        negative = "Do not " if modal["neg"] else ""
        if passive := _passive(rest):
            done, obj, agent = passive
            if agent and verb in ("can", "may"):
                return f"Let {agent} {done} {_lower(subj)}{obj}"
            return f"{negative}{done.capitalize()} {_lower(subj)}{obj}"
        if rest.lower().startswith("be "):
            return f"{negative}Make {_lower(subj)} {rest[3:]}"
        if _SUBJECT_SYSTEM.match(subj):
            return f"{negative}{rest[:1].upper()}{rest[1:]}"
        if verb in ("can", "may") or "able" in verb:
            return f"Let {_lower(subj)} {'not ' if negative else ''}{rest}"
        return f"{negative}Make {_lower(subj)} {rest}"
    plain = re.match(r"^(?P<subj>(?:\S+\s+){0,5}?\S+)\s+(?:is|are|gets|get)\s+(?P<rest>.+)$", text)
    if plain and (passive := _passive(f"be {plain['rest']}")):
        done, obj, agent = passive
        return f"{done.capitalize()} {_lower(plain['subj'])}{obj}"
    if found := _behaviour(words):
        i, plural = found
        subj, rest = " ".join(words[:i]), " ".join(words[i + 1 :])
        if plural:
            return f"Let {_lower(subj)} {words[i]} {rest}".strip()
        return f"Make {_lower(subj)} {lemma(words[i])} {rest}".strip()
    return None


def _passive(rest: str) -> tuple[str, str, str] | None:
    """Read "be locked after 5 attempts [by an admin]" as ("lock", " after 5 attempts", agent)."""
    match = re.match(r"^be\s+(?P<done>[a-z]+)(?P<obj>.*)$", rest, re.IGNORECASE)
    if not match:
        return None
    done = match["done"].lower()
    base = lemma(done)
    if base == done or not done.endswith(("ed", "en", "wn", "t", "ne")) or base in _NOT_ACTIONS:
        return None
    obj, agent = match["obj"], ""
    if by := re.match(r"^(?P<before>.*?)\s+by\s+(?P<agent>(?:an?|the|any|each)\s+\w+)$", obj):
        obj, agent = by["before"], by["agent"]
    return base, obj, agent


_NOT_ACTIONS = _words("""break crash fail lose go do be""")


def _lower(subject: str) -> str:
    """Lower-case a subject's first letter for the middle of a title; acronyms and names keep
    theirs ("The account" -> "the account"; "CSV files" and "Alice" stay).
    """
    first = subject.split()[0]
    if (len(first) > 1 and first.isupper()) or not is_english_word(first):
        return subject
    return subject[:1].lower() + subject[1:]


def shorten(text: str, most: int = 100) -> str:
    """Cut a text to at most `most` characters at a word, marking the cut with an ellipsis."""
    if len(text) <= most:
        return text
    cut = text[: most - 1]
    cut = cut[: cut.rfind(" ")] if " " in cut else cut
    return cut.rstrip(",;: ") + "…"
