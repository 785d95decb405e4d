import io
import json
import math

import pytest
from django.core.management import CommandError, call_command

from apps.documents.models import Document, StepRun
from apps.domains.models import Domain
from apps.search.services.evaluation import dataset_load, evaluate_rankings, ndcg_at_k, rank_documents, recall_at_k
from tests.search.factories import make_document

CORPUS = [
    {"_id": "d1", "title": "Wing flutter", "text": "Flutter of a swept wing at transonic speed."},
    {"_id": "d2", "title": "Boundary layer", "text": "Laminar boundary layer transition on a flat plate."},
    {"_id": "d3", "title": "Shock tubes", "text": "Shock tube experiments measure heat transfer."},
]
QUERIES = [{"_id": "q1", "text": "boundary layer transition"}, {"_id": "q2", "text": "shock heat transfer flutter"}]
QRELS = [("q1", "d2", 2), ("q1", "d1", 1), ("q2", "d3", 3), ("q2", "d1", 1)]


@pytest.fixture
def dataset_dir(tmp_path):
    (tmp_path / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in CORPUS) + "\n")
    (tmp_path / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in QUERIES) + "\n")
    (tmp_path / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in QRELS))
    return tmp_path


def test_metric_formulas_against_hand_computed_values():
    grades = {"d2": 2, "d1": 1}
    # DCG = (2^2-1)/log2(2) = 3 ; IDCG = 3 + (2^1-1)/log2(3)
    assert ndcg_at_k(["d2"], grades) == pytest.approx(3 / (3 + 1 / math.log2(3)))
    assert ndcg_at_k(["d1", "d2"], grades) == pytest.approx((1 + 3 / math.log2(3)) / (3 + 1 / math.log2(3)))
    assert ndcg_at_k(["x", "y"], grades) == 0.0
    assert recall_at_k(["d2", "x"], grades) == 0.5
    assert recall_at_k(["x"] * 100 + ["d2"], grades) == 0.0  # rank 101 is outside the cut
    # Queries without relevant documents are left out of the average, as in BEIR.
    both = evaluate_rankings({"q1": ["d2"], "q2": ["d3", "d1"], "q3": []}, {"q1": grades, "q2": {"d3": 3, "d1": 1}})
    assert both["ndcg@10"] == pytest.approx((3 / (3 + 1 / math.log2(3)) + 1.0) / 2)
    assert both["recall@100"] == pytest.approx(0.75)


def test_dataset_loader_skips_the_qrels_header(dataset_dir):
    dataset = dataset_load(dataset_dir)
    assert set(dataset.corpus) == {"d1", "d2", "d3"} and dataset.qrels["q2"] == {"d3": 3, "d1": 1}


@pytest.mark.django_db(transaction=True)
def test_evaluate_command_ingests_through_the_pipeline_and_scores_every_mode(dataset_dir):
    """Real pipeline (document_create + eager workflow tasks), hashing embedder; keyword figures hand-computed."""
    out = io.StringIO()
    call_command("evaluate", str(dataset_dir), "--json", "--keep", stdout=out, stderr=io.StringIO())
    report = json.loads(out.getvalue())
    assert list(report) == ["keyword", "vector", "hybrid", "hybrid+expand"]
    assert all(set(v) == {"ndcg@10", "recall@100"} for v in report.values())
    # keyword: q1 → [d2] (nDCG 3/(3+1/log2 3), recall 1/2); q2 → [d3, d1] (nDCG 1, recall 1)
    assert report["keyword"]["ndcg@10"] == pytest.approx((3 / (3 + 1 / math.log2(3)) + 1) / 2, abs=1e-4)
    assert report["keyword"]["recall@100"] == pytest.approx(0.75, abs=1e-4)
    # The vector channel ranks every chunk: all relevant documents are within the first 100.
    assert report["vector"]["recall@100"] == 1.0
    domain = Domain.objects.get(slug__startswith="evaluate-")
    assert Document.objects.filter(domain=domain, status="ready").count() == 3


