"""Fusion and cascade study on the dev sets (issue 19), the ``--fusion`` mode of eval_grid.py.

For every query, each representation's score of every document is computed once through the
toolkit's indexes (``FaissIndex`` flat cosine for MiniLM dense, ``SparseIndex`` for SPLADE-tiny,
exact ``MaxSimIndex`` over MiniLM token vectors), so any first-stage list, cascade or fusion
can be replayed exactly; fusion itself runs through ``retrieval.fusion`` (the code the
Retriever uses). Views:

* ``cranfield``: full-corpus retrieval, 1,400 docs, 225 queries;
* ``dl19-rerank``: rerank BM25's top 100 of each query (``bm25.run``), 43 queries;
* ``dl19-full``: full-corpus retrieval over the 4,297 DL19 passages (the pooled BM25 top-100s);

each also split into two halves of its queries (even / odd position) to see whether what
wins on one half wins on the other. A synthetic **weak** retriever ``W`` (dense scores plus
Gaussian noise of twice their per-query std, seed 0) shows what each fusion does with a much
weaker part, next to the real weaker part, SPLADE-tiny (on Cranfield).

Row names: ``D`` dense, ``S`` SPLADE-tiny, ``B`` BM25 (``indexes.BM25Index``, Lucene's English
analysis, k1 = 1.2, b = 0.75, statistics of the view's corpus), ``M`` MaxSim, ``R`` (DL19
rerank only) the BM25 scores ``bm25.run`` gives its candidates (Pyserini, statistics of the
whole 8.8M-passage MS MARCO). ``fuse{D,M} <how>`` fuses each first
stage's own top-100 list (ids missing from a list get its lowest normalised score);
``D@N>M: <how>`` is the cascade: dense top N (``DS@N``: dense top N and sparse top N) as
candidates, every candidate rescored by exact MaxSim, then ``M`` alone or the fusion of every
stage's score over the candidates (``+complete``: D / S scores computed for every candidate,
not only those their own list returned).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from adapters.evaluation import evaluate_run, load_beir, read_run
from retrieval import Fusion, Hit
from retrieval.fusion import DEFAULT_FUSION

Table = dict[str, np.ndarray]
"""Representation -> ``(n_queries, n_docs)`` scores."""

FUSIONS: dict[str, Fusion] = {
    "rrf60": Fusion("rrf", rrf_k=60),
    "rrf10": Fusion("rrf", rrf_k=10),
    "minmax": Fusion("weighted", normalize="minmax"),
    "zscore": Fusion("weighted", normalize="zscore"),
    "dbsf": Fusion("weighted", normalize="dbsf"),
    "agree": DEFAULT_FUSION,  # z-scores weighted by per-query agreement: the default
}


class View:
    """One evaluation view: queries, qrels, doc ids, score tables, optional fixed candidates."""

    def __init__(
        self,
        name: str,
        query_ids: list[str],
        qrels: dict[str, dict[str, int]],
        doc_ids: list[str],
        table: Table,
        candidates: list[np.ndarray] | None = None,
    ) -> None:
        self.name, self.query_ids, self.qrels = name, query_ids, qrels
        self.doc_ids, self.table, self.candidates = doc_ids, table, candidates

    def top(self, rep: str, q: int, n: int) -> np.ndarray:
        """Column indices of the best ``n`` documents of ``rep`` for query ``q`` (within the
        fixed candidates in a rerank view)."""
        row = self.table[rep][q]
        pool = np.arange(len(row)) if self.candidates is None else self.candidates[q]
        order = np.argsort(-row[pool], kind="stable")[:n]
        return pool[order]

    def hits(self, rep: str, q: int, cols: np.ndarray) -> list[Hit]:
        """Hits for ``cols`` scored by ``rep``, best first."""
        scores = self.table[rep][q][cols]
        order = np.argsort(-scores, kind="stable")
        return [Hit(self.doc_ids[cols[i]], float(scores[i])) for i in order.tolist()]


def add_weak(table: Table, seed: int = 0) -> None:
    """``W``: dense scores plus noise of twice their per-query std (a much weaker retriever)."""
    rng = np.random.default_rng(seed)
    dense = table["D"]
    noise = rng.standard_normal(dense.shape) * 2.0 * dense.std(axis=1, keepdims=True)
    table["W"] = dense + noise


def full_table(
    queries: Mapping[str, Any], indexes: Mapping[str, Any], n_docs: int, doc_ids: list[str]
) -> Table:
    """Every document's score per representation, from each index's own search (k = all)."""
    column = {d: i for i, d in enumerate(doc_ids)}
    out: Table = {}
    for rep, index in indexes.items():
        lists = index.search_batch(queries[rep], k=n_docs)
        matrix = np.zeros((len(lists), n_docs), np.float64)
        for q, hits in enumerate(lists):
            for hit in hits:
                matrix[q, column[hit.id]] = hit.score
        out[rep] = matrix
    return out


# -- configurations ---------------------------------------------------------------------
Runner = Callable[[View, int], list[Hit]]


def single(rep: str) -> Runner:
    return lambda v, q: v.hits(rep, q, v.top(rep, q, 100))


def list_fusion(reps: Sequence[str], fusion: Fusion, depth: int = 100) -> Runner:
    """Each stage's own top ``depth`` list (complete candidates in a rerank view), fused."""

    def run(v: View, q: int) -> list[Hit]:
        rankings = {r: v.hits(r, q, v.top(r, q, depth)) for r in reps}
        return [Hit(i, s) for i, s in fusion.fuse(rankings)[:100]]

    return run


