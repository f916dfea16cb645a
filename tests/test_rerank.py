"""Cross-encoder reranking with a small CrossEncoder the test trains itself (no package ships one)."""

from __future__ import annotations

import json
from dataclasses import replace

from rag.rerank import load_reranker
from rag.retrieval import SearchParams

QUERY = "which animal guards the farm at night"
CORPUS = [
    {
        "_id": "owl",
        "title": "Night animals on the farm",
        "text": "At night the farm animals sleep; owls hunt mice.",
    },
    {
        "_id": "dog",
        "title": "Sheepdogs",
        "text": "A loyal sheepdog watches over the flock and barks at foxes.",
    },
    {"_id": "cat", "title": "Barn cats", "text": "Barn cats catch rats in the hay loft during the day."},
    {"_id": "goose", "title": "Geese", "text": "Geese honk loudly at strangers and make good guards."},
]


def train_cross_encoder(directory, positives, negatives, max_steps=200):
    """A one-logit CrossEncoder from the packaged MiniLM weights, trained on (query, passage) pairs.

    The encoder is frozen and only the new head (pooler + classifier) learns, until every positive
    scores above every negative: seconds on a CPU.
    """
    import torch
    from sentence_transformers import CrossEncoder

    from rag.embedding import resolve_model_path

    torch.manual_seed(0)
    model = CrossEncoder(resolve_model_path("all-MiniLM-L6-v2"), num_labels=1, device="cpu", max_length=128)
    network, tokenizer = model.model, model.tokenizer
    for name, parameter in network.named_parameters():
        parameter.requires_grad = name.startswith(("classifier", "bert.pooler"))
    optimiser = torch.optim.AdamW([p for p in network.parameters() if p.requires_grad], lr=1e-2)
    pairs = [(q, p, 1.0) for q, p in positives] + [(q, p, 0.0) for q, p in negatives]
    labels = torch.tensor([y for *_, y in pairs])
    batch = tokenizer(
        [q for q, _, _ in pairs], [p for _, p, _ in pairs], padding=True, truncation=True, return_tensors="pt"
    )
    network.eval()  # no dropout: the ordering check below must see the same scores as inference
    for _ in range(max_steps):
        logits = network(**batch).logits.squeeze(-1)
        if logits[labels == 1].min() > logits[labels == 0].max() + 1.0:
            break
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.save(str(directory))
    return directory


def test_missing_reranker_is_reported_not_raised(tmp_path):
    reranker, status = load_reranker(str(tmp_path / "no-such-model"))
    assert reranker is None and not status.available
    assert "RAG_RERANKER_MODEL" in status.reason
    reranker, status = load_reranker("")
    assert reranker is None and "disabled" in status.reason


def test_rerank_reorders_the_fused_list(engine, tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in CORPUS))
    list(engine.ingestor().ingest_paths([path]))
    hybrid = engine.search(QUERY, SearchParams(mode="hybrid", k=4, candidates=4))
    fused_order = [c.external_id for c in hybrid.hits]
    # Teach the cross-encoder that the passage hybrid ranks LAST is the relevant one.
    target = fused_order[-1]
    text = {d["_id"]: d["title"] + "\n" + d["text"] for d in CORPUS}
    directory = train_cross_encoder(
        tmp_path / "ce",
        positives=[(QUERY, text[target])],
        negatives=[(QUERY, text[other]) for other in fused_order[:-1]],
    )
    reranker, status = load_reranker(str(directory))
    assert status.available, status.reason
    engine._reranker, engine._reranker_status = reranker, status

    reranking: list[int] = []
    trace = engine.search(QUERY, SearchParams(mode="rerank", k=2, candidates=4), on_rerank=reranking.append)
    assert reranking == [4]  # told before the cross-encoder ran, with the pool size
    assert trace.reranked and trace.params.mode == "rerank" and "rerank" in trace.timings_ms
    assert [c.external_id for c in trace.hits][0] == target
    ranked = [c for c in trace.candidates if c.rerank_score is not None]
    assert [c.rerank_score for c in ranked] == sorted((c.rerank_score for c in ranked), reverse=True)
    moved = next(c for c in trace.candidates if c.external_id == target)
    assert moved.final_rank == 1 and moved.kept
    cut = [c for c in trace.candidates if not c.kept]
    assert len(cut) == 2 and all(c.final_rank is None for c in cut)
    # Without the reranker the same parameters fall back to hybrid, visibly.
    engine._reranker, engine._reranker_status = None, replace(status, available=False, reason="gone")
    assert engine.search(QUERY, SearchParams(mode="rerank", k=2, candidates=4)).params.mode == "hybrid"


def test_reranker_truncates_long_inputs(tmp_path):
    directory = train_cross_encoder(
        tmp_path / "ce", positives=[("q", "a")], negatives=[("q", "b")], max_steps=1
    )
    reranker, status = load_reranker(str(directory), max_length=16)
    assert status.available
    scores = reranker.score("question", ["word " * 5000, "short"])  # far past the model's 512 positions
    assert scores.shape == (2,)
