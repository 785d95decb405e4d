import threading

import pytest
from django.test import override_settings

from apps.documents.models import Document
from apps.search.backends.graph.embedded import EmbeddedGraphStore
from apps.search.backends.vectors.embedded import EmbeddedVectorStore
from apps.search.engines.keyword import keyword_engine
from apps.search.services.fusion import convex_fuse, rrf_fuse
from tests.factories import DomainFactory, MembershipFactory, UserFactory
from tests.search.factories import SEARCH_URL, api_search, bump, make_document, make_entity, mention, relate

pytestmark = pytest.mark.django_db

URL = SEARCH_URL
search = api_search


def titles(body):
    return [r["document"]["title"] for r in body["results"]]


@pytest.fixture
def corpus(domain):
    return {
        "turbine": make_document(domain, "Turbine blades", ["Turbine blade cooling at high temperature in jet engines."]),
        "boundary": make_document(domain, "Boundary layers", ["Laminar boundary layer separation on a flat plate."]),
        "shock": make_document(domain, "Shock waves", ["Oblique shock waves form ahead of a supersonic wedge."]),
        "heat": make_document(domain, "Heat transfer", ["Heat transfer and cooling of a heated cylinder in cross flow."]),
    }


def test_exact_keyword_match_ranks_first_in_keyword_mode(owner_client, corpus):
    body = search(owner_client, query="supersonic wedge", mode="keyword")
    assert titles(body)[0] == "Shock waves"
    top = body["results"][0]
    assert top["scores"]["keyword"]["rank"] == 1 and "vector" not in top["scores"]
    assert top["highlighted"].count("<mark>") == 2 and "<mark>supersonic</mark>" in top["highlighted"]
    assert [top["text"][s:e] for s, e in top["highlights"]] == ["supersonic", "wedge"]
    # Only chunks containing a query term match in keyword mode.
    assert titles(body) == ["Shock waves"]


def test_keyword_mode_stems_and_drops_stopwords(owner_client, corpus):
    body = search(owner_client, query="the cooled turbines", mode="keyword")
    assert titles(body)[0] == "Turbine blades"
    assert set(titles(body)) == {"Turbine blades", "Heat transfer"}  # "cooling" matches "cooled"


def test_response_carries_citations_documents_and_timings(owner_client, corpus, domain):
    body = search(owner_client, query="cooling", k=5)
    result = body["results"][0]
    assert {"chunk_id", "text", "document", "version", "start", "end", "page", "scores", "score"} <= set(result)
    assert result["version"]["number"] == 1 and result["page"] == 1 and result["domain"] == domain.slug
    assert {"fused", "keyword", "vector"} <= set(result["scores"])
    assert {d["id"] for d in body["documents"]} == {r["document"]["id"] for r in body["results"]}
    assert {"embed", "vector", "keyword", "fusion", "hydrate", "total"} <= set(body["timings_ms"])
    assert body["degraded"] == [] and body["domains"] == [domain.slug]


def test_get_with_query_parameters(owner_client, corpus):
    response = owner_client.get(URL, {"q": "laminar boundary", "mode": "keyword", "k": "3"})
    assert response.status_code == 200
    assert response.json()["results"][0]["document"]["title"] == "Boundary layers"


def test_filters_restrict_every_channel(owner_client, corpus):
    only = corpus["heat"].pk
    for mode in ("keyword", "vector", "hybrid"):
        body = search(owner_client, query="cooling turbine", mode=mode, filters={"document_ids": [only]})
        assert {r["document"]["id"] for r in body["results"]} == {only}, mode
    body = search(owner_client, query="cooling", filters={"language": ["de"]})
    assert body["results"] == []


def test_entity_type_filter(owner_client, corpus):
    engine = make_entity(corpus["turbine"].domain, "jet engines", "technology")
    mention(engine, corpus["turbine"])
    body = search(owner_client, query="cooling", filters={"entity_type": "technology"})
    assert titles(body) == ["Turbine blades"]