def cascade(
    first: Sequence[str],
    depth: int,
    fused: Sequence[str],
    fusion: Fusion | None,
    complete: bool = False,
) -> Runner:
    """Candidates: union of each ``first`` stage's top ``depth``; ``M`` scores every one; then
    ``M`` alone (``fusion=None``) or the fusion of ``fused`` scores over the candidates."""

    def run(v: View, q: int) -> list[Hit]:
        lists = {r: v.top(r, q, depth) for r in first}
        cols = np.array(list(dict.fromkeys(c for r in first for c in lists[r].tolist())))
        if fusion is None:
            return v.hits("M", q, cols)[:100]
        rankings = {
            r: v.hits(r, q, cols if (complete or r not in lists) else lists[r]) for r in fused
        }
        return [Hit(i, s) for i, s in fusion.fuse(rankings)[:100]]

    return run


HOWS = ("rrf60", "minmax", "zscore", "dbsf", "agree")


def configurations(has_sparse: bool) -> dict[str, Runner]:
    rows: dict[str, Runner] = {"D": single("D"), "M": single("M"), "W (weak)": single("W")}
    rows["B"] = single("B")
    if has_sparse:
        rows["S"] = single("S")
    sets = [("D", "M"), ("D", "M", "W")]
    if has_sparse:
        sets += [("D", "S"), ("S", "M"), ("D", "S", "M")]
    rows |= fused_lists(sets)
    # (first stages, fused score sets): every vote, or one per model (MaxSim stands for
    # MiniLM: its pooled dense vector is a coarser view of the same token states)
    cascades: list[tuple[tuple[str, ...], list[tuple[str, ...]]]] = [(("D",), [("D", "M")])]
    cascades.append((("D", "B"), [("D", "B", "M"), ("B", "M")]))
    if has_sparse:
        cascades.append((("D", "S"), [("D", "S", "M"), ("S", "M")]))
        cascades.append((("D", "S", "B"), [("D", "S", "B", "M")]))
    for first, fused_sets in cascades:
        tag = "".join(first)
        for depth in (50, 100, 200):
            rows[f"{tag}@{depth}>M: M only"] = cascade(first, depth, (), None)
            for fused in fused_sets:
                for how in HOWS if depth == 100 else ("agree",):
                    name = f"{tag}@{depth}>M: {how}{{{','.join(fused)}}}"
                    rows[name] = cascade(first, depth, fused, FUSIONS[how])
                    if len(first) > 1 and depth == 100 and how in ("zscore", "agree"):
                        complete = cascade(first, depth, fused, FUSIONS[how], complete=True)
                        rows[f"{name} +complete"] = complete
        weak = (*first, "W")
        rows[f"{tag}W@100>M: M only"] = cascade(weak, 100, (), None)
        for fused in fused_sets:
            for how in HOWS:
                with_weak = (*fused[:-1], "W", "M")
                rows[f"{tag}W@100>M: {how}{{{','.join(with_weak)}}}"] = cascade(
                    weak, 100, with_weak, FUSIONS[how]
                )
    return rows


