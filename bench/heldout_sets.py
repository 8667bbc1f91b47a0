"""The held-out public prompt sets of ``bench/classify_heldout.py``: where each mirror lives and how
its rows are read and chosen.

Why a module of its own: these sets are kept for evaluation only. They are never copied into the
repository and never used for training, calibration or tuning; they are read at run time from local
mirrors of their public repositories (see docs/classify.md, "Held-out evaluation"). Each loader
names the repository, commit, licence and files it read, so a figure can be traced to its rows, and
raises `Missing` (the set is skipped, with the reason) when its mirror or file is absent. Nothing
here prints or returns prompt text except to the scorer.

A mirror is looked up under the data directory as ``owner+name/repo`` (the layout of the search
tool's ``fetch``: a bare git directory), ``owner+name``, ``owner/name`` or ``name``; it may be a bare
git directory, a clone (files are read from its commit, not its work tree) or a plain directory of
files (a download without git: the commit is then unknown).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import pickle
import subprocess
import sys
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

csv.field_size_limit(sys.maxsize)  # in-the-wild prompts exceed csv's default field size


DEFAULT_MIRRORS_ENV = "RINGBREAKER_HELDOUT"  # the data directory when --data is not given


class Missing(Exception):
    """A set's mirror or file is not here (or not what was expected): the set is skipped."""


@dataclass
class Mirror:
    """One repository on disk. ``git`` is the argv prefix that reads it, or None for plain files."""

    repo: str
    path: Path
    git: list[str] | None

    def commit(self, rev: str = "HEAD") -> str:
        """The full commit id that ``rev`` names (what the docs table records)."""
        if self.git is None:
            return "unknown (plain files, not a git checkout)"
        res = subprocess.run(
            [*self.git, "rev-parse", f"{rev}^{{commit}}"], check=False, capture_output=True, text=True
        )
        if res.returncode != 0:
            raise Missing(f"{self.repo}: commit {rev} is not in the mirror at {self.path}")
        return res.stdout.strip()

    def read(self, path: str, rev: str = "HEAD") -> bytes:
        """The bytes of ``path`` at ``rev`` (or on disk for plain files)."""
        if self.git is None:
            f = self.path / path
            if not f.is_file():
                raise Missing(f"{self.repo}: {path} not in {self.path}")
            return f.read_bytes()
        res = subprocess.run([*self.git, "show", f"{rev}:{path}"], check=False, capture_output=True)
        if res.returncode != 0:
            why = res.stderr.decode("utf-8", "replace").strip().splitlines()
            raise Missing(
                f"{self.repo}: {path} @ {rev[:12]} unreadable ({why[-1] if why else 'git show failed'})"
            )
        return res.stdout


def find_mirror(root: Path, repo: str) -> Mirror:
    """The mirror of ``repo`` ("owner/name") under ``root``, or Missing with the places looked at."""
    owner, name = repo.split("/", 1)
    cands = [root / f"{owner}+{name}" / "repo", root / f"{owner}+{name}", root / owner / name, root / name]
    for c in cands:
        if not c.is_dir():
            continue
        if (c / "HEAD").is_file() and (c / "objects").is_dir():
            return Mirror(repo, c, ["git", f"--git-dir={c}"])
        if (c / ".git").exists():
            return Mirror(repo, c, ["git", "-C", str(c)])
        if any(c.iterdir()):
            return Mirror(repo, c, None)
    looked = ", ".join(str(p.relative_to(root)) for p in cands)
    raise Missing(f"{repo}: no mirror under {root} (looked for {looked})")


@dataclass
class HeldoutSet:
    """One public set as read: its provenance and its parts (raw texts, before de-duplication)."""

    key: str
    title: str
    repo: str
    commit: str
    licence: str
    files: list[str]
    chosen: str  # how the rows were chosen, in words
    parts: dict[str, list[str]]
    notes: list[str] = field(default_factory=list)


Loader = Callable[[Path], HeldoutSet]


def _csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def _jsonl(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]


