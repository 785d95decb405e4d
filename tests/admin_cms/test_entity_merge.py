"""Entity merges move mentions and relations and are exactly reversible; editors only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.core.exceptions import ServiceError
from apps.search.models import Entity, EntityMerge, Mention, Relation, RelationEvidence
from apps.search.services.entities import entity_merge, entity_unmerge
from tests.search.factories import make_document, make_entity, mention, relate

pytestmark = pytest.mark.django_db


def _snapshot(domain):
    return {
        "mentions": sorted(Mention.objects.filter(domain=domain).values_list("pk", "entity_id", "chunk_id", "start")),
        "relations": sorted(Relation.objects.filter(domain=domain).values_list("source_id", "target_id", "type", "weight")),
        "evidence": sorted(RelationEvidence.objects.filter(relation__domain=domain)
                           .values_list("relation__source_id", "relation__target_id", "chunk_id")),
        "counts": sorted(Entity.objects.filter(domain=domain).values_list("pk", "mention_count", "merged_into")),
    }


@pytest.fixture
def graph(world):
    a = world["a"]
    doc = make_document(a, "Telescopes", ["NASA built Hubble with ESA.", "The Hubble telescope and NASA and ESA."], embed=False)
    hubble, hst, nasa, esa = (make_entity(a, n) for n in ["Hubble", "HST", "NASA", "ESA"])
    for entity in (hubble, nasa, esa):
        mention(entity, doc, 0)
    mention(hst, doc, 1)
    relate(nasa, hubble, doc)  # NASA → Hubble exists: NASA → HST folds into it
    relate(nasa, hst, doc, ordinal=1)
    relate(hst, esa, doc, ordinal=1)  # repointed to Hubble → ESA
    relate(hst, hubble, doc, ordinal=1)  # would be a self-loop: dropped
    return {"hubble": hubble, "hst": hst, "nasa": nasa, "esa": esa, "doc": doc}


def test_merge_moves_everything_and_undo_restores_it(world, graph):
    a, hubble, hst, nasa, esa = world["a"], graph["hubble"], graph["hst"], graph["nasa"], graph["esa"]
    before = _snapshot(a)
    merge = entity_merge(user=world["editor"], source=hst, target=hubble)

    hst.refresh_from_db()
    hubble.refresh_from_db()
    assert hst.merged_into == hubble and "HST" in hubble.aliases
    assert not Mention.objects.filter(entity=hst).exists()
    assert hubble.mention_count == 2 and hst.mention_count == 0
    assert not Relation.objects.filter(Q_src_or_tgt(hst)).exists()
    folded = Relation.objects.get(source=nasa, target=hubble)
    assert folded.weight == 2 and folded.evidence.count() == 2  # evidence of both chunks
    assert Relation.objects.filter(source=hubble, target=esa).exists()
    assert merge.merged_by == world["editor"]
    assert hubble.history.first().history_change_reason == "merged 'HST' into it"

    entity_unmerge(user=world["editor"], merge=merge)
    assert _snapshot(a) == before
    merge.refresh_from_db()
    assert merge.undone_at is not None
    with pytest.raises(ServiceError):
        entity_unmerge(user=world["editor"], merge=merge)


def Q_src_or_tgt(entity):
    from django.db.models import Q

    return Q(source=entity) | Q(target=entity)


def test_merge_refuses_viewers_other_domains_and_self(world, graph):
    with pytest.raises(ServiceError):
        entity_merge(user=world["viewer"], source=graph["hst"], target=graph["hubble"])
    other = make_entity(world["b"], "Hubble")
    with pytest.raises(ServiceError):
        entity_merge(user=world["root"], source=graph["hst"], target=other)
    with pytest.raises(ServiceError):
        entity_merge(user=world["editor"], source=graph["hst"], target=graph["hst"])
    assert not EntityMerge.objects.exists()


def test_admin_merge_and_undo(world, graph, login):
    hst, hubble = graph["hst"], graph["hubble"]
    viewer = login(world["viewer"])
    assert viewer.get(reverse("admin:search_entity_merge_into", args=[hst.pk])).status_code == 403
    editor = login(world["editor"])
    page = editor.get(reverse("admin:search_entity_change", args=[hst.pk]))
    assert b"Merge into" in page.content
    response = editor.post(reverse("admin:search_entity_merge_into", args=[hst.pk]), {"target": hubble.pk})
    assert response.status_code == 302
    hst.refresh_from_db()
    assert hst.merged_into == hubble
    response = editor.post(reverse("admin:search_entity_undo_merge", args=[hst.pk]))
    assert response.status_code == 302
    hst.refresh_from_db()
    assert hst.merged_into is None and Mention.objects.filter(entity=hst).count() == 1
    graph_page = editor.get(reverse("admin:entity-graph", args=[hst.pk]))
    assert graph_page.status_code == 200 and b"cytoscape" in graph_page.content