def rerank_configurations(has_sparse: bool) -> dict[str, Runner]:
    """In a rerank view every candidate has every score: singles and complete fusions."""
    reps = ["D", "M", "B", "R", *(["S"] if has_sparse else [])]
    rows: dict[str, Runner] = {r: single(r) for r in [*reps, "W"]}
    sets = [("D", "M"), ("D", "M", "W"), ("R", "D", "M"), ("B", "D", "M"), ("R", "B", "D", "M")]
    if has_sparse:
        sets += [("D", "S"), ("S", "M"), ("D", "S", "M"), ("S", "W", "M"), ("D", "S", "W", "M")]
        sets += [("R", "D", "S", "M"), ("B", "D", "S", "M")]
    return rows | fused_lists(sets)


def fused_lists(sets: Sequence[tuple[str, ...]]) -> dict[str, Runner]:
    """Each set's own lists fused every way, plus the weighted dense + MaxSim pairs."""
    rows: dict[str, Runner] = {}
    for group in sets:
        for how in ("rrf60", "rrf10", "minmax", "zscore", "dbsf", "agree"):
            rows[f"fuse{{{','.join(group)}}} {how}"] = list_fusion(group, FUSIONS[how])
    rows["fuse{D,M} rrf60 w(M)=2"] = list_fusion(("D", "M"), Fusion("rrf", weights={"M": 2}))
    for w in (0.25, 0.5, 0.75):
        convex = Fusion("weighted", normalize="dbsf", weights={"D": 1 - w, "M": w})
        rows[f"fuse{{D,M}} dbsf convex w(M)={w}"] = list_fusion(("D", "M"), convex)
    return rows


def evaluate(view: View, runner: Runner) -> dict[str, float]:
    """nDCG@10 / R@100 on all queries and on the even / odd halves."""
    run = {qid: runner(view, q) for q, qid in enumerate(view.query_ids)}
    out: dict[str, float] = {}
    halves = {"all": view.query_ids, "A": view.query_ids[0::2], "B": view.query_ids[1::2]}
    for half, ids in halves.items():
        metrics = evaluate_run({q: view.qrels[q] for q in ids}, {q: run[q] for q in ids})
        out[f"ndcg@10 {half}"] = round(metrics["ndcg@10"], 4)
        out[f"recall@100 {half}"] = round(metrics["recall@100"], 4)
    return out