# --- fusion ------------------------------------------------------------------------
def test_rrf_fuse_keeps_hits_of_either_channel_and_adds_shared_ones():
    fused = rrf_fuse({"vector": [(1, 0.9), (2, 0.8)], "keyword": [(3, 7.0), (1, 5.0)]}, weights={"vector": 1, "keyword": 1}, k=60)
    assert [h.chunk_id for h in fused] == [1, 3, 2]
    assert fused[0].score == pytest.approx(1 / 61 + 1 / 62)
    assert fused[0].channels == {"vector": (1, 0.9), "keyword": (2, 5.0)}
    weighted = rrf_fuse({"vector": [(1, 0.9)], "keyword": [(3, 7.0)]}, weights={"vector": 1, "keyword": 2}, k=60)
    assert [h.chunk_id for h in weighted] == [3, 1]


def test_convex_fuse_normalizes_each_channel_and_rewards_the_margin():
    rankings = {"vector": [(1, 0.9), (2, 0.5), (3, 0.1)], "keyword": [(3, 20.0), (2, 19.0), (4, 0.0)]}
    fused = convex_fuse(rankings, weights={"vector": 1, "keyword": 1})
    # min-max per channel: vector 1→1, 2→.5, 3→0; keyword 3→1, 2→.95, 4→0; each weighs 1/2.
    assert [h.chunk_id for h in fused] == [2, 1, 3, 4]
    assert fused[0].score == pytest.approx((0.5 + 0.95) / 2)
    assert fused[0].channels == {"vector": (2, 0.5), "keyword": (2, 19.0)}
    assert fused[-1].score == 0.0  # kept: fusion never drops a hit
    weighted = convex_fuse(rankings, weights={"vector": 3, "keyword": 1})
    assert [h.chunk_id for h in weighted][:2] == [1, 2]
    single = convex_fuse({"vector": [(7, 0.4)], "keyword": []}, weights={"vector": 1, "keyword": 1})
    assert [(h.chunk_id, h.score) for h in single] == [(7, 0.5)]  # a lone hit is its channel's best


MINILM = {
    "default": {"BACKEND": "apps.search.backends.embeddings.local.SentenceTransformerEmbedder", "OPTIONS": {}},
}


@override_settings(EMBEDDERS=MINILM)
def test_paraphrase_found_in_vector_mode_and_fusion_keeps_both(owner_client, domain):
    """Real all-MiniLM-L6-v2 (offline): the hashing test embedder cannot match paraphrases."""
    make_document(domain, "Cars", ["The automobile needs new tyres before the winter."])
    make_document(domain, "Bread", ["Bake the loaf in a hot oven for forty minutes."])
    make_document(domain, "Rates", ["The central bank raised interest rates again."])
    make_document(domain, "Birds", ["Swallows migrate south when autumn comes."])
    make_document(domain, "Code", ["Error code QX-7731 means the valve is stuck."])

    keyword = search(owner_client, query="vehicle maintenance", mode="keyword")
    assert keyword["results"] == []  # no shared word: the keyword channel cannot find it
    vector = search(owner_client, query="vehicle maintenance", mode="vector", k=1)
    assert titles(vector) == ["Cars"]

    hybrid = search(owner_client, query="vehicle maintenance QX-7731", mode="hybrid", k=2)
    by_title = {r["document"]["title"]: r for r in hybrid["results"]}
    assert set(by_title) == {"Cars", "Code"}
    assert by_title["Code"]["scores"]["keyword"]["rank"] == 1
    assert "keyword" not in by_title["Cars"]["scores"] and by_title["Cars"]["scores"]["vector"]["rank"] <= 2


# --- graph expansion ---------------------------------------------------------------
@pytest.fixture
def graph(domain):
    a = make_document(domain, "Alpha", ["Wind tunnel tests of the Delta wing."])
    b = make_document(domain, "Beta", ["Vortex lift measured on slender bodies."])
    c = make_document(domain, "Gamma", ["Flutter of panels in a hypersonic stream."])
    make_document(domain, "Noise", ["Nothing related at all."])
    delta, vortex, flutter = make_entity(domain, "Delta wing"), make_entity(domain, "vortex lift"), make_entity(domain, "panel flutter")
    mention(delta, a)
    mention(vortex, b)
    mention(flutter, c)
    relate(delta, vortex, a)
    relate(vortex, flutter, b)
    return {"a": a, "b": b, "c": c, "delta": delta, "vortex": vortex, "flutter": flutter}


