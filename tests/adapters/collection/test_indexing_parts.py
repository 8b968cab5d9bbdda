"""Pieces of the indexer without a model: readers, sources, chunking, the collection's state
(chunks and units), MaxSim index, snippets."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from adapters.collection.indexing.chunking import check_chunking, chunk_text
from adapters.collection.indexing.readers import UnreadableFileError, html_to_text, read_pages
from adapters.collection.indexing.sources import scan_sources
from adapters.collection.snippets import query_terms, snippet
from adapters.collection.state import CollectionState
from retrieval.errors import ConfigError
from tests.adapters.collection.helpers import write_corpus, write_pdf


def test_pdf_pages_and_corrupt_pdf(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "two.pdf", ["First page text", "Second page about cats"])
    assert read_pages(pdf) == [(1, "First page text"), (2, "Second page about cats")]
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.4 not really")
    with pytest.raises(UnreadableFileError, match=r"bad\.pdf: not a readable PDF"):
        read_pages(bad)


def test_non_utf8_text_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(UnreadableFileError, match="not UTF-8 text"):
        read_pages(path)


def test_html_text_drops_markup_and_scripts() -> None:
    html = (
        "<html><head><title>My page</title><script>var x = 1;</script></head>"
        "<body><h1>Header</h1><p>Some <b>bold</b> text &amp; more.</p></body></html>"
    )
    assert html_to_text(html) == "My page\nHeader\nSome bold text & more."


def test_scan_folder_ids_hidden_files_and_ignored_types(tmp_path: Path) -> None:
    folder = write_corpus(tmp_path / "docs", {"a.txt": "x", "sub/b.md": "y", "c.bin": "z"})
    (folder / ".hidden.txt").write_text("secret", encoding="utf-8")
    scan = scan_sources([folder])
    assert [u.doc_id for u in scan.units] == ["docs/a.txt", "docs/sub/b.md"]
    assert scan.ignored == 1
    assert scan.units[0].key == str((folder / "a.txt").resolve())
    (doc,) = scan.units[1].load()
    assert (doc.text, doc.metadata["source"]) == ("y", str((folder / "sub/b.md").resolve()))


def test_scan_jsonl_and_beir(tmp_path: Path) -> None:
    plain = tmp_path / "docs.jsonl"
    rows = [{"id": 1, "text": "one", "metadata": {"lang": "en"}}, {"id": "2", "text": "two"}]
    plain.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n", encoding="utf-8")
    beir = tmp_path / "corpus.jsonl"
    beir.write_text(json.dumps({"_id": "d1", "title": "T", "text": "body"}) + "\n")
    scan = scan_sources([plain, beir])
    docs = [u.load()[0] for u in scan.units]
    assert [(d.id, d.text, d.metadata) for d in docs] == [
        ("1", "one", {"lang": "en"}),
        ("2", "two", {}),
        ("d1", "T\nbody", {"title": "T"}),
    ]
    assert len(scan.skipped) == 1
    assert "docs.jsonl:3" in scan.skipped[0]


def test_scan_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'.*nowhere' does not exist\. Give a folder"):
        scan_sources([tmp_path / "nowhere"])
    odd = tmp_path / "x.docx"
    odd.write_text("x")
    with pytest.raises(ConfigError, match="unknown file type '.docx'"):
        scan_sources([odd])
    write_corpus(tmp_path / "a", {"same.txt": "1"})
    write_corpus(tmp_path / "b", {"same.txt": "2"})
    (tmp_path / "a" / "x.txt").write_text("1")
    (tmp_path / "b" / "x.txt").write_text("2")
    with pytest.raises(ConfigError, match="Document id 'x.txt' comes from both"):
        scan_sources([tmp_path / "a" / "x.txt", tmp_path / "b" / "x.txt"])


def test_chunks_cover_the_text_with_overlap(bert_plain: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(bert_plain)
    text = " ".join(f"word{i}" if i % 7 else "the cat" for i in range(60))
    chunks = chunk_text(text, tokenizer, size=20, overlap=5)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(chunks) > 3
    assert all(c.n_tokens <= 20 for c in chunks)
    assert all(text[c.start : c.end] == c.text for c in chunks)
    assert (chunks[0].start, chunks[-1].end) == (0, len(text))
    # Consecutive windows start 15 tokens apart, so they overlap by 5 tokens of text.
    assert sum(c.n_tokens for c in chunks) == len(ids) + 5 * (len(chunks) - 1)
    assert all(b.start < a.end for a, b in itertools.pairwise(chunks))
    assert chunk_text("   ", tokenizer, 20, 5) == []
    with pytest.raises(ConfigError, match="chunk overlap must be in"):
        check_chunking(20, 20, 64)
    with pytest.raises(ConfigError, match="does not fit the model: use 8 to 62"):
        check_chunking(100, 10, 64)


def test_state_pending_then_finished(tmp_path: Path) -> None:
    state = CollectionState(tmp_path / "collection.sqlite")
    state.begin({"a": ["a#0", "a#1"]})
    (unit,) = state.units().values()
    assert (unit.done, unit.all_ids()) == (False, ["a#0", "a#1"])
    state.put_chunks(["a#0", "a#1"], ["one", "two"], [{"n": 0}, {"n": 1}])
    assert state.chunks(["a#1"]) == {"a#1": ("two", {"n": 1})}  # buffered, readable
    state.commit({"a": ("h1", ["a#0", "a#1"], 7)})
    assert state.count_tokens() == 7
    state.begin({"a": ["a"]})  # changed to one chunk, killed before finishing
    state.drop_chunks(["a#0", "a#1"])
    state.put_chunks(["a"], ["new"], [{}])
    assert (state.count_chunks(), sorted(state.ids())) == (1, ["a"])
    state.close()  # without a commit: the chunk writes are lost, the pending ids are not
    reopened = CollectionState(tmp_path / "collection.sqlite")
    unit = reopened.units()["a"]
    assert (unit.done, unit.digest, unit.all_ids()) == (False, "h1", ["a#0", "a#1", "a"])
    assert (reopened.count_chunks(), sorted(reopened.ids())) == (2, ["a#0", "a#1"])
    assert reopened.texts().get("a#0") == "one"
    reopened.drop_chunks(["a#0", "a#1"])
    reopened.commit(forget=["a"])
    assert (reopened.units(), reopened.count_chunks()) == ({}, 0)
    reopened.close()


def test_snippet_highlights_query_words() -> None:
    text = "Intro line.\n" + "filler " * 60 + "Run the tests with scripts/test.sh today."
    out = snippet(text, "How do I run the tests?", width=80)
    assert "«Run» the «tests» with" in out
    assert out.startswith("…")
    assert query_terms("How do I run the tests?") == ["run", "tests"]
    assert snippet("plain", "", width=10) == "plain"
