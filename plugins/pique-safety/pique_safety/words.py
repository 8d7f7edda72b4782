"""Case- and accent-insensitive whole-word matching of word lists against recognised text."""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"\w+")


def fold(text: str) -> str:
    """Lower case without accents: `Crème BRÛLÉE` -> `creme brulee`."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def tokens(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def contains(text_tokens: list[str], phrase: str) -> bool:
    """True when `phrase` (one or more words) appears in `text_tokens` as whole words."""
    wanted = tokens(phrase)
    if not wanted:
        return False
    n = len(wanted)
    return any(text_tokens[i : i + n] == wanted for i in range(len(text_tokens) - n + 1))