def _gather(
    m: Mirror, files: Sequence[str], rows_of: Callable[[bytes], list[dict[str, Any]]], key: str
) -> tuple[list[str], int]:
    """The non-empty ``key`` field of every row of ``files``, and the number of rows read."""
    texts: list[str] = []
    n = 0
    for f in files:
        rows = rows_of(m.read(f))
        n += len(rows)
        texts.extend(str(r[key]) for r in rows if r.get(key))
    return texts, n


JBH_JAILBREAKS = "data/prompts/jailbreak_prompts_2023_12_25.csv"
JBH_REGULAR = "data/prompts/regular_prompts_2023_12_25.csv"
# A verbatim copy of the upstream 2023-12 jailbreak file (1,405 rows, the upstream header), used when
# verazuo/jailbreak_llms itself cannot be mirrored. Later commits of that repository moved or edited it.
JBH_COPY = ("kaif0102/Sentinel-AI-Defense-System-", "3189a21bf5c5fe179046d27906e1b892e3af63c8")
JBH_HEADER = ["platform", "source", "prompt", "jailbreak", "created_at", "date", "community"]


def load_jailbreakhub(root: Path) -> HeldoutSet:
    """JailbreakHub (verazuo/jailbreak_llms, MIT) in-the-wild jailbreak prompts, 2023-12 snapshot."""
    try:
        m = find_mirror(root, "verazuo/jailbreak_llms")
        rev, path, via = "HEAD", JBH_JAILBREAKS, ""
        data = m.read(path, rev)
    except Missing as first:
        try:
            m = find_mirror(root, JBH_COPY[0])
        except Missing:
            raise first from None
        rev, path = JBH_COPY[1], JBH_JAILBREAKS.rsplit("/", 1)[1]
        data = m.read(path, rev)
        via = f"; {m.repo} holds a verbatim copy of the upstream file (verazuo/jailbreak_llms not mirrored)"
    rows = _csv_rows(data)
    if not rows or list(rows[0])[: len(JBH_HEADER)] != JBH_HEADER:
        raise Missing(f"{m.repo}: {path} does not have JailbreakHub's columns")
    texts = [r["prompt"] for r in rows if r["jailbreak"].strip().lower() == "true"]
    return HeldoutSet(
        "jailbreakhub",
        "JailbreakHub in-the-wild jailbreaks, 2023-12-25 snapshot",
        m.repo,
        m.commit(rev),
        "MIT (verazuo/jailbreak_llms)",
        [path],
        f"every row with jailbreak=True ({len(rows):,} rows){via}",
        {"jailbreaks": texts},
    )


def load_jailbreakhub_regular(root: Path) -> HeldoutSet:
    """JailbreakHub's regular (non-jailbreak) user prompts, 2023-12 snapshot: benign user prompts."""
    m = find_mirror(root, "verazuo/jailbreak_llms")
    rows = _csv_rows(m.read(JBH_REGULAR))
    return HeldoutSet(
        "jailbreakhub_regular",
        "JailbreakHub regular prompts, 2023-12-25 snapshot",
        m.repo,
        m.commit(),
        "MIT",
        [JBH_REGULAR],
        f"every row ({len(rows):,})",
        {"regular": [r["prompt"] for r in rows]},
    )


TT_FILES = (
    "benchmarks/hijacking-robustness/v1/hijacking_robustness_dataset.jsonl",
    "benchmarks/extraction-robustness/v1/extraction_robustness_dataset.jsonl",
)


def load_tensor_trust(root: Path) -> HeldoutSet:
    """Tensor Trust prompt-injection game attacks (the hijacking and extraction benchmarks' attacks)."""
    m = find_mirror(root, "HumanCompatibleAI/tensor-trust-data")
    texts, n = _gather(m, TT_FILES, _jsonl, "attack")
    return HeldoutSet(
        "tensor_trust",
        "Tensor Trust attacks (hijacking + extraction robustness benchmarks, v1)",
        m.repo,
        m.commit(),
        "not stated in the repository (paper: Toyer et al. 2023)",
        list(TT_FILES),
        f"the `attack` field of every benchmark row ({n:,} rows; the raw attack dump is not mirrored)",
        {"attacks": texts},
    )


