from __future__ import annotations

from rest_framework import serializers


class SeedTextSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=300, required=False, allow_blank=True)
    text = serializers.CharField(max_length=2_000_000)


class BootstrapCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=80, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    topic_keywords = serializers.ListField(child=serializers.CharField(max_length=80), required=False, max_length=20)
    seed_urls = serializers.ListField(child=serializers.URLField(max_length=2000), required=False, max_length=50)
    seed_texts = SeedTextSerializer(many=True, required=False)
    seed_text = serializers.CharField(required=False, allow_blank=True, max_length=2_000_000,
                                      help_text="One pasted text (handy in multipart forms).")
    seed_files = serializers.ListField(child=serializers.FileField(), required=False, max_length=20)


class CommentSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class ContentUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(required=False, allow_blank=True, max_length=300)
    body = serializers.CharField(required=False, max_length=20000)
