"""Rule-based parts of the model: the `minor` lexicon and the `real_person` gazetteer and name patterns.

Why rules here: there is no labelled set for either label that could be trained on honestly, and both
are questions of vocabulary (is a child or teen referred to; is a real person named) that a word list
answers transparently and that a reviewer can audit. The learned `minor` head (weights.npz) adds
robustness to spelling; the final `minor` score is the larger of the two.

`minor` (tiers and coverage in docs/classify.md): child, teen and developmental words, ages under 18
stated in prose or prompts, school stages and relatives, each told from its senses that are not a
child (a minor bug, a 10-year-old laptop, a child process, grade A beef); `minor_evidence` shows
which rule fired.

`real_person` (see docs/classify.md for coverage): a gazetteer of public figures (US politicians,
journalists and commentators, from the CC0 list shipped in the PyPI package py-misinfo-exposure) plus
name patterns over the US Census first- and last-name lists (shipped in the MIT PyPI package
`names`): a known first name followed by a known surname, or a capitalised first name followed by a
capitalised word that is not a common word, or an honorific and a capitalised name. Names in a style
credit ("art by X and Y", "in the style of X") are not counted: an image in the manner of an artist
does not depict that artist.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

# Scores the rules assign (calibrated by construction: they are the rule's stated confidence).
GAZETTEER_SCORE = 0.95
FULL_NAME_SCORE = 0.85
PATTERN_SCORE = 0.7
_STYLE = frozenset({"by", "style", "artist", "artists", "artstation", "painter", "photographer", "inspired"})
_CHAIN = frozenset({"and", "&", "with", "x"})
_STYLE_GLUE = frozenset({",", "of", "the", "in", "art", "a", "an"})
_HONORIFIC = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "miss",
        "dr",
        "sir",
        "dame",
        "lady",
        "lord",
        "president",
        "senator",
        "governor",
        "congressman",
        "congresswoman",
        "representative",
        "mayor",
        "prime",
        "minister",
        "chancellor",
        "king",
        "queen",
        "prince",
        "princess",
        "pope",
        "judge",
        "justice",
        "general",
        "colonel",
        "captain",
        "professor",
        "prof",
        "rev",
    ]
)
_TOKEN = re.compile(r"[A-Za-z][A-Za-z'\-]*|[,.;:!?()\[\]{}|]")


@dataclass(frozen=True, slots=True)
class People:
    """The shipped name lists (small: a few hundred KB)."""

    figures: frozenset[tuple[str, ...]]
    figure_first: frozenset[str]
    max_len: int
    first: frozenset[str]
    last: frozenset[str]
    common: frozenset[str]
    starts: frozenset[str] = frozenset()  # every word a name can start with (the scan's fast test)


@lru_cache(maxsize=1)
def people() -> People:
    """Load the gazetteer shipped as package data (once per process)."""
    text = resources.files("ringbreaker.classify").joinpath("data/people.json").read_text(encoding="utf-8")
    doc = json.loads(text)
    figures = frozenset(tuple(n.split()) for n in doc["figures"])
    return People(
        figures=figures,
        figure_first=frozenset(f[0] for f in figures),
        max_len=max((len(f) for f in figures), default=1),
        first=frozenset(doc["first_names"]),
        last=frozenset(doc["last_names"]),
        common=frozenset(doc["common_words"]),
        starts=frozenset(doc["first_names"]) | frozenset(f[0] for f in figures) | _HONORIFIC,
    )


def _person_spans(text: str, p: People) -> Iterator[tuple[int, int, float, bool]]:
    """Every name found: (start, end) character offsets, its rule score and whether it stands in a
    style credit ("art by X", "in the style of X")."""
    toks = _TOKEN.findall(text)
    low = [t.lower() for t in toks]
    starts = p.starts or (p.first | p.figure_first | _HONORIFIC)
    if starts.isdisjoint(low):  # most prompts: no word can start a name
        return
    found: list[re.Match[str]] = []  # match offsets, only needed once a name is found
    style = False
    i = 0
    n = len(toks)
    while i < n:
        w = low[i]
        if w in _STYLE:
            style = True
            i += 1
            continue
        matched = 0
        score = 0.0
        if w not in starts:
            if style and w not in _CHAIN and w not in _STYLE_GLUE:
                style = False
            i += 1
            continue
        if w in p.figure_first:
            for k in range(min(p.max_len, n - i), 1, -1):
                if tuple(low[i : i + k]) in p.figures:
                    matched, score = k, GAZETTEER_SCORE
                    break
        if not matched and i + 1 < n and toks[i + 1][0].isalpha():
            nxt = low[i + 1]
            if w in p.first and nxt in p.last and w not in p.common and nxt not in p.common:
                matched, score = 2, FULL_NAME_SCORE
            elif (
                w in p.first
                and toks[i][0].isupper()
                and toks[i + 1][0].isupper()
                and nxt not in p.common
                and not toks[i + 1].isupper()
                and (w not in p.common or nxt in p.last)
            ) or (
                w in _HONORIFIC
                and toks[i + 1][0].isupper()
                and nxt not in p.common
                and (nxt in p.last or nxt in p.first)
            ):
                matched, score = 2, PATTERN_SCORE
        if matched:
            found = found or list(_TOKEN.finditer(text))
            yield found[i].start(), found[i + matched - 1].end(), score, style
            i += matched
            continue
        if style and w not in _CHAIN and w not in _STYLE_GLUE:
            style = False
        i += 1


Span = tuple[int, int, float, bool]


def person_spans(text: str, p: People | None = None) -> list[Span]:
    """Every name found in `text` (see ``_person_spans``), for ``real_person_score`` and
    ``mask_people`` to share: inference finds the names of a prompt once."""
    return list(_person_spans(text, p or people()))


def real_person_score(text: str, p: People | None = None, spans: list[Span] | None = None) -> float:
    """Rule score for `real_person` on the NFKC text with its case kept (capitals are evidence);
    names in a style credit do not count (an image in an artist's manner does not depict them).
    `spans`: ``person_spans(text)``, when the caller has them already."""
    found = spans if spans is not None else _person_spans(text, p or people())
    return max((sc for _, _, sc, style in found if not style), default=0.0)


PERSON_MASK = ""  # a name is dropped: a stand-in word would itself become a feature


def mask_people(text: str, p: People | None = None, spans: list[Span] | None = None) -> str:
    """The text with every name found (style credits too) dropped. The learned heads
    read masked text: trained on image prompts that often name celebrities, an n-gram head learns
    the names themselves as sexual, and then rates a plain portrait of the same person high (sexual
    + real person). Who is named is the real_person rule's business, not the heads'. `spans`:
    ``person_spans(text)``, when the caller has them already."""
    if spans is None:
        spans = person_spans(text, p)
    if not spans:
        return text
    out, last = [], 0
    for start, end, _, _ in spans:
        out.append(text[last:start])
        out.append(PERSON_MASK)
        last = end
    out.append(text[last:])
    return "".join(out)


# --- minor ----------------------------------------------------------------------------------------
# Tiers: strong = a child or teen by definition (an age under 18, a school stage, a developmental
# term); medium = usually a minor, but adults are meant too (a son or daughter, a niece, high school,
# an adolescent, puberty); weak (below the default threshold of 0.5) = words image prompts use for
# adults ("girl") or that have other senses ("baby"). The score is the strongest piece of evidence.
STRONG_MINOR = 0.95
MEDIUM_MINOR = 0.7
WEAK_MINOR = 0.35
ADULT_AGE = 18


def _words(text: str) -> list[str]:
    return text.split()


_MINOR_TERMS: dict[str, float] = {
    **dict.fromkeys(
        _words("""child children childs kid kids kiddo kiddie toddler toddlers infant infants newborn newborns
        preteen preteens pre-teen pre-teens tween tweens teen teens teenage teenager teenagers underage
        under-age juvenile juveniles schoolgirl schoolgirls schoolboy schoolboys kindergarten
        kindergartner kindergartners kindergartener kindergarteners pre-k preschool preschooler
        preschoolers grade-schooler grade-schoolers loli lolicon shota shotacon youngster youngsters
        prepubescent pre-pubescent pubescent prepubertal"""),
        STRONG_MINOR,
    ),
    **dict.fromkeys(
        [
            *(f"{a} {b}" for a in ("little", "young", "school") for b in ("girl", "girls", "boy", "boys")),
            *(f"{a} school" for a in ("middle", "elementary", "primary", "grade", "nursery", "pre")),
            *(f"{a} schooler{s}" for a in ("middle", "elementary", "grade") for s in ("", "s")),
            "junior high",
        ],
        STRONG_MINOR,
    ),
    **dict.fromkeys(
        _words("""adolescent adolescents puberty stepdaughter stepdaughters step-daughter step-daughters
        stepson stepsons step-son step-sons niece nieces nephew nephews grandson grandsons granddaughter
        granddaughters grandkid grandkids grandchild grandchildren"""),
        MEDIUM_MINOR,
    ),
    **dict.fromkeys(["high school", "high schooler", "high schoolers"], MEDIUM_MINOR),
    **dict.fromkeys(_words("girl girls boy boys baby babies son sons daughter daughters young"), WEAK_MINOR),
}
_MINOR_RE = re.compile(
    r"(?<![a-z0-9])("
    + "|".join(sorted((re.escape(t) for t in _MINOR_TERMS), key=len, reverse=True))
    + r")(?![a-z0-9])"
)
_RELATIVES = frozenset(
    t for t, v in _MINOR_TERMS.items() if v == MEDIUM_MINOR and t[:2] in {"st", "ni", "ne", "gr"}
)


def _alt(words: str) -> str:
    return "(?:" + "|".join(sorted(words.split(), key=len, reverse=True)) + ")"


# Senses that are not a child or teen: young animals, code (a child process, React's `children`),
# yoga, idioms, temperatures, a life stage that is over ("a high school diploma").
_ANIMALS = frozenset(
    _words("""goat goats sheep lamb lambs calf calves cow cows cattle horse horses foal foals pony ponies
    dog dogs puppy puppies cat cats kitten kittens bird birds chick chicks duck ducks duckling ducklings
    giraffe giraffes elephant elephants zebra zebras bear bears lion lions tiger tigers deer fawn fawns
    fish salmon
    trout turtle turtles tortoise seal seals whale whales dolphin dolphins monkey monkeys ape apes gorilla
    gorillas penguin penguins owl owls eagle eagles hawk hawks animal animals rabbit rabbits bunny bunnies
    pig pigs piglet piglets goose geese swan swans fox foxes wolf wolves squirrel squirrels koala koalas
    kangaroo kangaroos panda pandas otter otters""")
)
_ANIMAL_SENSE = frozenset(_words("kid kids juvenile juveniles newborn newborns infant infants baby babies"))
_TECH = _alt(
    """process processes node nodes element elements component components class classes theme themes
    table tables record records row rows window windows item items object objects entity entities
    widget widgets span spans task tasks account accounts pid pids thread threads view views route routes
    directory directories folder folders page pages issue issues ticket tickets category categories
    selector selectors combinator prop props layout layouts key keys module modules resource resources
    workflow workflows job jobs tag tags field fields branch branches token tokens tab tabs frame frames"""
)
_NOT_AFTER = {
    "child": re.compile(rf"(?:'s|\u2019s|s)?\s+pose|-like|\s+{_TECH}(?![a-z])"),
    "children": re.compile(rf"[\"']\s*:|\s*:\s*[\[{{]|\s+{_TECH}(?![a-z])"),
    "kid": re.compile(r"[\s-]+(?:gloves?|leather|mohair)"),
    "son": re.compile(r"\s+of\s+a\s+(?:gun|bitch|beach|biscuit)|[\s-]+in[\s-]+law"),
    "daughter": re.compile(r"[\s-]+in[\s-]+law"),
    "high school": re.compile(
        r"[\s-]+(?:diplomas?|graduates?|degrees?|education|equivalency|ged|dropouts?|reunions?"
        r"|sweethearts?|musical|class\s+of\s+\d{4})(?![a-z])"
    ),
}
_NOT_BEFORE = {
    "child": re.compile(r"(?:poster|inner|brain|problem)\s+$"),
    "children": re.compile(r"[.\"'{]$"),
    "teens": re.compile(r"the\s+(?:low|mid|high|upper|lower)[\s-]*$"),
    "high school": re.compile(
        r"(?:since|after|from|back\s+in|out\s+of|finished|graduated|graduating|graduate\s+of|dropped\s+out"
        r"|graduated\s+from|graduating\s+from)\s+(?:the\s+)?$"
    ),
}
_WORD_AFTER = re.compile(r"[\s\-']*([a-z]+)")
_WORD_BEFORE = re.compile(r"([a-z]+)[\s\-']*$")


def _term_excluded(term: str, norm: str, start: int, end: int) -> bool:
    """True when a lexicon term is used in a sense that is not a child or teen."""
    after, before = _NOT_AFTER.get(term), _NOT_BEFORE.get(term)
    if after is not None and after.match(norm, end):
        return True
    if before is not None and before.search(norm[max(0, start - 40) : start]):
        return True
    if term in _ANIMAL_SENSE:
        nxt = _WORD_AFTER.match(norm, end)
        prv = _WORD_BEFORE.search(norm[max(0, start - 30) : start])
        return bool((nxt and nxt.group(1) in _ANIMALS) or (prv and prv.group(1) in _ANIMALS))
    return False


# "minor" the noun (a person under 18), told from the adjective ("a minor bug", "minor changes"), the
# academic minor ("a minor in Chinese") and the key ("Sonata in A minor"): after a determiner and
# before a pause or a function word, or plural outside "majors and minors" and baseball's "the minors".
_MINOR_WORD = re.compile(r"(?<![a-z])minor(s?)(?![a-z-])")
_DET_BEFORE = re.compile(
    r"(?<![a-z])(?:a|the|any|every|each|no|another|unaccompanied|emancipated|underage|female|male|this|that)"
    r"\s+$"
)
_NOUN_AFTER = re.compile(
    r"\s*(?:$|[.,;:!?)\]\"']"
    r"|\s(?:who|whom|whose|that|is|was|are|were|and|or|but|under|to|from|with|for|at|on|by|without|if|when"
    r"|because|can|could|should|would|will|may|might|must|has|had|have|does|did|being|living|aged?"
    r"|child|children|girl|girls|boy|boys|female|male|son|daughter|students?|victims?|patients?|clients?"
    r"|in\s(?:the|his|her|their|my|our|your|this|that|a|an|care|custody|most|many))(?![a-z]))"
)
_MAJOR_NEAR = re.compile(r"\s*(?:and|or|to|&|/)\s*majors?(?![a-z])")
_MAJORS_BEFORE = re.compile(r"(?:majors?\s*(?:and|or|&|/)|(?:in|from|to|into|through|of)\s+the)\s+$")
_MUSIC = re.compile(
    r"(?<![a-z])(?:sonata|concerto|symphony|key|chord|chords|scale|prelude|fugue|op\.|bwv|etude|nocturne"
    r"|quartet|trio|requiem|minuet|waltz|melody|progression|major|piano|violin|guitar|tuning)(?![a-z])"
)


def _minor_noun(norm: str, start: int, end: int, plural: bool) -> bool:
    """Is this "minor" the noun for a person under 18 (see above)?"""
    before = norm[max(0, start - 40) : start]
    if _MAJOR_NEAR.match(norm, end) or _MAJORS_BEFORE.search(before):
        return False
    if plural:
        return True
    if not _DET_BEFORE.search(before) or not _NOUN_AFTER.match(norm, end):
        return False
    return not (before.endswith("in a ") and _MUSIC.search(norm, max(0, start - 80), end + 80))


# Ages: "14-year-old", "14 yo", "fourteen years old", "6-month-old", "aged 12", "age: 15", "ages 4-8",
# and statements "I am 14", "I'm 14", "she was 12", "my son, 14,". Under 18 is strong; 18 and over never
# scores. Things have ages too ("a 10-year-old laptop", "my car is 12 years old", "scotch aged 12 years").
_UNITS_W = _words(
    """zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen
    seventeen eighteen nineteen"""
)
_TENS_W = _words("twenty thirty forty fifty sixty seventy eighty ninety")
_NUM_W = {w: i for i, w in enumerate(_UNITS_W)} | {w: 20 + 10 * i for i, w in enumerate(_TENS_W)}
_TENS, _DIGITS, _TEENS = _alt(" ".join(_TENS_W)), _alt(" ".join(_UNITS_W[1:10])), _alt(" ".join(_UNITS_W))
_SPELLED = rf"(?:{_TENS}(?:[\s-]?{_DIGITS})?|{_TEENS})"
_N = rf"(?<![\w.,\u2019-])(\d{{1,3}}(?:\.\d+)?|{_SPELLED})"
_THINGS = _alt(
    """car cars truck trucks van bike bikes motorcycle vehicle vehicles laptop laptops computer computers
    pc mac macbook phone phones iphone ipad tablet tv television printer router battery batteries tire
    tires tyre tyres house houses home homes building buildings roof furnace boiler fridge mattress sofa
    couch tree trees plant plants dog dogs cat cats horse horses pony puppy puppies kitten kittens pup pups
    parrot bird birds fish tortoise turtle rabbit hamster lab labrador retriever terrier poodle beagle
    chihuahua dachshund pet pets scotch whisky whiskey bourbon rum wine wines cognac brandy port cheese
    company companies business businesses startup firm brand codebase code app apps software project
    projects repo repository account accounts server servers machine machines system systems version
    versions model models photo photos picture pictures video videos blog website site post posts thread
    threads question questions bug bugs issue issues article articles song songs album albums film films
    movie movies game games tradition traditions debate problem problems technology platform library
    framework device devices engine boat boats bread milk food leftovers pizza eggs meat data it information
    info content news report reports listing listings review reviews price prices figures statistics"""
)
_THING_BEFORE = re.compile(
    rf"(?<![a-z]){_THINGS}(?:'s|\u2019s)?\s+(?:(?:is|was|are|were|being|turned|turns|now|only|just|almost|nearly"
    r"|about|around|over|under|barely|already|no|not|more|less|than|at|least|most)\s+)*$"
)
_THING_AFTER = re.compile(rf"\s*(?:{_THINGS})(?![a-z])")
_AGED_THING = re.compile(
    r"(?<![a-z])(?:whiske?y|scotch|bourbon|rum|wines?|cheeses?|cheddar|parmesan|gouda|beef|steak|ham"
    r"|vinegar|cognac|brandy|port|tequila|barrels?|casks?|oak|dry|dry-aged)(?![a-z])"
)
_PERSON = r"(?:girls?|boys?|kids?|child|children|daughters?|sons?|students?|teens?|teenagers?|twins?)"
_AGE_OLD = re.compile(  # also "a 12 year girl", without "old"
    rf"{_N}\s*-?\s*(?:(?:years?|yrs?|yr)(?:\s*-?\s*olds?|(?=\s+{_PERSON}(?![a-z])))|(yo|y/o|y\.o\.?)"
    r"|(months?|mos?|weeks?|wks?)\s*-?\s*olds?)(?![a-z])"
)
_AGE_KEY = re.compile(
    r"(?<![a-z_])(aged|ages?)(?:[\"']?\s*[:=]\s*[\"']?\s*|\s+(?:of\s+|group\s+|range\s+)?)"
    rf"(?:(?:about|around|approximately|roughly|between|from|only|just|under|below)\s+)?{_N}(?![\d%]|\.\d|[a-z])"
)
_NOT_AGE_BEFORE = re.compile(
    r"(?:ice|stone|bronze|iron|golden|gilded|dark|middle|new|space|digital|information|jazz|atomic|machine"
    r"|silver|modern|old)\s+$"
)
_BOUND = re.compile(
    r"(?<![a-z])(?:i\s*(?:'m|\u2019m|m)|(?:i|he|she|you|son|daughter|stepson|stepdaughter|niece|nephew"
    r"|grandson|granddaughter|kid|child|girl|boy|brother|sister|cousin)(?:\s+(?:just|only|recently|finally))?"
    r"\s*(?:am|is|'s|\u2019s|was|are|'re|\u2019re|were|turned|turns|will\s+be|'ll\s+be|\u2019ll\s+be|,|\())"
    r"(?![a-z])\s*"
    rf"(?:(?:only|just|now|almost|nearly|barely|about|around|still|already|turned|turning|aged?)\s+)*{_N}"
    r"(?=\s*(?:$|[.,;:!?)\]\"]|(?:and|but|so|now|when|then|he|she|i|you|this|next|soon|already|today|yet"
    r"|too|or|who|because|though|although|years?|yrs?|yo|y/o)(?![a-z])))"
)


_DIGIT = re.compile(r"\d")
_YO = re.compile(r"yo(?![a-z])")
_BOUND_WORDS = tuple(w for w in _NUM_W if w not in {"zero", "one"})


def _number(tok: str) -> float:
    if tok[0].isdigit():
        return float(tok)
    parts = re.split(r"[\s-]+", tok)
    return float(sum(_NUM_W[p] for p in parts))


def _ages(norm: str) -> Iterator[float]:
    """Ages in years stated about people in the text (things' ages left out). Each regex runs only
    when a cheap substring test says it can match (speed: most prompts state no age)."""
    digit = _DIGIT.search(norm) is not None
    spelled = any(w in norm for w in _NUM_W)
    if not (digit or spelled):
        return
    old = any(w in norm for w in ("old", "y/o", "y.o", "year", "yr")) or _YO.search(norm) is not None
    for m in _AGE_OLD.finditer(norm) if old else ():
        before = norm[max(0, m.start() - 60) : m.start()]
        if _THING_AFTER.match(norm, m.end()) or _THING_BEFORE.search(before):
            continue
        n = _number(m.group(1))
        unit = m.group(3) or ""
        yield n / 12 if unit.startswith("mo") else n / 52 if unit.startswith("w") else n
    for m in _AGE_KEY.finditer(norm) if "age" in norm else ():
        before = norm[max(0, m.start() - 40) : m.start()]
        if _NOT_AGE_BEFORE.search(before) or (m.group(1) == "aged" and _AGED_THING.search(before)):
            continue
        yield _number(m.group(2))
    for m in _BOUND.finditer(norm) if digit or any(w in norm for w in _BOUND_WORDS) else ():
        if m.group(1) != "one":  # "you are one of", "I am one."
            yield _number(m.group(1))


# School stages: "8th grade", "seventh grader", "grade 8 students", "in grade 8", UK "year 9" with a
# school nearby, "high school freshman". Not "grade A beef", "grade 8 bolts", "an 8th-grade reading level".
_ORDW = "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth"
_GRADE_ORD = re.compile(
    rf"(?<![a-z\d])((?:1st|2nd|3rd|[4-9]th|1[0-2]th)|{_alt(_ORDW)})[\s-]*grad(e|ers?)(?![a-z])"
)
_SCHOOL_AFTER = re.compile(
    r"[\s-]+(?:students?|pupils?|class|classes|classroom|teachers?|kids|children|child|boys?|girls?|maths?"
    r"|science|english|reading|spelling|homework|curriculum|form|tutor|exams?|sats|options)(?![a-z])"
)
_GRADE_LEVEL = re.compile(r"[\s-]+(?:reading[\s-]+)?(?:level|readability)(?![a-z])")
_LEVEL_BEFORE = re.compile(r"(?:level|readability|reading\s+age)[^.;\n]{0,25}$")
_IN_BEFORE = re.compile(r"(?<![a-z])(?:in|into|entering|starting|finished|repeating)\s+(?:the\s+)?$")
_GRADE_NUM = re.compile(r"(?<![a-z])grade[\s-]*(\d{1,2})(?![\d]|\.\d|[a-z])")
_YEAR_NUM = re.compile(r"(?<![a-z])year[\s-]?(\d{1,2})(?![\d]|\.\d|[a-z])")
_SCHOOL_NEAR = re.compile(
    r"(?<![a-z])(?:school|pupils?|classmates?|gcses?|sats|primary|secondary|sixth\s+form|homework|ofsted"
    r"|form\s+tutor|headteacher)(?![a-z])"
)
_UNI_NEAR = re.compile(
    r"(?<![a-z])(?:university|uni|college|phd|degree|undergrad|undergraduate|med\s+school|medical|residency"
    r"|apprenticeship|project|contract|plan|fiscal|budget)(?![a-z])"
)
_HS_CLASS = re.compile(
    r"(?<![a-z])(?:high[\s-]school[\s-]+(?:freshm[ae]n|sophomores?|juniors?|seniors?)"
    r"|(?:freshm[ae]n|sophomores?|juniors?|seniors?)\s+(?:year\s+)?(?:in|at|of)\s+high[\s-]school)(?![a-z])"
)


def _grades(norm: str) -> Iterator[float]:
    """Scores of the school stages named in the text."""
    for _ in _HS_CLASS.finditer(norm) if "high" in norm and "school" in norm else ():
        yield STRONG_MINOR
    grade = "grade" in norm
    for m in _GRADE_ORD.finditer(norm) if grade else ():
        start, end = m.start(), m.end()
        if m.group(2) != "e":  # "a seventh grader"
            yield STRONG_MINOR
            continue
        level = _GRADE_LEVEL.match(norm, end) or _LEVEL_BEFORE.search(norm, max(0, start - 40), start)
        school = _SCHOOL_AFTER.match(norm, end) or _IN_BEFORE.search(norm, max(0, start - 20), start)
        if not level and (school or m.group(1) not in {"first", "second"}):  # "first-grade olive oil"
            yield STRONG_MINOR
    for m in _GRADE_NUM.finditer(norm) if grade else ():
        in_before = _IN_BEFORE.search(norm, max(0, m.start() - 20), m.start())
        if 1 <= int(m.group(1)) <= 12 and (in_before or _SCHOOL_AFTER.match(norm, m.end())):
            yield STRONG_MINOR
    for m in _YEAR_NUM.finditer(norm) if "year" in norm else ():
        n = int(m.group(1))
        window = norm[max(0, m.start() - 80) : m.end() + 80]
        school = _SCHOOL_AFTER.match(norm, m.end()) or _SCHOOL_NEAR.search(window)
        if 1 <= n <= 13 and school and not _UNI_NEAR.search(window):
            yield STRONG_MINOR if n <= 12 else MEDIUM_MINOR


# Relatives: "my daughter", "her son" (medium: adults have parents too), strong with a child's cue in
# the same sentence ("my little son", "my daughter's daycare"), weak with an adult's ("my married son").
_REL = re.compile(
    r"(?<![a-z])(?:my|our|your|his|her|their)\s+((?:(?:own|little|young|younger|youngest|older|oldest|eldest"
    r"|elder|baby|teenage|teen|twin|only|adopted|foster|step|first|second|third|middle|new|newborn|infant"
    r"|toddler|two|three|four|five|beautiful|sweet|precious|lovely|dear|darling|adorable|autistic|disabled)"
    r"\s+){0,2})(?:daughters?|sons?)(?![a-z])(?![\s-]+in[\s-]+law)"
)
_CHILD_MODIFIER = frozenset(_words("little young baby teenage teen newborn infant toddler"))
_KID_CUE = re.compile(
    r"(?<![a-z])(?:baby|babies|diapers?|nappy|nappies|potty|daycare|day\s+care|nursery|babysitter|babysitting"
    r"|nanny|play\s?dates?|recess|homework|bedtime|crib|stroller|pacifier|school\s+bus|car\s+seat|lunchbox"
    r"|report\s+card|pa?ediatrician|playground|toys?|cartoons?|tooth\s+fairy|little\s+league|sippy\s+cup"
    r"|nap\s?time)(?![a-z])"
)
_ADULT_CUE = re.compile(
    r"(?<![a-z])(?:adult|adults|grown|grown-up|married|college|university|retired|divorced|mortgage)(?![a-z])"
)
_SENTENCE_END = re.compile(r"[.!?;\n]")


def _sentence(norm: str, start: int, end: int) -> str:
    lo = max(0, start - 300)
    left = [m.end() for m in _SENTENCE_END.finditer(norm, lo, start)]
    right = _SENTENCE_END.search(norm, end, end + 300)
    return norm[left[-1] if left else lo : right.start() if right else end + 300]


def _relative(norm: str, start: int, end: int, modifiers: str = "") -> float:
    """Score of a relative (medium), moved by the cues of the sentence it stands in."""
    if _CHILD_MODIFIER.intersection(modifiers.split()):
        return STRONG_MINOR
    sent = _sentence(norm, start, end)
    if _KID_CUE.search(sent):
        return STRONG_MINOR
    if _ADULT_CUE.search(sent) or any(a >= ADULT_AGE for a in _ages(sent)):
        return WEAK_MINOR
    return MEDIUM_MINOR


@dataclass(frozen=True, slots=True)
class MinorHit:
    """One piece of `minor` evidence: what kind, the text matched, and the score it carries."""

    kind: str  # term, noun, age, grade, relative
    text: str
    score: float


def _minor_hits(norm: str) -> Iterator[MinorHit]:
    for m in _MINOR_RE.finditer(norm):
        term = m.group(1)
        if _term_excluded(term, norm, m.start(), m.end()):
            continue
        score = _MINOR_TERMS[term]
        if term in _RELATIVES:
            score = _relative(norm, m.start(), m.end())
        yield MinorHit("term", term, score)
    for m in _MINOR_WORD.finditer(norm) if "minor" in norm else ():
        if _minor_noun(norm, m.start(), m.end(), bool(m.group(1))):
            yield MinorHit("noun", m.group(0), STRONG_MINOR)
    for age in _ages(norm):
        if 0 <= age < ADULT_AGE:
            yield MinorHit("age", f"{age:g}", STRONG_MINOR)
    for score in _grades(norm):
        yield MinorHit("grade", "school stage", score)
    for m in _REL.finditer(norm) if "son" in norm or "daughter" in norm else ():
        yield MinorHit("relative", m.group(0), _relative(norm, m.start(), m.end(), m.group(1)))


def minor_evidence(norm: str) -> list[MinorHit]:
    """Every piece of `minor` evidence in a normalised (lower-cased) text, for audit and tests: the
    score is a rule's stated confidence, so a reviewer should be able to see which rule gave it."""
    return list(_minor_hits(norm))


def minor_score(norm: str) -> float:
    """Rule score for `minor` on a normalised (lower-cased) text: the strongest evidence found."""
    best = 0.0
    for hit in _minor_hits(norm):
        if hit.score > best:
            best = hit.score
            if best >= STRONG_MINOR:
                break
    return best
