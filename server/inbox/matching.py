"""Matching a customer's Japanese question to the merchant's FAQ entries: pure, no database.

Japanese has no spaces between words, so questions are compared as bags of character n-grams
(2- and 3-grams, plus single kanji, which carry meaning on their own: 送, 料, 届). Before that,
text is normalised so that the ways people type the same thing compare equal: NFKC folds
full-width ASCII and half-width katakana (ＡＢＣ → abc, ｷｬﾝｾﾙ → キャンセル), katakana becomes
hiragana (キャンセル → きゃんせる), and punctuation, spaces and politeness endings that every
question shares (ですか, ください, 教えて) are dropped.

Each n-gram is weighted by its rarity across the FAQ's phrasings (TF-IDF), and a question's
score for an entry is the best cosine similarity with any of the entry's phrasings. The caller
compares the score with a threshold (`DEFAULT_THRESHOLD`, chosen on the evaluation fixture in
tests/inbox/fixtures/faq_ja.json): below it the bot does not guess.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

# Chosen on the fixture's held-out paraphrases (tests/inbox/test_matching_evaluation.py prints
# the precision/coverage curve): the lowest threshold whose precision stays ≥ 0.9.
DEFAULT_THRESHOLD = 0.3

# Said in almost every question, so they only add noise to short ones. Longest first.
_FILLER = sorted(
    (
        "でしょうか",
        "ですか",
        "ますか",
        "ください",
        "おしえて",
        "教えて",
        "知りたい",
        "しりたい",
        "したいのですが",
        "したいです",
        "たいのですが",
        "のですが",
        "なんですが",
        "んですが",
        "ですが",
        "お願いします",
        "おねがいします",
        "すみません",
        "あの",
        "って",
        "です",
        "ます",
    ),
    key=len,
    reverse=True,
)
_FILLER_RE = re.compile("|".join(_FILLER))
_KATAKANA = re.compile("[\u30a1-\u30f6]")
_HIRAGANA = re.compile("[\u3041-\u3096]+")
_KANJI = re.compile("[\u4e00-\u9fff\u3400-\u4dbf]")


def normalise(text: str) -> str:
    """Fold the ways of typing the same question onto one string (see the module docstring)."""
    text = unicodedata.normalize("NFKC", text).lower()
    # Fillers are hiragana: drop them before katakana is folded, so that words written in
    # katakana (マスク) never lose a syllable that looks like one (ます).
    text = _FILLER_RE.sub("", text)
    text = _KATAKANA.sub(lambda m: chr(ord(m.group()) - 0x60), text)
    # Keep letters, digits and the long-vowel mark; drop spaces, punctuation, symbols, emoji.
    return "".join(ch for ch in text if ch == "ー" or unicodedata.category(ch)[0] in ("L", "N"))


def features(text: str) -> Counter[str]:
    """The n-grams of a normalised text: 2- and 3-grams, single kanji, and the bigrams of its
    kanji skeleton (hiragana dropped), so that okurigana variants meet: 支払い方法 and 支払方法,
    取り消し and 取消."""
    grams: Counter[str] = Counter()
    for n in (2, 3):
        for i in range(len(text) - n + 1):
            grams[text[i : i + n]] += 1
    for ch in text:
        if _KANJI.match(ch):
            grams[ch] += 1
    skeleton = _HIRAGANA.sub("", text)
    for i in range(len(skeleton) - 1):
        grams["#" + skeleton[i : i + 2]] += 1
    if len(text) == 1:
        grams[text] += 1
    return grams


@dataclass(frozen=True)
class Match:
    key: Hashable  # the entry's key, as given to the index
    score: float  # cosine similarity in [0, 1]
    phrasing: str  # the phrasing that matched best


class FaqIndex:
    """An inverted index over the phrasings of many entries.

    `entries` maps a key (an entry id, or an intent name) to its phrasings. Building is linear
    in the text; a query touches only the phrasings that share an n-gram with it.
    """

    def __init__(self, entries: Iterable[tuple[Hashable, Sequence[str]]]) -> None:
        docs: list[tuple[Hashable, str, Counter[str]]] = []
        for key, phrasings in entries:
            for phrasing in phrasings:
                grams = features(normalise(phrasing))
                if grams:
                    docs.append((key, phrasing, grams))
        df: Counter[str] = Counter()
        for _key, _phrasing, grams in docs:
            df.update(grams.keys())
        n_docs = len(docs)
        # Smoothed idf, as scikit-learn's TfidfVectorizer: never zero, rare grams weigh more.
        self._idf = {g: math.log((1 + n_docs) / (1 + d)) + 1.0 for g, d in df.items()}
        self._unseen_idf = math.log(1 + n_docs) + 1.0
        self._docs = [(key, phrasing) for key, phrasing, _grams in docs]
        self._postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for i, (_key, _phrasing, grams) in enumerate(docs):
            weights = self._weigh(grams)
            for gram, weight in weights.items():
                self._postings[gram].append((i, weight))

    def __len__(self) -> int:
        return len(self._docs)

    def _weigh(self, grams: Counter[str]) -> dict[str, float]:
        raw = {
            g: (1.0 + math.log(c)) * self._idf.get(g, self._unseen_idf) for g, c in grams.items()
        }
        norm = math.sqrt(sum(w * w for w in raw.values())) or 1.0
        return {g: w / norm for g, w in raw.items()}

    def rank(self, question: str, *, limit: int = 3) -> list[Match]:
        """The best-scoring entries for `question`, best first, one Match per entry."""
        grams = features(normalise(question))
        if not grams:
            return []
        scores: defaultdict[int, float] = defaultdict(float)
        for gram, weight in self._weigh(grams).items():
            for doc, doc_weight in self._postings.get(gram, ()):
                scores[doc] += weight * doc_weight
        best: dict[Hashable, Match] = {}
        for doc, score in scores.items():
            key, phrasing = self._docs[doc]
            if key not in best or score > best[key].score:
                best[key] = Match(key=key, score=min(score, 1.0), phrasing=phrasing)
        return sorted(best.values(), key=lambda m: m.score, reverse=True)[:limit]

    def best(self, question: str, *, threshold: float = DEFAULT_THRESHOLD) -> Match | None:
        """The best entry if its score reaches `threshold`, else None (a person should answer)."""
        ranked = self.rank(question, limit=1)
        if ranked and ranked[0].score >= threshold:
            return ranked[0]
        return None
