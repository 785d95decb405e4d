"""``group="documents"``: the k best documents, each by its best chunk, through the API and the service."""

import pytest

from apps.core.exceptions import ServiceError
from apps.documents.models import Document
from apps.search.services import search as search_module
from apps.search.services import search_run
from tests.search.factories import SEARCH_URL, api_search, bump, make_document

pytestmark = pytest.mark.django_db

URL = SEARCH_URL
search = api_search


def result_documents(body) -> list[str]:
    return [r["document"]["title"] for r in body["results"]]


@pytest.fixture
def crowded(domain, settings):
    """One long document whose six chunks all out-score every other document's for "turbine"."""
    # Exact term matching: RM3 feedback would add chunks without the term and blur the ranking.
    settings.SEARCH_KEYWORD_FEEDBACK_DOCS = 0
    return {
        "long": make_document(domain, "Long", [f"Turbine turbine turbine blade cooling, part {n}." for n in range(6)]),
        "second": make_document(domain, "Second", ["A turbine stage of a small jet engine with a long compressor ahead of it."]),
        "third": make_document(domain, "Third", ["The turbine of a steam plant, far downstream of the boiler and the feed pumps."]),
        "unrelated": make_document(domain, "Unrelated", ["Laminar boundary layers on a flat plate."]),
    }


def test_chunks_let_one_document_fill_k_but_documents_do_not(owner_client, crowded):
    chunks = search(owner_client, query="turbine", mode="keyword", k=3)
    assert chunks["group"] == "chunks"
    assert result_documents(chunks) == ["Long", "Long", "Long"]
    assert [d["title"] for d in chunks["documents"]] == ["Long"]

    documents = search(owner_client, query="turbine", mode="keyword", k=3, group="documents")
    assert documents["group"] == "documents"
    assert result_documents(documents) == ["Long", "Second", "Third"]
    assert [d["title"] for d in documents["documents"]] == ["Long", "Second", "Third"]
    assert all(len(d["chunk_ids"]) == 1 for d in documents["documents"])


def test_each_document_is_represented_by_its_best_chunk(owner_client, crowded):
    best_of = {}
    for r in search(owner_client, query="turbine", mode="keyword", k=100)["results"]:
        best_of.setdefault(r["document"]["id"], r)  # results are best first
    body = search(owner_client, query="turbine", mode="keyword", k=100, group="documents")
    assert {r["document"]["id"]: r["chunk_id"] for r in body["results"]} == {i: r["chunk_id"] for i, r in best_of.items()}
    assert [r["score"] for r in body["results"]] == sorted((r["score"] for r in body["results"]), reverse=True)


@pytest.mark.parametrize("mode", ["keyword", "vector", "hybrid"])
def test_k_distinct_documents_even_when_the_first_candidates_are_one_document(owner_client, crowded, mode):
    """Vector and keyword mode start with k candidates per channel (six chunks of "Long" fill
    them at k=2): the channels are asked deeper until k distinct documents are found."""
    body = search(owner_client, query="turbine turbine turbine blade cooling part", mode=mode, k=2, group="documents")
    ids = [r["document"]["id"] for r in body["results"]]
    assert len(ids) == 2 and len(set(ids)) == 2
    assert ids[0] == crowded["long"].pk
    assert [d["id"] for d in body["documents"]] == ids


@pytest.mark.parametrize("k", [1, 2, 4])
def test_k_is_honoured(owner_client, crowded, k):
    body = search(owner_client, query="turbine blade jet steam boundary", mode="vector", k=k, group="documents")
    ids = [r["document"]["id"] for r in body["results"]]
    assert len(ids) == k and len(set(ids)) == k


def test_fewer_documents_than_k_when_the_channels_run_dry(owner_client, crowded):
    body = search(owner_client, query="turbine", mode="keyword", k=10, group="documents")
    assert result_documents(body) == ["Long", "Second", "Third"]  # only three documents hold the term
    body = search(owner_client, query="turbine", mode="vector", k=100, group="documents")
    assert len(body["results"]) == 4  # the vector channel ranks every chunk of the four documents


def test_the_depth_limit_bounds_the_deepening(owner_client, crowded, monkeypatch):
    """Past DOCUMENT_DEPTH_LIMIT candidate chunks the search answers with the documents it found."""
    monkeypatch.setattr(search_module, "DOCUMENT_DEPTH_LIMIT", 4)
    body = search(owner_client, query="turbine", mode="keyword", k=3, group="documents")
    assert result_documents(body) == ["Long"]  # the first four keyword hits are all "Long"'s


@pytest.mark.parametrize("mode", ["keyword", "vector", "hybrid"])
def test_filters_are_kept(owner_client, crowded, mode):
    only = [crowded["second"].pk, crowded["unrelated"].pk]
    body = search(owner_client, query="turbine", mode=mode, k=5, group="documents", filters={"document_ids": only})
    assert {r["document"]["id"] for r in body["results"]} <= set(only)
    assert crowded["second"].pk in {r["document"]["id"] for r in body["results"]}
    assert search(owner_client, query="turbine", mode=mode, group="documents", filters={"language": ["de"]})["results"] == []


def test_replaced_and_deleted_documents_are_skipped(owner_client, domain, crowded):
    make_document(domain, "Long", ["Wombats dig burrows."], document=crowded["long"])
    body = search(owner_client, query="turbine", mode="keyword", k=3, group="documents")
    assert result_documents(body) == ["Second", "Third"]
    Document.objects.filter(pk=crowded["second"].pk).delete()
    bump(domain)
    assert result_documents(search(owner_client, query="turbine", mode="keyword", k=3, group="documents")) == ["Third"]


def test_get_takes_group(owner_client, crowded):
    response = owner_client.get(URL, {"q": "turbine", "mode": "keyword", "k": "3", "group": "documents"})
    assert response.status_code == 200, response.content
    assert result_documents(response.json()) == ["Long", "Second", "Third"]


@pytest.mark.parametrize("group", ["paragraphs", "", "Documents", 1, None])
def test_a_bad_group_is_a_400(owner_client, domain, group):
    response = owner_client.post(URL, {"query": "lift", "group": group}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid" and "group" in str(response.json()["error"])


def test_a_bad_group_in_the_query_string_is_a_400(owner_client, domain):
    response = owner_client.get(URL, {"q": "lift", "group": "pages"})
    assert response.status_code == 400 and "group" in str(response.json()["error"])


def test_the_service_refuses_an_unknown_group(user, domain):
    with pytest.raises(ServiceError) as caught:
        search_run(user=user, query="lift", group="pages")
    assert caught.value.code == "invalid_group" and "chunks, documents" in str(caught.value)
