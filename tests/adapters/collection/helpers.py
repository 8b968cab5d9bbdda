"""Small corpora for the indexing tests: text files and a real (hand-written) PDF."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_pdf(path: Path, pages: list[str]) -> Path:
    """A valid PDF with one Helvetica text line per page (offsets in the xref are exact)."""
    objects: list[bytes] = []
    n = len(pages)
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode())
    font = 3 + 2 * n
    for i, text in enumerate(pages):
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font} 0 R >> >> >>".encode()
        )
        stream = f"BT /F1 12 Tf 72 700 Td ({text}) Tj ET".encode()
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    path.write_bytes(bytes(out))
    return path


DOCS = {
    "cats.txt": "The cat sat on the mat. Cats like warm places and sleep a lot.",
    "dogs.md": "# Dogs\n\nThe dog runs in the park. Dogs like to play with a ball.",
    "food.txt": "A man is eating food. He eats a piece of bread with cheese.",
}


def write_corpus(folder: Path, docs: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (docs or DOCS).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def write_long_corpus(folder: Path, n: int = 8) -> Path:
    """``n`` files of a few sentences each: several 16-token chunks per file."""
    words = "the cat dog man food park ball sat on a mat runs eats bread with cheese".split()
    docs = {}
    for i in range(n):
        sentence = " ".join(words[(i + j) % len(words)] for j in range(7 + i))
        docs[f"doc{i}.txt"] = f"{sentence}. " * (2 + i % 3)
    return write_corpus(folder, docs)


def parts(collection: Any) -> dict[str, Any]:
    """A collection's indexes by component name (``dense``, ``sparse``, ``tokens``)."""
    return {part.name: part.index for part in collection.parts}


def assert_same_index(a: Path, b: Path, atol: float = 1e-5) -> None:
    """Two collections hold the same chunks: ids, text, metadata, incremental state, and
    vectors (compared through the scores of random queries against every chunk)."""
    import numpy as np

    from adapters.collection import Collection

    left, right = Collection.open(a), Collection.open(b)
    try:
        assert left.config == right.config
        assert left.manifest.encoder == right.manifest.encoder
        assert left.manifest.chunking == right.manifest.chunking
        assert left.state.units() == right.state.units()
        ids = sorted(left.state.ids())
        assert ids == sorted(right.state.ids())
        assert left.documents(ids) == right.documents(ids)
        rng = np.random.default_rng(0)
        right_parts = parts(right)
        words = " ".join(text or "" for text, _ in left.documents(ids).values())
        for name, part in parts(left).items():
            if name == "lexical":  # BM25: one query holding every word, so every chunk
                _same_hits(
                    part.search(words, k=10_000),
                    right_parts[name].search(words, k=10_000),
                    atol,
                    name,
                )
                continue
            dim = part.dim if name == "tokens" else part.config.dim
            for _ in range(3):
                shape = (dim,) if name == "dense" else (3, dim)
                query = rng.standard_normal(shape).astype(np.float32)
                hits_a = {h.id: h for h in part.search(query, k=10_000)}
                hits_b = {h.id: h for h in right_parts[name].search(query, k=10_000)}
                assert sorted(hits_a) == sorted(hits_b)
                for chunk_id, hit in hits_a.items():
                    assert abs(hit.score - hits_b[chunk_id].score) <= atol, (name, chunk_id)
                    assert hit.metadata == hits_b[chunk_id].metadata
    finally:
        left.close()
        right.close()


def _same_hits(a: Any, b: Any, atol: float, name: str) -> None:
    hits_a, hits_b = {h.id: h for h in a}, {h.id: h for h in b}
    assert hits_a
    assert sorted(hits_a) == sorted(hits_b)
    for chunk_id, hit in hits_a.items():
        assert abs(hit.score - hits_b[chunk_id].score) <= atol, (name, chunk_id)
        assert hit.metadata == hits_b[chunk_id].metadata