def test_graph_expansion_returns_connected_documents(owner_client, graph):
    plain = search(owner_client, query="wind tunnel", mode="keyword", k=1)
    assert [d["title"] for d in plain["documents"]] == ["Alpha"]
    assert {e["name"] for e in plain["entities"]} == {"Delta wing"}

    one = search(owner_client, query="wind tunnel", mode="keyword", k=1, expand=True, hops=1)
    docs = {d["title"]: d for d in one["documents"]}
    assert set(docs) == {"Alpha", "Beta"}
    assert docs["Beta"]["via"] == ["graph"] and docs["Alpha"]["via"] == ["search"]
    assert [d["title"] for d in one["documents"]][0] == "Alpha"
    assert {e["name"] for e in one["entities"]} == {"Delta wing", "vortex lift"}
    assert [(r["source_name"], r["target_name"]) for r in one["relations"]] == [("Delta wing", "vortex lift")]
    assert "expansion" in one["timings_ms"]

    two = search(owner_client, query="wind tunnel", mode="keyword", k=1, expand=True, hops=2)
    assert {d["title"] for d in two["documents"]} == {"Alpha", "Beta", "Gamma"}


# --- domain scoping ----------------------------------------------------------------
@pytest.fixture
def two_domains(domain, user):
    other = DomainFactory()
    stranger = UserFactory()
    MembershipFactory(domain=other, user=stranger, role="owner")
    mine = make_document(domain, "Mine", ["Compressor stall in axial machines."])
    theirs = make_document(other, "Theirs", ["Zanzibarite compressor secret formula."])
    # Same entity key in both domains; only B's is connected to B's secret document.
    shared_a = make_entity(domain, "compressor")
    mention(shared_a, mine)
    shared_b, secret = make_entity(other, "compressor"), make_entity(other, "zanzibarite")
    mention(shared_b, theirs)
    relate(shared_b, secret, theirs)
    other_doc = make_document(other, "Theirs too", ["Zanzibarite appears here as well."])
    mention(secret, other_doc)
    return {"other": other, "stranger": stranger, "mine": mine, "theirs": theirs}


@pytest.mark.parametrize("mode", ["keyword", "vector", "hybrid"])
def test_a_term_only_in_another_domain_never_surfaces(owner_client, client_for, two_domains, mode):
    body = search(owner_client, query="zanzibarite compressor", mode=mode, k=20, expand=True, hops=3)
    assert {r["document"]["title"] for r in body["results"]} <= {"Mine"}
    assert {d["title"] for d in body["documents"]} <= {"Mine"}
    assert all(e["name"] != "zanzibarite" for e in body["entities"])
    assert "Zanzibarite" not in str(body)
    # Positive control: the owner of B finds it.
    theirs = search(client_for(two_domains["stranger"]), query="zanzibarite", mode=mode, k=5)
    assert theirs["results"][0]["document"]["title"].startswith("Theirs")


def test_expansion_for_the_other_domains_member_does_follow_its_graph(client_for, two_domains):
    body = search(client_for(two_domains["stranger"]), query="compressor formula", mode="keyword", k=1, expand=True)
    assert {d["title"] for d in body["documents"]} == {"Theirs", "Theirs too"}


def test_unreadable_or_unknown_domain_is_404(owner_client, two_domains):
    for slug in (two_domains["other"].slug, "no-such-domain"):
        response = owner_client.post(URL, {"query": "compressor", "domains": [slug]}, format="json")
        assert response.status_code == 404, slug
        assert response.json()["error"]["code"] == "not_found"