TC_JUDGE = ("data/toxic_chat/toxic_chat_train.json", "data/toxic_chat/toxic_chat_test.json")
TC_HF = ("data/0124/toxic-chat_annotation_train.csv", "data/0124/toxic-chat_annotation_test.csv")


def load_toxicchat(root: Path) -> HeldoutSet:
    """ToxicChat (lmsys, toxicchat0124): real chatbot users' prompts with toxicity and jailbreaking
    labels. The upstream is a Hugging Face dataset; a clone of it (lmsys/toxic-chat) is used when
    present, else the copy in dmg-illc/JUDGE-BENCH (its human-annotated rows of both splits)."""
    parts: dict[str, list[str]] = {"benign": [], "toxic": [], "jailbreaking": []}

    def add(text: str, tox: str, jb: str) -> None:
        key = "jailbreaking" if jb.strip() == "1" else "toxic" if tox.strip() == "1" else "benign"
        parts[key].append(text)

    try:
        m = find_mirror(root, "lmsys/toxic-chat")
        n = 0
        for f in TC_HF:
            for r in _csv_rows(m.read(f)):
                n += 1
                add(r["user_input"], r["toxicity"], r["jailbreaking"])
        files, how = list(TC_HF), f"every row of both splits ({n:,})"
    except Missing:
        m = find_mirror(root, "dmg-illc/JUDGE-BENCH")
        n = 0
        for f in TC_JUDGE:
            for ins in json.loads(m.read(f))["instances"]:
                n += 1
                a = ins["annotations"]
                add(ins["instance"], a["toxicity"]["majority_human"], a["jailbreaking"]["majority_human"])
        files = list(TC_JUDGE)
        how = (
            f"every row of JUDGE-BENCH's copy (the human-annotated rows of toxicchat0124 train + test, {n:,})"
        )
    return HeldoutSet(
        "toxicchat",
        "ToxicChat (toxicchat0124)",
        m.repo,
        m.commit(),
        "CC BY-NC 4.0 (lmsys/toxic-chat)",
        files,
        how + "; benign = toxicity 0 and jailbreaking 0",
        parts,
    )


def load_xstest(root: Path) -> HeldoutSet:
    """XSTest (paul-rottger/exaggerated-safety): safe prompts that look unsafe, and unsafe contrasts."""
    m = find_mirror(root, "paul-rottger/exaggerated-safety")
    rows = _csv_rows(m.read("xstest_prompts.csv"))
    parts = {
        "safe": [r["prompt"] for r in rows if r["label"] == "safe"],
        "unsafe": [r["prompt"] for r in rows if r["label"] == "unsafe"],
    }
    return HeldoutSet(
        "xstest",
        "XSTest v2 prompts",
        m.repo,
        m.commit(),
        "CC-BY-4.0",
        ["xstest_prompts.csv"],
        f"every row ({len(rows):,}), by its `label`",
        parts,
    )


MOD_LABELS = ("S", "H", "V", "HR", "SH", "S3", "H2", "V2")


def load_moderation(root: Path) -> HeldoutSet:
    """OpenAI moderation-api-release samples: long prose with eight category labels (0, 1 or absent)."""
    m = find_mirror(root, "openai/moderation-api-release")
    f = "data/samples-1680.jsonl.gz"
    rows = _jsonl(gzip.decompress(m.read(f)))
    parts = {
        "benign": [r["prompt"] for r in rows if all(r.get(k) == 0 for k in MOD_LABELS)],
        "sexual": [r["prompt"] for r in rows if r.get("S") == 1],
        "sexual_minors": [r["prompt"] for r in rows if r.get("S3") == 1],
    }
    return HeldoutSet(
        "moderation",
        "OpenAI moderation-api-release samples",
        m.repo,
        m.commit(),
        "MIT",
        [f],
        f"{len(rows):,} rows: benign = all eight labels present and 0; sexual = S 1; sexual_minors = S3 1",
        parts,
    )


