"""Membership management: owners only, scoped to the domain, never without an owner."""

import pytest

from apps.core.exceptions import NotFound
from apps.domains import services
from apps.domains.models import Membership
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def members(slug):
    return f"/api/v1/domains/{slug}/members/"


def member(slug, membership_id):
    return f"/api/v1/domains/{slug}/members/{membership_id}/"


def test_owner_lists_members_editor_and_viewer_get_403(owner_client, member_client, domain, user):
    response = owner_client.get(members(domain.slug))
    assert response.status_code == 200
    assert [(m["username"], m["role"]) for m in response.json()["results"]] == [(user.username, "owner")]

    for role in ("editor", "viewer"):
        refused = member_client(role).get(members(domain.slug))
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "permission_denied"


def test_add_change_and_remove_a_member(owner_client, domain):
    newcomer = UserFactory(username="newcomer")

    added = owner_client.post(members(domain.slug), {"username": "newcomer", "role": "editor"}, format="json")
    assert added.status_code == 201, added.json()
    membership_id = added.json()["id"]
    assert Membership.objects.get(pk=membership_id).user == newcomer

    changed = owner_client.patch(member(domain.slug, membership_id), {"role": "viewer"}, format="json")
    assert changed.status_code == 200
    assert Membership.objects.get(pk=membership_id).role == "viewer"

    assert owner_client.delete(member(domain.slug, membership_id)).status_code == 204
    assert not Membership.objects.filter(pk=membership_id).exists()


def test_adding_unknown_user_or_existing_member_is_a_clear_4xx(owner_client, domain, user):
    unknown = owner_client.post(members(domain.slug), {"username": "nobody", "role": "viewer"}, format="json")
    assert unknown.status_code == 404, "the body is valid; the user it names does not exist"
    assert unknown.json()["error"]["code"] == "unknown_user"
    assert "nobody" in unknown.json()["error"]["message"]

    again = owner_client.post(members(domain.slug), {"username": user.username, "role": "viewer"}, format="json")
    assert again.status_code == 409
    assert Membership.objects.get(domain=domain, user=user).role == "owner"

    bad_role = owner_client.post(members(domain.slug), {"username": user.username, "role": "admin"}, format="json")
    assert bad_role.status_code == 400
    assert "role" in bad_role.json()["error"]["detail"]


def test_the_last_owner_can_be_neither_demoted_nor_removed(owner_client, domain, user):
    own = Membership.objects.get(domain=domain, user=user)

    demote = owner_client.patch(member(domain.slug, own.pk), {"role": "editor"}, format="json")
    assert demote.status_code == 409
    assert demote.json()["error"]["code"] == "last_owner"
    remove = owner_client.delete(member(domain.slug, own.pk))
    assert remove.status_code == 409
    own.refresh_from_db()
    assert own.role == "owner"

    MembershipFactory(domain=domain, user=UserFactory(), role="owner")
    assert owner_client.patch(member(domain.slug, own.pk), {"role": "editor"}, format="json").status_code == 200
    own.refresh_from_db()
    assert own.role == "editor"


def test_another_domains_members_are_404_everywhere(owner_client, domain, other_domain):
    foreign = Membership.objects.get(domain=other_domain)

    assert owner_client.get(members(other_domain.slug)).status_code == 404
    assert owner_client.post(members(other_domain.slug), {"username": "x"}, format="json").status_code == 404
    # B's membership id under A's slug: not found in A, whatever exists elsewhere.
    assert owner_client.get(member(domain.slug, foreign.pk)).status_code == 404
    assert owner_client.patch(member(domain.slug, foreign.pk), {"role": "viewer"}, format="json").status_code == 404
    assert owner_client.delete(member(domain.slug, foreign.pk)).status_code == 404
    assert owner_client.delete(member(other_domain.slug, foreign.pk)).status_code == 404
    foreign.refresh_from_db()
    assert foreign.role == "owner"


def test_a_removed_member_loses_access_at_once(owner_client, client_for, domain):
    leaver = UserFactory()
    membership = MembershipFactory(domain=domain, user=leaver, role="editor")
    leaver_client = client_for(leaver)
    assert leaver_client.get(f"/api/v1/domains/{domain.slug}/").status_code == 200

    owner_client.delete(member(domain.slug, membership.pk))

    assert leaver_client.get(f"/api/v1/domains/{domain.slug}/").status_code == 404


def test_api_keys_cannot_manage_members(key_client, domain):
    response = key_client(domain, role="editor").get(members(domain.slug))
    assert response.status_code == 403


def test_a_role_patch_without_a_role_changes_nothing(owner_client, domain, user):
    own = Membership.objects.get(domain=domain, user=user)

    response = owner_client.patch(member(domain.slug, own.pk), {}, format="json")

    assert response.status_code == 200
    assert response.json()["role"] == "owner"
    own.refresh_from_db()
    assert own.role == "owner"


@pytest.mark.parametrize("change", ["role", "remove"])
def test_a_member_removed_meanwhile_is_a_404_not_a_500(domain, change):
    """A role change or removal that loses the race with another removal (schemathesis found it
    with two workers on PostgreSQL) answers 404."""
    owner = Membership.objects.filter(domain=domain, role=Membership.Role.OWNER).first() or MembershipFactory(
        domain=domain, role=Membership.Role.OWNER
    )
    membership = MembershipFactory(domain=domain, user=UserFactory(), role=Membership.Role.VIEWER)
    Membership.objects.filter(pk=membership.pk).delete()  # the other request won
    with pytest.raises(NotFound):
        if change == "role":
            services.membership_change_role(actor=owner.user, membership=membership, role=Membership.Role.EDITOR)
        else:
            services.membership_remove(actor=owner.user, membership=membership)
