"""Labelled prompts: how well a strong and a weak model answered each one, from files.

A labelled prompt says how well a strong and a weak model answered it (correctness, or a
judge's 1–10 grade, mapped to [0, 1]). DATA may be RouteLLM response CSVs (a ``prompt``
column and one True/False or numeric column per model), directories of them, RouteLLM's
MT-Bench folder (question.jsonl + judgements.jsonl), an arena-hard-auto folder with
model_judgment/, or any CSV/JSONL with ``prompt`` (or OpenAI ``messages`` / ``turns``) and
either ``strong`` + ``weak`` scores or a 0/1 ``label`` (1 = needs the strong model). Any of
these files may be compressed (``.xz``, ``.gz``): the vendored sets in ``data/prompts`` are.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import lzma
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from scorer.requests import Messages, RequestError, request_inputs

STRONG = "gpt-4-1106-preview"
WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
ARENA_STRONG = "gpt-4-turbo"
ARENA_WEAK = "Mixtral-8x7B-Instruct-v0.1"
# The vendored sets, found from this file (a checkout or an editable install), never an
# absolute path; an installed wheel has none and is given DATA on the command line.
DATA_ROOT = Path(__file__).resolve().parent.parent / "data" / "prompts"
SOURCES = ("mmlu", "gsm8k", "mt_bench", "arena")


class DataError(ValueError):
    """A data file is missing, unreadable or lacks the columns a loader needs."""


class Labelled(Protocol):
    """What fitting and measuring need of a labelled prompt, whether known by its text
    (``Example``) or only by its stored feature vector (``scorer.usage.VectorExample``)."""

    @property
    def strong(self) -> float: ...
    @property
    def weak(self) -> float: ...
    @property
    def source(self) -> str: ...
    @property
    def weight(self) -> float: ...
    @property
    def split_key(self) -> str: ...
    @property
    def chars(self) -> float: ...


@dataclass(frozen=True)
class Example:
    """One labelled prompt: the conversation and both models' performance in [0, 1]."""

    messages: Messages
    strong: float
    weak: float
    source: str
    weight: float = 1.0

    @property
    def split_key(self) -> str:
        """The prompt's opening message: the later turns of one conversation fall on the
        same side as its first (an MT-Bench second turn replays the first)."""
        return "\x1e".join(f"{r}\x1f{c}" for r, c in self.messages[:1])

    @property
    def chars(self) -> float:
        return float(sum(len(c) for _, c in self.messages))


# ------------------------------------------------------------------ loading


def default_data(root: Path = DATA_ROOT) -> list[Path]:
    """The labelled sets vendored in the repository (``data/prompts``)."""
    return [
        root / "routellm" / "mmlu" / "responses",
        root / "routellm" / "gsm8k" / "gsm8k_responses.csv.xz",
        root / "routellm" / "mt_bench",
        root / "arena-hard-auto" / "arena-bench-v1",
    ]


def load(paths: Iterable[Path], strong: str = STRONG, weak: str = WEAK) -> list[Example]:
    """Every example from the given files and folders, the first of duplicate prompts kept."""
    seen: set[Messages] = set()
    examples = []
    for path in paths:
        for example in _load_one(Path(path), strong, weak):
            if example.messages not in seen:
                seen.add(example.messages)
                examples.append(example)
    return examples


_COMPRESSED = {".xz": lzma.decompress, ".gz": gzip.decompress}


def _load_one(path: Path, strong: str, weak: str) -> list[Example]:
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    if path.is_dir():
        if _member(path, "judgements.jsonl").exists():
            return _load_mt_bench(path, strong, weak)
        if (path / "model_judgment").is_dir():
            return _load_arena(path)
        files = sorted(f for f in path.iterdir() if _kind(f) in (".csv", ".jsonl"))
        if not files:
            raise DataError(f"{path}: no .csv or .jsonl files")
        return [e for f in files for e in _load_one(f, strong, weak)]
    if _kind(path) == ".csv":
        return _load_csv(path, strong, weak)
    if _kind(path) in (".jsonl", ".json"):
        return _load_jsonl(path)
    raise DataError(f"{path}: expected a .csv or .jsonl file (optionally .xz or .gz)")


def _kind(path: Path) -> str:
    """The data suffix under any compression suffix: ``a.csv.xz`` → ``.csv``."""
    suffixes = path.suffixes
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def _member(folder: Path, name: str) -> Path:
    """``folder/name``, or its compressed copy when only that exists."""
    plain = folder / name
    if plain.exists():
        return plain
    for suffix in _COMPRESSED:
        packed = folder / (name + suffix)
        if packed.exists():
            return packed
    return plain


def _source_name(path: Path) -> str:
    for name in SOURCES:
        if name in str(path):
            return name
    return path.name.split(".")[0]


def _truth(value: str, where: str) -> float:
    text = value.strip().lower()
    if text in ("true", "1", "yes"):
        return 1.0
    if text in ("false", "0", "no", ""):
        return 0.0
    try:
        return float(text)
    except ValueError:
        raise DataError(f"{where}: not a boolean or number: {value[:40]!r}") from None


def _read_text(path: Path) -> str:
    """The file's text, newlines untouched; an unreadable or non-UTF-8 file names itself."""
    try:
        raw = path.read_bytes()
        unpack = _COMPRESSED.get(path.suffix)
        return (unpack(raw) if unpack else raw).decode("utf-8")
    except (lzma.LZMAError, gzip.BadGzipFile, EOFError) as exc:
        raise DataError(f"{path}: not a valid {path.suffix} file ({exc})") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise DataError(f"{path}: {exc.strerror or exc}") from None