def _pt_strings(data: bytes, what: str) -> list[str]:
    """A torch ``.pt`` file that holds a plain list of strings, read without torch and without running
    anything: the unpickler refuses every class and persistent id, so only built-in values load."""

    class _Plain(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            raise Missing(f"{what}: holds {module}.{name}, not plain strings")

        def persistent_load(self, pid: Any) -> Any:
            raise Missing(f"{what}: holds tensors, not plain strings")

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            pkl = next(n for n in z.namelist() if n.endswith("data.pkl"))
            obj = _Plain(io.BytesIO(z.read(pkl))).load()
    except (zipfile.BadZipFile, StopIteration, pickle.UnpicklingError) as e:
        raise Missing(f"{what}: not a torch zip of strings ({e})") from None
    if not isinstance(obj, list) or not all(isinstance(x, str) for x in obj):
        raise Missing(f"{what}: not a list of strings")
    return obj


def _log_inputs(data: bytes) -> list[str]:
    """The ``input prompt:`` lines of a GuardT2I evaluation log."""
    key = "input prompt:"
    return [
        ln[len(key) :].strip() for ln in data.decode("utf-8", "replace").splitlines() if ln.startswith(key)
    ]


def load_mma(root: Path) -> HeldoutSet:
    """MMA-Diffusion's adversarial (sexual-target) text-to-image prompts, the 1,000 GuardT2I evaluates
    (cure-lab/MMA-Diffusion publishes them only on a gated Hugging Face dataset)."""
    m = find_mirror(root, "cure-lab/GuardT2I")
    f = "mma_adv_prompt_1000.pt"
    texts = _pt_strings(m.read(f), f)
    return HeldoutSet(
        "mma_diffusion",
        "MMA-Diffusion adversarial prompts (as shipped in GuardT2I)",
        m.repo,
        m.commit(),
        "not stated (MMA-Diffusion: CC BY-NC-ND 3.0)",
        [f],
        f"every prompt ({len(texts):,}), read as plain strings",
        {"adversarial": texts},
    )


GT_LOGS = {"p4d": "logs/ours_on_p4d.log", "ring_a_bell": "logs/ours_on_ring-a-bell.log"}


def load_guardt2i(root: Path) -> HeldoutSet:
    """GuardT2I's other evaluation prompts: its 1,000 clean prompts, and the P4D and Ring-A-Bell
    adversarial prompts logged by its evaluation runs (sexual targets)."""
    m = find_mirror(root, "cure-lab/GuardT2I")
    parts = {"clean": _pt_strings(m.read("clean_1000.pt"), "clean_1000.pt")}
    for k, f in GT_LOGS.items():
        parts[k] = _log_inputs(m.read(f))
    return HeldoutSet(
        "guardt2i",
        "GuardT2I clean and adversarial (P4D, Ring-A-Bell) prompts",
        m.repo,
        m.commit(),
        "not stated",
        ["clean_1000.pt", *GT_LOGS.values()],
        "every clean prompt; every `input prompt:` line of the P4D and Ring-A-Bell logs",
        parts,
    )


def load_riskyprompt(root: Path) -> HeldoutSet:
    """T2I-RiskyPrompt: risky text-to-image prompts with hierarchical risk labels."""
    m = find_mirror(root, "datar001/T2I-RiskyPrompt")
    f = "T2I-RiskyPrompt.json"
    doc = json.loads(m.read(f))
    rows = list(doc.values()) if isinstance(doc, dict) else list(doc)
    parts: dict[str, list[str]] = {"sexual": [], "political_figures": [], "other": []}
    for r in rows:
        cats = set(r.get("label") or {})
        if any(c.startswith("Pornography") for c in cats):
            parts["sexual"].append(r["prompt"])
        elif any(c.endswith("Political_Figures") for c in cats):
            parts["political_figures"].append(r["prompt"])
        else:
            parts["other"].append(r["prompt"])
    return HeldoutSet(
        "riskyprompt",
        "T2I-RiskyPrompt",
        m.repo,
        m.commit(),
        "not stated",
        [f],
        f"{len(rows):,} rows: sexual = a Pornography label; political_figures = that label without "
        "a Pornography one; other = the rest",
        parts,
    )


MACE_CELEB = tuple(f"prompts_csv/celebrity_{n}_concepts.csv" for n in (1, 5, 10, 100))


def load_mace(root: Path) -> HeldoutSet:
    """MACE's celebrity prompts ("A portrait of <name>" and similar): benign portraits of real people."""
    m = find_mirror(root, "Shilin-LU/MACE")
    texts, n = _gather(m, MACE_CELEB, _csv_rows, "prompt")
    return HeldoutSet(
        "mace",
        "MACE celebrity portrait prompts",
        m.repo,
        m.commit(),
        "NTU non-commercial licence (MACE repository)",
        list(MACE_CELEB),
        f"every prompt of the four celebrity files ({n:,} rows, mostly repeats across seeds)",
        {"celebrity": texts},
    )


def load_coco(root: Path, shared: Path | None = None) -> HeldoutSet:
    """COCO captions beyond the 10k that training uses: coco-30k (as shipped in MACE) less every
    caption of ../shared/datasets/prompts/coco_10k.csv (by case number and by text)."""
    m = find_mirror(root, "Shilin-LU/MACE")
    f = "prompts_csv/coco_30k.csv"
    rows = _csv_rows(m.read(f))
    if shared is None:
        shared = Path(__file__).resolve().parents[1].parent / "shared"
    ten_k = shared / "datasets" / "prompts" / "coco_10k.csv"
    if not ten_k.is_file():
        raise Missing(f"{ten_k} is absent: cannot tell the training captions apart")
    with ten_k.open(encoding="utf-8", newline="") as fh:
        used = list(csv.DictReader(fh))
    cases = {r["case_number"].lstrip("0") for r in used}
    texts_used = {r["prompt"].strip() for r in used}
    keep = [
        r["prompt"]
        for r in rows
        if r["case_number"].lstrip("0") not in cases and r["prompt"].strip() not in texts_used
    ]
    return HeldoutSet(
        "coco",
        "COCO captions beyond the training 10k (coco-30k)",
        m.repo,
        m.commit(),
        "CC-BY-4.0 (COCO annotations)",
        [f],
        f"{len(rows):,} rows less the {len(rows) - len(keep):,} whose case number or caption is in "
        "coco_10k.csv",
        {"beyond_10k": keep},
    )


LOADERS: dict[str, Loader] = {
    "jailbreakhub": load_jailbreakhub,
    "jailbreakhub_regular": load_jailbreakhub_regular,
    "tensor_trust": load_tensor_trust,
    "toxicchat": load_toxicchat,
    "xstest": load_xstest,
    "moderation": load_moderation,
    "mma_diffusion": load_mma,
    "guardt2i": load_guardt2i,
    "riskyprompt": load_riskyprompt,
    "mace": load_mace,
    "coco": load_coco,
}

# The repositories each loader looks for (the first found wins), for the docs and the notes.
REPOS: dict[str, list[str]] = {
    "jailbreakhub": ["verazuo/jailbreak_llms", JBH_COPY[0]],
    "jailbreakhub_regular": ["verazuo/jailbreak_llms"],
    "tensor_trust": ["HumanCompatibleAI/tensor-trust-data"],
    "toxicchat": ["lmsys/toxic-chat", "dmg-illc/JUDGE-BENCH"],
    "xstest": ["paul-rottger/exaggerated-safety"],
    "moderation": ["openai/moderation-api-release"],
    "mma_diffusion": ["cure-lab/GuardT2I"],
    "guardt2i": ["cure-lab/GuardT2I"],
    "riskyprompt": ["datar001/T2I-RiskyPrompt"],
    "mace": ["Shilin-LU/MACE"],
    "coco": ["Shilin-LU/MACE"],
}
