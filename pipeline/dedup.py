"""Duplicate bodies: exact (normalised body hash) and near (syndicated wire copy, MinHash/LSH).

Near duplicates are measured as the Jaccard similarity of the sets of 5-word shingles of the
normalised bodies, estimated by a 128-permutation MinHash. Threshold 0.4, because:

* a syndicated copy with a new intro line, a few sentences reworded and the closing paragraph
  dropped still shares about half of its 5-word shingles with the original (Jaccard also
  counts the dropped paragraph against it; measured on the test texts: 0.55);
* two outlets writing their own story about the same event share names, numbers and the odd
  quote, but almost no 5-word runs (measured: 0.0).

The MinHash estimate has a standard error of about 0.04 at 128 permutations, so 0.4 keeps
such a copy more than three standard errors above the line, and independent coverage far below.
Signatures are 512 bytes (128 little-endian uint32) for a DB column.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

import numpy as np
from datasketch import MinHash, MinHashLSH

NUM_PERM = 128
SHINGLE_WORDS = 5
SYNDICATION_THRESHOLD = 0.4
# Seed and permutation scheme are pinned so signatures stored today match the index built
# after a datasketch upgrade (its default scheme changed in 2.0).
MINHASH_SEED = 1
MINHASH_SCHEME = "affine32"
_SIGNATURE_DTYPE = np.dtype("<u4")
_WORD_RE = re.compile(r"\w+")


def normalise_body(text: str) -> str:
    """Unicode NFKC, case-folded words joined by single spaces (punctuation and layout dropped)."""
    return " ".join(_WORD_RE.findall(unicodedata.normalize("NFKC", text).casefold()))


def body_hash(text: str) -> str:
    """SHA-256 of the normalised body: equal for bodies differing only in layout or case."""
    return hashlib.sha256(normalise_body(text).encode("utf-8")).hexdigest()


def _shingles(text: str) -> set[bytes]:
    words = normalise_body(text).split()
    if len(words) < SHINGLE_WORDS:
        return {" ".join(words).encode("utf-8")} if words else set()
    return {
        " ".join(words[i : i + SHINGLE_WORDS]).encode("utf-8")
        for i in range(len(words) - SHINGLE_WORDS + 1)
    }


@lru_cache(maxsize=1)
def _permutations() -> np.ndarray:
    """The seeded permutation parameters, drawn once: datasketch draws them again for every
    MinHash it builds, which cost more than hashing a body."""
    return MinHash(num_perm=NUM_PERM, seed=MINHASH_SEED, scheme=MINHASH_SCHEME).permutations


def _minhash(text: str) -> MinHash:
    minhash = MinHash(num_perm=NUM_PERM, seed=MINHASH_SEED, scheme=MINHASH_SCHEME, permutations=_permutations())
    minhash.update_batch(list(_shingles(text)))
    return minhash


def signature(text: str) -> bytes:
    """The body's MinHash as 512 bytes, storable next to the article."""
    return _minhash(text).hashvalues.astype(_SIGNATURE_DTYPE).tobytes()


def _from_signature(data: bytes) -> MinHash:
    values = np.frombuffer(data, dtype=_SIGNATURE_DTYPE)
    if values.size != NUM_PERM:
        raise ValueError(f"signature has {values.size} values, expected {NUM_PERM}")
    return MinHash(
        num_perm=NUM_PERM, seed=MINHASH_SEED, scheme=MINHASH_SCHEME, hashvalues=values.copy(),
        permutations=_permutations(),
    )


@lru_cache(maxsize=8)
def _lsh_bands(threshold: float) -> tuple[int, int]:
    """datasketch's (bands, rows) for a threshold: its optimiser integrates numerically
    (~50 ms), and an index is built for every stored article, so it is computed once."""
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    return lsh.b, lsh.r


def similarity(first: bytes, second: bytes) -> float:
    """Estimated Jaccard similarity of two bodies' shingle sets."""
    return float(_from_signature(first).jaccard(_from_signature(second)))


class SyndicationIndex:
    """In-memory LSH over stored signatures; rebuilt from the catalog at start-up.

    ``query`` returns the earliest inserted article whose estimated Jaccard similarity is at
    least the threshold, so every copy points at the first-seen original.
    """

    def __init__(
        self,
        pairs: Iterable[tuple[str, bytes]] = (),
        threshold: float = SYNDICATION_THRESHOLD,
    ):
        self.threshold = threshold
        self._lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM, params=_lsh_bands(threshold))
        self._order: dict[str, int] = {}
        self._minhashes: dict[str, MinHash] = {}
        for article_id, stored in pairs:
            self.insert(article_id, stored)

    def __len__(self) -> int:
        return len(self._order)

    def insert(self, article_id: str, stored: bytes) -> None:
        """Add an article in first-seen order. A known id keeps its place; its signature is
        replaced when it changed (the page was extracted again with a new body)."""
        known = self._minhashes.get(article_id)
        if known is not None and np.array_equal(known.hashvalues, np.frombuffer(stored, dtype=_SIGNATURE_DTYPE)):
            return  # read again: the page stage reads every signature stored since its last read
        minhash = _from_signature(stored)
        if known is not None:
            self._lsh.remove(article_id)
        self._lsh.insert(article_id, minhash)
        self._order.setdefault(article_id, len(self._order))
        self._minhashes[article_id] = minhash

    def matches(self, stored: bytes) -> list[str]:
        """Every indexed article at or above the threshold, earliest inserted first."""
        minhash = _from_signature(stored)
        found = [
            candidate
            for candidate in self._lsh.query(minhash)
            if self._minhashes[candidate].jaccard(minhash) >= self.threshold
        ]
        return sorted(found, key=self._order.__getitem__)

    def query(self, stored: bytes) -> str | None:
        """The earliest indexed article at or above the threshold, or None."""
        found = self.matches(stored)
        return found[0] if found else None
