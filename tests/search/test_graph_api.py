import pytest

from tests.factories import DomainFactory, MembershipFactory, UserFactory
from tests.search.factories import make_document, make_entity, mention, relate

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(domain):
    """ada —works_for→ acme —located_in→ paris —related_to→ seine; babbage isolated."""
    d1 = make_document(domain, "Staff", ["Ada works for Acme.", "Acme is located in Paris."])
    d2 = make_document(domain, "City", ["Paris lies on the Seine."])
    ada, acme = make_entity(domain, "Ada", "person"), make_entity(domain, "Acme", "organization")
    paris, seine = make_entity(domain, "Paris", "location"), make_entity(domain, "Seine", "location")
    babbage = make_entity(domain, "Babbage", "person")
    mention(ada, d1, 0)
    mention(acme, d1, 0)
    mention(acme, d1, 1)
    mention(paris, d1, 1)
    mention(paris, d2, 0)
    mention(seine, d2, 0)
    relate(ada, acme, d1, "works_for", 0)
    relate(acme, paris, d1, "located_in", 1)
    relate(paris, seine, d2, "related_to", 0)
    return {"d1": d1, "d2": d2, "ada": ada, "acme": acme, "paris": paris, "seine": seine, "babbage": babbage}


@pytest.fixture
def foreign(db):
    other = DomainFactory()
    entity_doc = make_document(other, "Secret", ["Paris secret plans."])
    secret = make_entity(other, "Paris", "location")
    mention(secret, entity_doc)
    return secret


def test_entity_list_filters_by_prefix_type_and_domain(owner_client, chain, foreign, domain):
    body = owner_client.get("/api/v1/entities").json()
    assert body["count"] == 5  # the other domain's "Paris" is not listed
    names = [e["name"] for e in owner_client.get("/api/v1/entities", {"q": "pa"}).json()["results"]]
    assert names == ["Paris"]
    people = owner_client.get("/api/v1/entities", {"type": "person", "domain": domain.slug}).json()["results"]
    assert {e["name"] for e in people} == {"Ada", "Babbage"}
    assert owner_client.get("/api/v1/entities", {"domain": foreign.domain.slug}).status_code == 404
    assert owner_client.get("/api/v1/entities", {"type": "alien"}).status_code == 400


def test_entity_detail_cites_chunks_and_documents(owner_client, chain):
    body = owner_client.get(f"/api/v1/entities/{chain['paris'].pk}").json()
    assert body["name"] == "Paris" and body["mention_count"] == 2
    citations = {(m["document"]["title"], m["chunk"]["ordinal"]) for m in body["mentions"]}
    assert citations == {("Staff", 1), ("City", 0)}
    staff = next(m for m in body["mentions"] if m["document"]["title"] == "Staff")
    version_text = chain["d1"].current_version.text
    assert version_text[staff["document_offset"] : staff["document_offset"] + len("Paris")] == "Paris"
    assert staff["document"]["version"] == 1 and "Paris" in staff["chunk"]["snippet"]


def test_neighbours_up_to_n_hops_with_types_and_weights(owner_client, chain):
    one = owner_client.get(f"/api/v1/entities/{chain['acme'].pk}/neighbours").json()
    assert {n["name"] for n in one["nodes"]} == {"Acme", "Ada", "Paris"}
    assert one["nodes"][0]["name"] == "Acme"
    assert {(e["type"], e["weight"]) for e in one["edges"]} == {("works_for", 1.0), ("located_in", 1.0)}
    two = owner_client.get(f"/api/v1/entities/{chain['ada'].pk}/neighbours", {"hops": 2}).json()
    assert {n["name"] for n in two["nodes"]} == {"Ada", "Acme", "Paris"}
    three = owner_client.get(f"/api/v1/entities/{chain['ada'].pk}/neighbours", {"hops": 3}).json()
    assert {n["name"] for n in three["nodes"]} == {"Ada", "Acme", "Paris", "Seine"}
    assert owner_client.get(f"/api/v1/entities/{chain['ada'].pk}/neighbours", {"hops": 9}).status_code == 400


def test_neighbours_filtered_by_relation_type(owner_client, chain):
    url = f"/api/v1/entities/{chain['acme'].pk}/neighbours"
    located = owner_client.get(url, {"type": "located_in"}).json()
    assert {n["name"] for n in located["nodes"]} == {"Acme", "Paris"}
    assert [e["type"] for e in located["edges"]] == ["located_in"] and located["types"] == ["located_in"]
    both = owner_client.get(url, {"type": "located_in,works_for"}).json()
    assert {n["name"] for n in both["nodes"]} == {"Acme", "Ada", "Paris"}
    far = owner_client.get(f"/api/v1/entities/{chain['paris'].pk}/neighbours", {"type": "related_to", "hops": 3}).json()
    assert {n["name"] for n in far["nodes"]} == {"Paris", "Seine"}, "only related_to edges are followed"
    bad = owner_client.get(url, {"type": "friends_with"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_type"


def test_shortest_path(owner_client, chain):
    body = owner_client.get(f"/api/v1/entities/{chain['ada'].pk}/path/{chain['seine'].pk}").json()
    assert body["found"] is True and body["length"] == 3
    assert [n["name"] for n in body["nodes"]] == ["Ada", "Acme", "Paris", "Seine"]
    assert [e["type"] for e in body["edges"]] == ["works_for", "located_in", "related_to"]
    short = owner_client.get(f"/api/v1/entities/{chain['ada'].pk}/path/{chain['seine'].pk}", {"max_hops": 2}).json()
    assert short["found"] is False
    none = owner_client.get(f"/api/v1/entities/{chain['ada'].pk}/path/{chain['babbage'].pk}").json()
    assert none == {"source": chain["ada"].pk, "target": chain["babbage"].pk, "found": False, "length": None, "nodes": [], "edges": []}


def test_documents_connected_to_an_entity(owner_client, chain):
    body = owner_client.get(f"/api/v1/entities/{chain['acme'].pk}/documents").json()
    assert [(d["title"], d["mentions"]) for d in body["documents"]] == [("Staff", 2)]
    paris = owner_client.get(f"/api/v1/entities/{chain['paris'].pk}/documents").json()
    assert {d["title"] for d in paris["documents"]} == {"Staff", "City"}


def test_another_domains_entity_is_404_everywhere(owner_client, chain, foreign):
    for suffix in ("", "/neighbours", "/documents", f"/path/{chain['paris'].pk}"):
        response = owner_client.get(f"/api/v1/entities/{foreign.pk}{suffix}")
        assert response.status_code == 404, suffix
    assert owner_client.get(f"/api/v1/entities/{chain['paris'].pk}/path/{foreign.pk}").status_code == 404
    assert owner_client.get("/api/v1/entities/999999").status_code == 404


def test_path_between_readable_domains_is_refused(client_for, user, chain, foreign):
    MembershipFactory(domain=foreign.domain, user=user, role="viewer")
    response = client_for(user).get(f"/api/v1/entities/{chain['paris'].pk}/path/{foreign.pk}")
    assert response.status_code == 400 and response.json()["error"]["code"] == "different_domains"


def test_viewer_of_the_other_domain_sees_only_it(client_for, chain, foreign):
    viewer = UserFactory()
    MembershipFactory(domain=foreign.domain, user=viewer, role="viewer")
    body = client_for(viewer).get("/api/v1/entities").json()
    assert [e["id"] for e in body["results"]] == [foreign.pk]
    assert client_for(viewer).get(f"/api/v1/entities/{chain['paris'].pk}").status_code == 404