def _load_csv(path: Path, strong: str, weak: str) -> list[Example]:
    csv.field_size_limit(1 << 30)
    reader = csv.DictReader(io.StringIO(_read_text(path), newline=""))
    columns = reader.fieldnames or []
    if "prompt" not in columns:
        raise DataError(f"{path}: missing column 'prompt'")
    pair = _pick_columns(columns, strong, weak)
    if pair is None:
        raise DataError(f"{path}: needs columns {strong!r} and {weak!r}, or strong/weak/label")
    source = _source_name(path)
    examples = []
    for line, row in enumerate(reader, start=2):
        where = f"{path}:{line}"
        if None in row.values():
            raise DataError(f"{where}: fewer fields than the header's {len(columns)}")
        s, w = _performance(row, pair, where)
        examples.append(Example((("user", row["prompt"]),), s, w, source))
    return examples


def _pick_columns(columns: Sequence[str], strong: str, weak: str) -> tuple[str, str] | None:
    for pair in ((strong, weak), ("strong", "weak"), ("label", "label")):
        if pair[0] in columns and pair[1] in columns:
            return pair
    return None


def _performance(row: dict[str, Any], pair: tuple[str, str], where: str) -> tuple[float, float]:
    if pair == ("label", "label"):
        label = _truth(str(row["label"]), f"{where} label")
        return 1.0, 1.0 - label
    strong, weak = pair
    return _truth(str(row[strong]), f"{where} {strong}"), _truth(str(row[weak]), f"{where} {weak}")


def _messages_of(row: dict[str, Any], where: str) -> Messages:
    """A JSONL row's conversation: an OpenAI request body, or MT-Bench style ``turns``."""
    if isinstance(row.get("turns"), list) and row["turns"] and "messages" not in row:
        row = {"prompt": str(row["turns"][0])}
    try:
        return request_inputs(row).messages
    except RequestError as exc:
        raise DataError(f"{where}: {exc}") from None


def _jsonl(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """Each non-blank line's object with its ``path:line``; a line that is not one is named."""
    rows = []
    for line, text in enumerate(_read_text(path).splitlines(), start=1):
        if not text.strip():
            continue
        where = f"{path}:{line}"
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: invalid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected a JSON object")
        rows.append((where, row))
    return rows


def _field(row: dict[str, Any], key: str, where: str) -> Any:
    if key not in row:
        raise DataError(f"{where}: missing field {key!r}")
    return row[key]


def _load_jsonl(path: Path) -> list[Example]:
    examples = []
    source = _source_name(path)
    for where, row in _jsonl(path):
        pair = _pick_columns(list(row), "strong", "weak")
        if pair is None:
            raise DataError(f"{where}: needs 'strong' and 'weak' scores or a 'label'")
        s, w = _performance(row, pair, where)
        examples.append(Example(_messages_of(row, where), s, w, source))
    return examples


def _grade(score: object) -> float | None:
    """A judge's 1–10 grade mapped to [0, 1]; None when missing."""
    if not isinstance(score, int | float) or score < 0:
        return None
    return (min(float(score), 10.0) - 1.0) / 9.0


def _questions(path: Path) -> dict[Any, dict[str, Any]]:
    """A question.jsonl file by question_id."""
    return {_field(q, "question_id", where): q for where, q in _jsonl(path)}


def _load_mt_bench(folder: Path, strong: str, weak: str) -> list[Example]:
    questions = _questions(_member(folder, "question.jsonl"))
    grades: dict[tuple[int, str, int], float | None] = {}
    prompts: dict[tuple[int, int], str] = {}
    for where, row in _jsonl(_member(folder, "judgements.jsonl")):
        qid, model = _field(row, "question_id", where), _field(row, "model", where)
        key = (qid, model, int(row.get("turn", 1)))
        grades[key] = _grade(row.get("score"))
        if model == strong:
            prompts[(qid, key[2])] = row.get("user_prompt", "")
    examples = []
    for qid, question in questions.items():
        for turn in (1, 2):
            s, w = grades.get((qid, strong, turn)), grades.get((qid, weak, turn))
            messages = _mt_turn(question, turn, prompts.get((qid, turn), ""))
            if s is not None and w is not None and messages:
                examples.append(Example(messages, s, w, "mt_bench"))
    return examples


def _mt_turn(question: dict[str, Any], turn: int, judged: str) -> Messages:
    """Turn 1 is the question; turn 2 replays the strong model's first answer from its grade."""
    turns = question.get("turns") or []
    if turn == 1:
        return (("user", turns[0]),) if turns else ()
    marker = "### Assistant A:\n"
    if len(turns) < 2 or marker not in judged:
        return ()
    answer = judged.split(marker, 1)[1].split("\n\n### User:\n", 1)[0].strip()
    return (("user", turns[0]), ("assistant", answer), ("user", turns[1]))


def _grades(path: Path) -> dict[Any, float | None]:
    """A model_judgment file: each question's grade."""
    return {_field(r, "question_id", where): _grade(r.get("score")) for where, r in _jsonl(path)}


def _load_arena(folder: Path) -> list[Example]:
    questions = _questions(_member(folder, "question.jsonl"))
    strong = _grades(_member(folder / "model_judgment", f"{ARENA_STRONG}.jsonl"))
    weak = _grades(_member(folder / "model_judgment", f"{ARENA_WEAK}.jsonl"))
    examples = []
    for qid, question in questions.items():
        s, w = strong.get(qid), weak.get(qid)
        if s is not None and w is not None and question.get("turns"):
            examples.append(Example((("user", question["turns"][0]),), s, w, "arena"))
    return examples
