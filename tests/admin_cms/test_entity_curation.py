"""Entity admin curation: the alias list widget, the merge-target autocomplete and bulk merge."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from apps.search.models import Entity, EntityMerge, Mention
from apps.search.services.entities import entity_unmerge
from tests.search.factories import make_document, make_entity, mention

pytestmark = pytest.mark.django_db


@pytest.fixture
def telescopes(world):
    a = world["a"]
    doc = make_document(a, "Telescopes", ["Hubble, HST and the Hubble Space Telescope.", "Webb and JWST."], embed=False)
    entities = {name: make_entity(a, name) for name in ["Hubble", "HST", "Hubble Space Telescope", "Webb", "JWST"]}
    for name in ["Hubble", "HST", "Hubble Space Telescope"]:
        mention(entities[name], doc, 0)
    for name in ["Webb", "JWST"]:
        mention(entities[name], doc, 1)
    return entities


def _change(client, entity, **fields):
    data = {"name": entity.name, "type": entity.type, "description": entity.description,
            "mentions-TOTAL_FORMS": "0", "mentions-INITIAL_FORMS": "0", "mentions-MIN_NUM_FORMS": "0",
            "mentions-MAX_NUM_FORMS": "0", **fields}
    return client.post(reverse("admin:search_entity_change", args=[entity.pk]), data)


def test_aliases_render_one_input_per_alias(world, login):
    entity = make_entity(world["a"], "Hubble")
    Entity.objects.filter(pk=entity.pk).update(aliases=["HST", "Hubble Space Telescope"])
    page = login(world["editor"]).get(reverse("admin:search_entity_change", args=[entity.pk])).content.decode()
    listed = page.split('<template x-ref="row">')[0]  # the template is the row "Add alias" clones
    inputs = re.findall(r'<input type="text" name="aliases" value="([^"]*)"', listed)
    assert inputs == ["HST", "Hubble Space Telescope", ""]  # one per alias, plus an empty one to add
    assert '<textarea name="aliases"' not in page
    assert "Add alias" in page and "<script>" not in page  # the add/remove buttons are Alpine attributes


def test_aliases_are_trimmed_blanks_dropped_and_stored_as_a_list(world, login):
    entity = make_entity(world["a"], "Hubble")
    response = _change(login(world["editor"]), entity, aliases=["  HST ", "", "Hubble Space Telescope", "   "])
    assert response.status_code == 302
    entity.refresh_from_db()
    assert entity.aliases == ["HST", "Hubble Space Telescope"]
    response = _change(login(world["editor"]), entity)  # every input removed: no alias at all
    assert response.status_code == 302
    entity.refresh_from_db()
    assert entity.aliases == []


def test_duplicate_alias_is_refused_with_a_clear_error(world, login):
    entity = make_entity(world["a"], "Hubble")
    Entity.objects.filter(pk=entity.pk).update(aliases=["HST"])
    response = _change(login(world["editor"]), entity, aliases=["HST", "hst "])
    assert response.status_code == 200
    assert "“hst” is listed twice." in response.content.decode()
    entity.refresh_from_db()
    assert entity.aliases == ["HST"]
    # the invalid form is shown again with what the editor typed
    assert re.findall(r'name="aliases" value="([^"]*)"', response.content.decode())[:2] == ["HST", "hst "]


def test_too_long_alias_is_refused(world, login):
    entity = make_entity(world["a"], "Hubble")
    response = _change(login(world["editor"]), entity, aliases=["x" * 201])
    assert response.status_code == 200 and "longer than 200 characters" in response.content.decode()


def _targets(client, domain, **params):
    response = client.get(reverse("admin:search_entity_merge_targets", args=[domain.pk]), params)
    return response


def test_merge_target_autocomplete_is_scoped_to_the_domain_and_the_user(world, login, telescopes):
    make_entity(world["b"], "Hubble (other tenant)")
    editor = login(world["editor"])
    body = _targets(editor, world["a"], term="hub").json()
    names = [row["text"].split(" · ")[0] for row in body["results"]]
    assert names == ["Hubble", "Hubble Space Telescope"] and body["pagination"] == {"more": False}
    excluded = _targets(editor, world["a"], term="hub", exclude=telescopes["Hubble"].pk).json()
    assert [row["id"] for row in excluded["results"]] == [str(telescopes["Hubble Space Telescope"].pk)]
    assert _targets(editor, world["b"], term="hub").status_code == 404  # not a member of B
    assert len(_targets(login(world["root"]), world["b"]).json()["results"]) == 1


def test_merge_target_autocomplete_pages_and_skips_merged_entities(world, login, telescopes):
    for n in range(25):
        make_entity(world["a"], f"Star {n:02d}")
    Entity.objects.filter(pk=telescopes["JWST"].pk).update(merged_into=telescopes["Webb"])
    editor = login(world["editor"])
    first, second = _targets(editor, world["a"]).json(), _targets(editor, world["a"], page=2).json()
    assert len(first["results"]) == 20 and first["pagination"]["more"] is True
    assert len(second["results"]) == 9 and second["pagination"]["more"] is False  # 30 entities, one merged
    ids = {row["id"] for row in first["results"] + second["results"]}
    assert str(telescopes["JWST"].pk) not in ids and len(ids) == 29


def test_merge_page_uses_the_autocomplete_widget(world, login, telescopes):
    hst = telescopes["HST"]
    page = login(world["editor"]).get(reverse("admin:search_entity_merge_into", args=[hst.pk])).content.decode()
    url = reverse("admin:search_entity_merge_targets", args=[world["a"].pk])
    assert f'data-ajax--url="{url}?exclude={hst.pk}"' in page
    assert "select2" in page and "unfold-admin-autocomplete" in page
    assert page.count("<option") <= 1  # the choices come from the autocomplete, not a 5-row dropdown


def _bulk(client, entities, follow=False, **extra):
    data = {"action": "merge_selected", "_selected_action": [e.pk for e in entities], **extra}
    return client.post(reverse("admin:search_entity_changelist"), data, follow=follow)


def test_bulk_merge_merges_each_selected_entity_and_each_undoes_alone(world, login, telescopes):
    hubble, hst, hst_long = telescopes["Hubble"], telescopes["HST"], telescopes["Hubble Space Telescope"]
    editor = login(world["editor"])
    page = _bulk(editor, [hst, hst_long], index="0")
    assert page.status_code == 200 and b"Merge 2 entities into another" in page.content
    assert page.content.decode().count('name="_selected_action"') == 2
    response = _bulk(editor, [hst, hst_long], post="yes", target=hubble.pk)
    assert response.status_code == 302 and response.url == reverse("admin:search_entity_change", args=[hubble.pk])

    hubble.refresh_from_db()
    assert set(Entity.objects.filter(merged_into=hubble).values_list("name", flat=True)) == {"HST", "Hubble Space Telescope"}
    assert hubble.mention_count == 3 and {"HST", "Hubble Space Telescope"} <= set(hubble.aliases)
    merges = EntityMerge.objects.filter(target=hubble)
    assert merges.count() == 2

    entity_unmerge(user=world["editor"], merge=merges.get(source=hst))
    hst.refresh_from_db()
    hst_long.refresh_from_db()
    assert hst.merged_into is None and Mention.objects.filter(entity=hst).count() == 1
    assert hst_long.merged_into == hubble  # the other merge stands


def test_bulk_merge_refuses_a_target_among_the_selected_and_mixed_domains(world, login, telescopes):
    hubble, hst = telescopes["Hubble"], telescopes["HST"]
    root = login(world["root"])
    response = _bulk(root, [hubble, hst], post="yes", target=hubble.pk)
    assert response.status_code == 200 and b"Select a valid choice" in response.content
    other = make_entity(world["b"], "Hubble")
    response = _bulk(root, [hst, other], index="0", follow=True)
    assert b"entities of different domains cannot be merged" in response.content
    assert not EntityMerge.objects.exists()


def test_bulk_merge_is_not_offered_to_viewers(world, login, telescopes):
    viewer = login(world["viewer"])
    page = viewer.get(reverse("admin:search_entity_changelist")).content.decode()
    assert "merge_selected" not in page
    _bulk(viewer, [telescopes["HST"]], post="yes", target=telescopes["Hubble"].pk)
    assert not EntityMerge.objects.exists()
