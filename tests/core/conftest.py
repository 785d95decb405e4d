from tests.domains.conftest import key_client, member_client, other_domain, other_owner  # noqa: F401
