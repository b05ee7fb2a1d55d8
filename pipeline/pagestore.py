"""Raw pages, gzip-compressed and content-addressed under STORYLINE_HOME/pages.

Storing the HTML means re-extraction and re-embedding never re-crawl; addressing it by hash
means a page fetched twice is stored once, and a write is atomic (temp file + rename).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from pathlib import Path


class PageStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / f"{sha256}.html.gz"

    def put(self, html: bytes) -> str:
        sha256 = hashlib.sha256(html).hexdigest()
        target = self.path(sha256)
        if target.exists():
            return sha256
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
                out.write(html)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return sha256

    def get(self, sha256: str) -> bytes:
        return gzip.decompress(self.path(sha256).read_bytes())

    def __contains__(self, sha256: str) -> bool:
        return self.path(sha256).exists()