@pytest.mark.django_db(transaction=True)
def test_evaluate_command_cleans_up_and_prints_a_table(dataset_dir):
    out = io.StringIO()
    call_command("evaluate", str(dataset_dir), "--modes", "keyword", "--limit-queries", "1", stdout=out)
    assert "keyword" in out.getvalue() and "nDCG@10" in out.getvalue() and "1 queries" in out.getvalue()
    assert not Domain.objects.filter(slug__startswith="evaluate-").exists()


def test_evaluate_command_rejects_a_missing_dataset(tmp_path):
    with pytest.raises(CommandError, match="corpus.jsonl is missing"):
        call_command("evaluate", str(tmp_path))


@pytest.mark.django_db(transaction=True)
def test_ingestion_shows_a_progress_bar_on_stderr(dataset_dir):
    out, err = io.StringIO(), io.StringIO()
    call_command("evaluate", str(dataset_dir), "--json", stdout=out, stderr=err)
    assert "ingesting" in err.getvalue() and "doc" in err.getvalue()
    json.loads(out.getvalue())  # stdout stays one JSON object


@pytest.mark.django_db(transaction=True)
def test_evaluate_ingests_in_batches_with_progress_and_prints_metrics(dataset_dir):
    """The corpus goes through the bulk intake and the batched step tasks (one indexing batch for
    the three documents, one keyword commit), not one document at a time."""
    out, err = io.StringIO(), io.StringIO()
    call_command("evaluate", str(dataset_dir), "--keep", stdout=out, stderr=err)
    domain = Domain.objects.get(slug__startswith="evaluate-")
    index_steps = StepRun.objects.filter(run__domain=domain, step=StepRun.Step.INDEX)
    assert index_steps.count() == 3 and {s.status for s in index_steps} == {"succeeded"}
    assert [s.metrics["batch"] for s in index_steps] == [3, 3, 3]
    assert len({s.started_at for s in StepRun.objects.filter(run__domain=domain, step=StepRun.Step.ANALYZE)}) == 1
    assert "ingesting" in err.getvalue() and "3/3" in err.getvalue()
    # The search phase has its own bar: 2 judged queries × 4 modes.
    assert "searching" in err.getvalue() and "8/8" in err.getvalue()
    assert "ingested 3 documents" in out.getvalue() and "{'ready': 3}" in out.getvalue()
    table = {line.split()[0]: line.split()[1:] for line in out.getvalue().splitlines() if line.startswith(("keyword", "vector", "hybrid"))}
    assert set(table) == {"keyword", "vector", "hybrid", "hybrid+expand"}
    assert float(table["keyword"][0]) == pytest.approx((3 / (3 + 1 / math.log2(3)) + 1) / 2, abs=1e-4)


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["keyword", "hybrid"])
def test_recall_at_100_counts_100_documents_not_the_documents_of_100_chunks(user, domain, settings, mode):
    """A document with more than 100 matching chunks filled the 100 results on its own, so the
    other relevant document was never ranked; the evaluation now asks for the 100 best documents."""
    settings.SEARCH_KEYWORD_FEEDBACK_DOCS = 0
    long = make_document(domain, "Long", [f"Turbine turbine blade cooling, section {n}." for n in range(110)])
    short = make_document(domain, "Short", ["A turbine stage of a small jet engine with a long compressor ahead of it."])
    doc_ids = {long.pk: ["long"], short.pk: ["short"]}
    queries = {"q": "turbine blade cooling"}
    grades = {"q": {"long": 1, "short": 1}}

    rankings, _ = rank_documents(user=user, domain_slug=domain.slug, queries=queries, doc_ids=doc_ids, mode=mode, expand=False)
    assert rankings["q"] == ["long", "short"]
    assert evaluate_rankings(rankings, grades)["recall@100"] == 1.0
    before, _ = rank_documents(
        user=user, domain_slug=domain.slug, queries=queries, doc_ids=doc_ids, mode=mode, expand=False, group="chunks"
    )
    assert before["q"] == ["long"] and evaluate_rankings(before, grades)["recall@100"] == 0.5