def study(views: Sequence[View], json_out: Path | None) -> list[dict[str, Any]]:
    rows = []
    for view in views:
        has_sparse = "S" in view.table
        configs = (
            rerank_configurations(has_sparse)
            if view.candidates is not None
            else configurations(has_sparse)
        )
        for name, runner in configs.items():
            row = {"view": view.name, "setting": name, **evaluate(view, runner)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    if json_out:
        json_out.write_text(json.dumps(rows, indent=1))
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    """One table per view: nDCG@10 and R@100 on all queries and both halves."""
    out = []
    for view in dict.fromkeys(r["view"] for r in rows):
        out += [
            f"\n**{view}**\n",
            "| setting | nDCG@10 | half A | half B | R@100 | half A | half B |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in (r for r in rows if r["view"] == view):
            out.append(
                f"| {r['setting']} | {r['ndcg@10 all']:.4f} | {r['ndcg@10 A']:.4f} "
                f"| {r['ndcg@10 B']:.4f} | {r['recall@100 all']:.4f} | {r['recall@100 A']:.4f} "
                f"| {r['recall@100 B']:.4f} |"
            )
    return "\n".join(out)


def build_views(data: Path, cache: Path | None, tok: Any, spl: Any) -> list[View]:
    """Cranfield, DL19 rerank and DL19 full views, with score tables from the toolkit's
    indexes (documents encoded through ``eval_common.encode_cached``)."""
    from eval_common import build_indexes, encode_cached

    views = []
    cran = load_beir(data / "cranfield")
    dl19, pool, given = dl19_pool(data)
    texts = dl19.texts_by_id()
    sets = [
        ("cranfield", cran, cran.doc_ids, cran.doc_texts),
        ("dl19", dl19, pool, [texts[d] for d in pool]),
    ]
    for name, ds, doc_ids, doc_texts in sets:
        saved = None if cache is None else cache / f"score-tables-{name}.npz"
        if saved is not None and saved.is_file():  # tables of an earlier run (npy arrays only)
            with np.load(saved, allow_pickle=False) as arrays:
                table = {rep: arrays[rep] for rep in ("D", "S", "M")}
        else:
            tok_docs, _ = encode_cached(tok, f"{name}-minilm-tokens", doc_texts, cache)
            spl_docs, _ = encode_cached(spl, f"{name}-splade256", doc_texts, cache)
            q_tok, q_spl = tok.encode_queries(ds.query_texts), spl.encode_queries(ds.query_texts)
            queries = {"D": q_tok["dense"], "S": q_spl["sparse"], "M": q_tok["multivector"]}
            with tempfile.TemporaryDirectory() as scratch:
                built = build_indexes(doc_ids, tok_docs, spl_docs, Path(scratch))
                indexes = {"D": built["dense"], "S": built["sparse"], "M": built["maxsim"]}
                table = full_table(queries, indexes, len(doc_ids), doc_ids)
            if saved is not None:
                np.savez(saved, **table)
        add_weak(table)
        table["B"] = bm25_table(doc_ids, doc_texts, ds.query_texts)
        qrels = {q: ds.qrels[q] for q in ds.query_ids}
        if name == "cranfield":
            views.append(View("cranfield", ds.query_ids, qrels, doc_ids, table))
            continue
        column = {d: i for i, d in enumerate(doc_ids)}
        fixed = [np.array([column[h.id] for h in hits], np.int64) for hits in given]
        table["R"] = run_table(given, column)
        views.append(View("dl19-rerank", ds.query_ids, qrels, doc_ids, table, fixed))
        views.append(View("dl19-full", ds.query_ids, qrels, doc_ids, table))
    return views


def bm25_table(doc_ids: list[str], doc_texts: list[str], queries: list[str]) -> np.ndarray:
    """BM25 scores (``indexes.BM25Index``, its defaults) of every document per query."""
    from indexes import BM25Index

    index = BM25Index.create()
    index.add(doc_ids, doc_texts)
    return full_table({"B": queries}, {"B": index}, len(doc_ids), doc_ids)["B"]


def run_table(given: list[list[Hit]], column: Mapping[str, int]) -> np.ndarray:
    """``bm25.run``'s own scores of each query's candidates (others: far below)."""
    table = np.full((len(given), len(column)), -1e9)
    for q, hits in enumerate(given):
        for hit in hits:
            table[q, column[hit.id]] = hit.score
    return table


def dl19_pool(data: Path) -> tuple[Any, list[str], list[list[Hit]]]:
    """The DL19 set, its pooled doc ids (BM25 candidate order) and each query's candidates
    as ``bm25.run`` gives them (with its scores)."""
    ds = load_beir(data / "trec-dl19")
    bm25 = read_run(data / "trec-dl19" / "bm25.run")
    given = [list(bm25.get(q, [])) for q in ds.query_ids]
    pool = list(dict.fromkeys(h.id for hits in given for h in hits))
    return ds, pool, given


def door_rows(data: Path, cache: Path | None) -> list[dict[str, Any]]:
    """The default hybrid as the doors build it (``adapters.pipeline.Pipeline`` from a
    ``PipelineConfig(pipeline="hybrid")``, without and with SPLADE-tiny), filled from the
    encoding cache (``Collection.add`` / ``put_documents`` with the cached vectors):
    Cranfield and DL19 full-corpus search, and DL19 reranking of ``bm25.run``'s top 100 as
    ``retrieval eval`` runs it (documents kept, no index; ``Pipeline.candidate_reranker``,
    the run's scores under ``source="run"``)."""
    from eval_common import MINILM, encode_cached, load_encoders, splade_folder
    from hybrid_latency import as_encoded, fill

    from adapters.pipeline import Pipeline, PipelineConfig

    cran = load_beir(data / "cranfield")
    dl19, pool, given = dl19_pool(data)
    texts = dl19.texts_by_id()
    tok, spl = load_encoders()
    rows = []
    for sparse in (None, splade_folder()):
        config = PipelineConfig(
            pipeline="hybrid",
            model=MINILM,
            sparse_model=sparse,
            sparse_max_model_len=256,
            device="cpu",
        )
        parts = "dense+SPLADE+BM25+MaxSim" if sparse else "dense+BM25+MaxSim"
        label = f"default hybrid (Pipeline), {parts}"
        for name, ds, doc_ids, doc_texts in (
            ("cranfield", cran, cran.doc_ids, cran.doc_texts),
            ("dl19", dl19, pool, [texts[d] for d in pool]),
        ):
            encoded, _ = encode_cached(tok, f"{name}-minilm-tokens", doc_texts, cache)
            if sparse:
                encoded |= encode_cached(spl, f"{name}-splade256", doc_texts, cache)[0]
            pipe = Pipeline(config)
            fill(pipe, doc_ids, doc_texts, encoded)
            view = "cranfield" if name == "cranfield" else "dl19-full"
            found = pipe.retriever.search_batch(ds.query_texts, k=100)
            runs = [(view, dict(zip(ds.query_ids, found, strict=True)), pipe.retriever)]
            # k = 10 takes fewer candidates per stage (the depth is shared out; k = 100
            # takes 100 from each): the ranking a user asking for 10 hits gets.
            top10 = pipe.retriever.search_batch(ds.query_texts, k=10)
            runs.append((f"{view} k=10", dict(zip(ds.query_ids, top10, strict=True)), None))
            if name == "dl19":
                kept = Pipeline(config)
                kept.put_documents(doc_ids, doc_texts, encoded=as_encoded(kept, doc_texts, encoded))
                reranker = kept.candidate_reranker()
                ranked = reranker.rerank_batch(ds.query_texts, given, k=100, source="run")
                runs.append(("dl19-rerank", dict(zip(ds.query_ids, ranked, strict=True)), reranker))
            for view, found_run, retriever in runs:
                row = {"view": view, "setting": label, **_metrics(ds, found_run)}
                row["retriever"] = repr(retriever) if retriever is not None else "k=10"
                print(json.dumps(row), flush=True)
                rows.append(row)
    return rows


def _metrics(ds: Any, run: dict[str, list[Hit]]) -> dict[str, float]:
    out: dict[str, float] = {}
    halves = {"all": ds.query_ids, "A": ds.query_ids[0::2], "B": ds.query_ids[1::2]}
    for half, ids in halves.items():
        metrics = evaluate_run({q: ds.qrels[q] for q in ids}, {q: run[q] for q in ids})
        out[f"ndcg@10 {half}"] = round(metrics["ndcg@10"], 4)
        out[f"recall@100 {half}"] = round(metrics["recall@100"], 4)
    return out
