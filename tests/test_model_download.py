"""Downloading the reranker for real: ``snapshot_download`` against a fake Hugging Face Hub on 127.0.0.1.

The served repository is a tiny CrossEncoder (2-layer BERT, hidden size 32) built here, next to the
variants a real repository also holds (ONNX, OpenVINO, Flax, PyTorch pickle) that must not be fetched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from fake_servers import FakeHub, free_port

from rag.catalog.download import PULL_FIX, pull_model, reranker_availability
from rag.config import DEFAULT_RERANKER_MODEL
from rag.errors import ModelDownloadError

NAME = DEFAULT_RERANKER_MODEL
PAIRS = [("which animal guards the farm", "the dog guards the farm at night"), ("which animal", "the cat")]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(
    {w for pair in PAIRS for text in pair for w in text.split()}
)
DECOYS = {  # files of the real repository that a CrossEncoder does not need
    "onnx/model.onnx": b"o" * 5000,
    "openvino/openvino_model.bin": b"v" * 5000,
    "openvino/openvino_model.xml": b"<xml/>",
    "flax_model.msgpack": b"f" * 5000,
    ".gitattributes": b"*.safetensors filter=lfs\n",
}


def build_repo(root: Path, layout: str) -> tuple[Path, np.ndarray]:
    """A tiny random CrossEncoder saved in ``layout`` plus decoy files; returns its scores of PAIRS.

    ``sentence-transformers``: ``CrossEncoder.save_pretrained`` (modules.json, README.md...);
    ``transformers``: only ``save_pretrained`` of model and tokenizer, like the real
    cross-encoder/ms-marco-MiniLM-L-6-v2, whose repository also has a ``pytorch_model.bin``.
    """
    import torch
    from sentence_transformers import CrossEncoder
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    torch.manual_seed(0)
    root.mkdir(parents=True)
    (root.parent / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(root.parent / "vocab.txt"))
    config = BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=1,
    )
    network = BertForSequenceClassification(config).eval()
    if layout == "transformers":
        network.save_pretrained(root)
        tokenizer.save_pretrained(root)
        torch.save(network.state_dict(), root / "pytorch_model.bin")
    else:
        plain = root.parent / "plain"
        network.save_pretrained(plain)
        tokenizer.save_pretrained(plain)
        CrossEncoder(str(plain), device="cpu").save_pretrained(str(root))
    for name, data in DECOYS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    scores = CrossEncoder(str(root), device="cpu").predict(PAIRS, activation_fn=torch.nn.Identity())
    return root, np.asarray(scores)


@pytest.fixture(scope="module", params=["sentence-transformers", "transformers"])
def repo(request, tmp_path_factory):
    return build_repo(tmp_path_factory.mktemp("repo") / request.param, request.param)


@pytest.fixture(scope="module")
def hub_layout_repo(tmp_path_factory):
    """The layout of the real cross-encoder/ms-marco-MiniLM-L-6-v2 (for the slower end-to-end run)."""
    return build_repo(tmp_path_factory.mktemp("hub-layout") / "transformers", "transformers")


def expected_files(root: Path) -> set[str]:
    files = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    return files - set(DECOYS) - {"pytorch_model.bin"}


def test_pull_downloads_the_cross_encoder_with_progress_and_it_loads(repo, tmp_path, monkeypatch):
    import huggingface_hub.constants
    import torch
    from sentence_transformers import CrossEncoder

    root, scores = repo
    # Small chunks, so one file reports progress several times, as a 91 MB file does in 10 MB chunks.
    monkeypatch.setattr(huggingface_hub.constants, "DOWNLOAD_CHUNK_SIZE", 16 * 1024)
    cache = tmp_path / "hub"
    seen: list[tuple[int, int | None]] = []
    with FakeHub({NAME: root}) as hub:
        result = pull_model(
            NAME, progress=lambda done, total: seen.append((done, total)), cache_dir=cache, endpoint=hub.url
        )
        first_gets = hub.file_gets()

    wanted = expected_files(root)
    assert set(result.files) == wanted and not result.already_present
    assert set(first_gets) == wanted  # no ONNX, OpenVINO, Flax or pickle bytes were fetched
    total = sum((root / f).stat().st_size for f in wanted)
    assert result.total_bytes == total and result.downloaded_bytes == total
    counts = [done for done, _ in seen]
    assert counts == sorted(counts) and counts[-1] == total
    assert {t for _, t in seen} == {total}
    assert len(set(counts)) > len(wanted)  # per chunk, not only per file
    assert {str(p.relative_to(result.path)) for p in result.path.rglob("*") if p.is_file()} == wanted
    assert all((result.path / f).read_bytes() == (root / f).read_bytes() for f in wanted)

    model = CrossEncoder(NAME, local_files_only=True, cache_folder=str(cache), device="cpu")
    loaded = model.predict(PAIRS, activation_fn=torch.nn.Identity())
    np.testing.assert_allclose(loaded, scores, rtol=1e-5, atol=1e-6)

    status = reranker_availability(NAME, cache_dir=cache)
    assert status.present and status.path == result.path and status.fix is None


def test_second_pull_fetches_nothing_and_works_with_the_hub_down(repo, tmp_path):
    root, _ = repo
    cache = tmp_path / "hub"
    with FakeHub({NAME: root}) as hub:
        url = hub.url
        pull_model(NAME, progress=lambda *_: None, cache_dir=cache, endpoint=url)
        hub.requests.clear()
        again = pull_model(NAME, progress=lambda *_: None, cache_dir=cache, endpoint=hub.url)
        assert again.already_present and again.downloaded_bytes == 0 and hub.file_gets() == []
    offline = pull_model(NAME, progress=lambda *_: None, cache_dir=cache, endpoint=url)  # server stopped
    assert offline.already_present and offline.path == again.path


def test_pull_goes_online_although_hf_hub_offline_is_set(repo, tmp_path, monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # as after rag.embedding.offline_and_quiet()
    with FakeHub({NAME: repo[0]}) as hub:
        result = pull_model(NAME, progress=lambda *_: None, cache_dir=tmp_path / "hub", endpoint=hub.url)
    assert result.downloaded_bytes > 0
    assert constants.HF_HUB_OFFLINE is True  # restored for everything else


def test_pull_in_a_fresh_process_then_the_engine_loads_it_offline(hub_layout_repo, tmp_path):
    """``rag models pull`` then a search: HF_ENDPOINT and HF_HUB_OFFLINE=1 are read as the library loads,
    and ``rag.rerank.load_reranker`` (local files only) finds the pulled model in the default cache."""
    from rag.rerank import load_reranker

    query, passages = PAIRS[0][0], [p for _, p in PAIRS]
    code = (
        "import json; from rag.catalog.download import pull_model; from rag.rerank import load_reranker; "
        f"r = pull_model({NAME!r}, progress=lambda d, t: None); "
        f"reranker, status = load_reranker({NAME!r}); "
        f"scores = reranker.score({query!r}, {passages!r}).tolist() if reranker else None; "
        "print(json.dumps({'path': str(r.path), 'bytes': r.downloaded_bytes, 'reason': status.reason, 'scores': scores}))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE")}
    env |= {
        "HF_HOME": str(tmp_path / "hf-home"),
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(Path(__file__).parents[1]),
    }
    with FakeHub({NAME: hub_layout_repo[0]}) as hub:
        env["HF_ENDPOINT"] = hub.url
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        assert hub.file_gets()  # the files came from this server, not from huggingface.co
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(out["path"]).is_relative_to(tmp_path / "hf-home" / "hub") and out["bytes"] > 0
    assert out["scores"] is not None, out["reason"]
    original, _ = load_reranker(str(hub_layout_repo[0]))
    np.testing.assert_allclose(out["scores"], original.score(query, passages), rtol=1e-5, atol=1e-6)


def test_no_network_raises_with_the_fix_and_availability_says_so(tmp_path, monkeypatch):
    down = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ModelDownloadError) as info:
        pull_model(NAME, progress=lambda *_: None, cache_dir=tmp_path / "hub", endpoint=down)
    message = str(info.value)
    assert down in message and "cannot be reached" in message and PULL_FIX in message
    assert "rag models pull" in PULL_FIX and "RAG_RERANKER_MODEL=/path" in PULL_FIX

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    status = reranker_availability(NAME, cache_dir=tmp_path / "hub")
    assert not status.present and status.offline and status.fix == PULL_FIX
    assert "HF_HUB_OFFLINE=1" in status.message and str(tmp_path / "hub") in status.message


def test_unknown_repository_names_the_setting(repo, tmp_path):
    with FakeHub({NAME: repo[0]}) as hub:
        with pytest.raises(ModelDownloadError, match="has no model 'nobody/nothing'"):
            pull_model(
                "nobody/nothing", progress=lambda *_: None, cache_dir=tmp_path / "hub", endpoint=hub.url
            )


def test_repository_without_weights_is_rejected(tmp_path):
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "README.md").write_text("just a card")
    (tmp_path / "repo" / "config.json").write_text("{}")
    with FakeHub({"someone/card-only": tmp_path / "repo"}) as hub:
        with pytest.raises(ModelDownloadError, match="is not a CrossEncoder model: it has no model weights"):
            pull_model(
                "someone/card-only", progress=lambda *_: None, cache_dir=tmp_path / "hub", endpoint=hub.url
            )


def test_progress_callback_errors_propagate_and_network_flag_is_restored(repo, tmp_path, monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    class Cancelled(Exception):
        pass

    def cancel(done, total):
        raise Cancelled

    # The weights arrive a second after the small files, so the cancel always comes before them.
    with FakeHub({NAME: repo[0]}, slow={"model.safetensors": 1.0}) as hub, pytest.raises(Cancelled):
        pull_model(NAME, progress=cancel, cache_dir=tmp_path / "hub", endpoint=hub.url)
    assert constants.HF_HUB_OFFLINE is True
    assert not [t for t in threading.enumerate() if t.name.startswith("rag-pull-")]  # downloads stopped
    assert not reranker_availability(NAME, cache_dir=tmp_path / "hub").present


def test_availability_of_directories_and_disabled(repo, tmp_path):
    root, _ = repo
    assert reranker_availability(str(root)).present
    empty = tmp_path / "empty"
    empty.mkdir()
    status = reranker_availability(str(empty))
    assert not status.present and "config.json" in status.message
    status = reranker_availability(str(tmp_path / "missing"))
    assert not status.present and "does not exist" in status.message
    status = reranker_availability("")
    assert not status.present and "disabled" in status.message and DEFAULT_RERANKER_MODEL in status.fix