def test_explicit_domains_restrict_the_search(client_for, user, two_domains, domain):
    MembershipFactory(domain=two_domains["other"], user=user, role="viewer")
    both = search(client_for(user), query="compressor", mode="keyword")
    assert {r["domain"] for r in both["results"]} == {domain.slug, two_domains["other"].slug}
    one = search(client_for(user), query="compressor", mode="keyword", domains=[domain.slug])
    assert {r["domain"] for r in one["results"]} == {domain.slug}


def test_no_readable_domain_gives_no_results(client_for, two_domains):
    body = search(client_for(UserFactory()), query="compressor")
    assert body["results"] == [] and body["domains"] == []


def test_unauthenticated_is_refused(api_client):
    assert api_client.get(URL, {"q": "x"}).status_code == 401


# --- deleted and replaced documents ------------------------------------------------
@pytest.mark.parametrize("mode", ["keyword", "vector", "hybrid"])
def test_replaced_and_deleted_documents_vanish(owner_client, domain, mode):
    doc = make_document(domain, "Marsupials", ["The quokka smiles on Rottnest island."])
    make_document(domain, "Other", ["Kangaroos hop across the outback."])
    assert titles(search(owner_client, query="quokka", mode=mode, k=1)) == ["Marsupials"]

    make_document(domain, "Marsupials", ["The wombat digs burrows at night."], document=doc)
    results = search(owner_client, query="quokka", mode=mode, k=10)["results"]
    assert all("quokka" not in r["text"] for r in results)
    assert titles(search(owner_client, query="wombat burrows", mode=mode, k=1)) == ["Marsupials"]

    Document.objects.filter(pk=doc.pk).delete()
    bump(domain)
    results = search(owner_client, query="wombat burrows", mode=mode, k=10)["results"]
    assert all(r["document"]["title"] != "Marsupials" for r in results)


def test_deleted_document_vanishes_even_before_the_index_version_moves(owner_client, domain):
    """The caches are keyed by index_version; hydration re-checks the rows, so a late bump never shows a ghost."""
    doc = make_document(domain, "Ephemeral", ["A mayfly lives for a single day."])
    assert titles(search(owner_client, query="mayfly", mode="hybrid")) == ["Ephemeral"]
    Document.objects.filter(pk=doc.pk).delete()
    assert search(owner_client, query="mayfly", mode="hybrid")["results"] == []


def test_new_chunks_are_found_after_the_index_version_moves(owner_client, domain, settings):
    # Exact term matching only: RM3 feedback would rightly add "First" (it shares "control") below "Second".
    settings.SEARCH_KEYWORD_FEEDBACK_DOCS = 0
    make_document(domain, "First", ["Ailerons control roll."])
    assert search(owner_client, query="elevator", mode="keyword")["results"] == []
    make_document(domain, "Second", ["The elevator controls pitch."])
    assert titles(search(owner_client, query="elevator", mode="keyword")) == ["Second"]
    settings.SEARCH_KEYWORD_FEEDBACK_DOCS = 1
    assert titles(search(owner_client, query="elevator", mode="keyword")) == ["Second", "First"]


# --- bad input ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"query": ""}, 400, "query_empty"),
        ({"query": "   \n "}, 400, "query_empty"),
        ({"query": "x" * 10_000}, 400, "query_too_long"),
        ({"query": "lift", "k": 0}, 400, "invalid_k"),
        ({"query": "lift", "k": 101}, 400, "invalid_k"),
        ({"query": "lift", "k": "many"}, 400, "invalid"),
        ({"query": "lift", "hops": 4, "expand": True}, 400, "invalid_hops"),
        ({"query": "lift", "mode": "psychic"}, 400, "invalid"),
        ({"query": "lift", "filters": {"entity_type": "alien"}}, 400, "invalid"),
        ({"query": "lift", "domains": ["nope"]}, 404, "not_found"),
        ({}, 400, "invalid"),
    ],
)
def test_bad_queries_get_a_clear_4xx(owner_client, domain, body, status, code):
    response = owner_client.post(URL, body, format="json")
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code and error["message"]


