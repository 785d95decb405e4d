import factory

from apps.domains.authentication import generate_key
from apps.domains.models import ApiKey
from tests.factories import DomainFactory


class ApiKeyFactory(factory.django.DjangoModelFactory):
    """A stored key. Its raw key is discarded; use services.api_key_create to authenticate with one."""

    class Meta:
        model = ApiKey

    domain = factory.SubFactory(DomainFactory)
    name = factory.Sequence(lambda n: f"key {n}")
    role = ApiKey.Role.VIEWER
    prefix = factory.LazyFunction(lambda: generate_key()[1])
    key_hash = factory.LazyFunction(lambda: generate_key()[2])
