"""Test settings: the real settings, served over plain HTTP, with a fast password
hasher, tasks run immediately, and static files served without a manifest."""

import os

os.environ.setdefault("GUANXI_HTTPS", "0")
os.environ.setdefault("GUANXI_LANGUAGE", "en")

from guanxi.settings import *  # noqa: E402,F403
from guanxi.settings import DATA_DIR, STORAGES  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = DATA_DIR / "test-media"