def test_an_inverted_date_range_finds_nothing_rather_than_failing(owner_client, domain):
    """Each bound is valid on its own (the schema can say no more), so the answer is an empty result."""
    filters = {"created_after": "2030-01-01T00:00:00Z", "created_before": "2020-01-01T00:00:00Z"}
    response = owner_client.post(URL, {"query": "lift", "filters": filters}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["results"] == []


def test_bad_get_queries(owner_client, domain):
    assert owner_client.get(URL).status_code == 400
    response = owner_client.get(URL, {"q": "lift", "k": "1000"})
    assert response.status_code == 400 and "between 1 and 100" in response.json()["error"]["message"]
    response = owner_client.get(URL, {"q": "x" * 10_000})
    assert response.status_code == 400 and "2000" in response.json()["error"]["message"]


# --- degraded projections ----------------------------------------------------------
class BrokenVectorStore(EmbeddedVectorStore):
    """Stands in for an unreachable Weaviate (no server here): every search raises."""

    def search(self, **kwargs):
        raise ConnectionError("weaviate unreachable")


class BrokenGraphStore(EmbeddedGraphStore):
    """Stands in for an unreachable Neo4j (no server here)."""

    def neighbours(self, **kwargs):
        raise ConnectionError("neo4j unreachable")


class BrokenEmbedder:
    def __init__(self, alias="default", **options):
        self.model_name = "broken"

    def embed_query(self, text):
        raise TimeoutError("embedding endpoint timed out")

    def close(self):
        pass


def test_failing_vector_projection_falls_back_to_the_embedded_store(owner_client, corpus):
    with override_settings(VECTOR_STORES={"default": {"BACKEND": "tests.search.test_search_api.BrokenVectorStore"}}):
        body = search(owner_client, query="supersonic wedge", mode="vector", k=1)
    assert titles(body) == ["Shock waves"]
    assert body["degraded"] == ["vector"] and "embedded" in body["degraded_detail"]["vector"]


def test_failing_embedder_skips_the_vector_channel(owner_client, corpus):
    with override_settings(EMBEDDERS={"default": {"BACKEND": "tests.search.test_search_api.BrokenEmbedder"}}):
        body = search(owner_client, query="supersonic wedge", mode="hybrid", k=1)
    assert titles(body) == ["Shock waves"] and body["degraded"] == ["vector"]
    assert "vector" not in body["results"][0]["scores"]


def test_failing_graph_projection_falls_back_to_the_embedded_graph(owner_client, graph):
    with override_settings(GRAPH_STORES={"default": {"BACKEND": "tests.search.test_search_api.BrokenGraphStore"}}):
        body = search(owner_client, query="wind tunnel", mode="keyword", k=1, expand=True)
    assert {d["title"] for d in body["documents"]} == {"Alpha", "Beta"}
    assert body["degraded"] == ["graph"]


def test_hybrid_runs_the_keyword_channel_on_a_pool_thread_and_a_failure_there_degrades(owner_client, corpus, monkeypatch):
    seen = []
    real = keyword_engine.search

    def recording(**kwargs):
        seen.append(threading.current_thread().name)
        return real(**kwargs)

    monkeypatch.setattr(keyword_engine, "search", recording)
    body = search(owner_client, query="supersonic wedge", mode="hybrid", k=1)
    assert titles(body) == ["Shock waves"] and body["degraded"] == []
    assert "keyword" in body["results"][0]["scores"] and "vector" in body["results"][0]["scores"]
    assert seen and all(name.startswith("heysh-keyword") for name in seen)

    def broken(**kwargs):
        seen.append(threading.current_thread().name)
        raise OSError("index file vanished")

    monkeypatch.setattr(keyword_engine, "search", broken)
    body = search(owner_client, query="supersonic wedge", mode="hybrid", k=1)
    # The vector channel, on the request's thread, still answers; the pool thread's failure is reported.
    assert titles(body) == ["Shock waves"] and body["degraded"] == ["keyword"]
    assert "OSError" in body["degraded_detail"]["keyword"] and "keyword" not in body["results"][0]["scores"]
