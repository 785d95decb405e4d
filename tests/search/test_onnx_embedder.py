"""The ONNX embedder reproduces sentence-transformers' all-MiniLM-L6-v2 vectors, and warms up once per process."""

import numpy as np
import onnxruntime
import pytest

from apps.search.backends.embeddings import base, onnx
from apps.search.backends.embeddings.local import SentenceTransformerEmbedder
from apps.search.backends.embeddings.onnx import OnnxEmbedder, OnnxExportError, onnx_export_cached

TEXTS = [
    "rotor blade vortex",
    "What is the heat transfer rate at the stagnation point of a blunt body at hypersonic speeds?",
    "",
    "Ünïcödé tëxt — 日本語のテキスト, émigré café",
    # Well over the 256-token limit: both runtimes must truncate at the same token.
    " ".join(["the laminar boundary layer separates on a flat plate under an adverse pressure gradient"] * 60),
    "a" * 3000,
]


@pytest.fixture(scope="module")
def onnx_embedder(tmp_path_factory):
    return OnnxEmbedder(cache_dir=str(tmp_path_factory.mktemp("models")), batch_size=4)


def test_vectors_match_sentence_transformers(onnx_embedder):
    """Mean pooling, L2 normalisation and the 256-token limit reproduce the torch model (cosine >= 0.9999)."""
    expected = SentenceTransformerEmbedder().embed_documents(TEXTS)
    documents = onnx_embedder.embed_documents(TEXTS)
    queries = np.vstack([onnx_embedder.embed_query(text) for text in TEXTS])
    assert documents.shape == (len(TEXTS), 384) and documents.dtype == np.float32
    assert np.allclose(np.linalg.norm(documents, axis=1), 1.0, atol=1e-5)
    assert (documents * expected).sum(axis=1).min() >= 0.9999
    assert (queries * expected).sum(axis=1).min() >= 0.9999
    # Batching (padding to the batch's longest text) changes nothing either.
    assert np.allclose(documents, queries, atol=1e-5)


def test_the_export_is_cached_and_reused(onnx_embedder, tmp_path):
    first = onnx_export_cached(onnx_embedder.model_path, onnx_embedder.cache_dir)
    modified = first.stat().st_mtime_ns
    assert onnx_export_cached(onnx_embedder.model_path, onnx_embedder.cache_dir) == first
    assert first.stat().st_mtime_ns == modified
    assert not list(onnx_embedder.cache_dir.glob("*.partial"))


def test_an_explicit_onnx_path_is_used(onnx_embedder):
    exported = onnx_export_cached(onnx_embedder.model_path, onnx_embedder.cache_dir)
    explicit = OnnxEmbedder(onnx_path=str(exported))
    assert explicit.resolved_onnx_path() == exported
    assert np.allclose(explicit.embed_query("vortex"), onnx_embedder.embed_query("vortex"), atol=1e-6)


def test_a_missing_or_corrupted_onnx_file_is_a_clear_error(tmp_path):
    missing = OnnxEmbedder(onnx_path=str(tmp_path / "nope.onnx"))
    assert missing.health().ok is False and "nope.onnx" in missing.health().detail
    with pytest.raises(OnnxExportError, match="does not exist"):
        missing.embed_query("vortex")
    corrupted = tmp_path / "corrupted.onnx"
    corrupted.write_bytes(b"not a model")
    with pytest.raises(OnnxExportError, match="cannot load the ONNX model"):
        OnnxEmbedder(onnx_path=str(corrupted)).embed_query("vortex")


def test_unknown_document_runtime_is_refused():
    with pytest.raises(ValueError, match="documents must be one of"):
        OnnxEmbedder(documents="tensorflow")


def test_warm_up_runs_once_per_process_in_the_background(onnx_embedder, monkeypatch):
    calls = []
    monkeypatch.setattr(base, "_warm_threads", {})
    monkeypatch.setattr(base, "_warm_done", {})
    monkeypatch.setattr(OnnxEmbedder, "warm", lambda self, documents=False: calls.append(documents))
    state = onnx_embedder.warm_state()
    assert state.ok is False and "warming up" in state.detail
    thread = base._warm_threads[onnx_embedder.warm_key()]
    thread.join(10)
    onnx_embedder.warm_in_background()
    assert calls == [False]
    assert onnx_embedder.warm_state().ok is True


def test_session_threads_do_not_spin_and_default_to_the_cores(monkeypatch):
    """Idle pool threads must not spin (they would take the CPU of the other processes on the
    host); 0 threads means one per core this process may use, capped."""
    options = onnx.session_options(onnxruntime.SessionOptions(), 3)
    assert options.intra_op_num_threads == 3 and options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.get_session_config_entry("session.inter_op.allow_spinning") == "0"
    monkeypatch.setattr(onnx.os, "sched_getaffinity", lambda pid: {0, 1})
    assert onnx.session_options(onnxruntime.SessionOptions(), 0).intra_op_num_threads == 2
    monkeypatch.setattr(onnx.os, "sched_getaffinity", lambda pid: set(range(64)))
    assert onnx.intra_op_threads(0) == onnx.MAX_DEFAULT_THREADS
