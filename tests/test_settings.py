import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_manage(*args, env_extra):
    # A clean environment: no GUANXI_* of ours, nor the e2e tests' async-unsafe switch.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GUANXI_") and k != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    env["DJANGO_SETTINGS_MODULE"] = "guanxi.settings"  # the real settings, not the tests'
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deploy_check_passes_with_only_debug_secret_and_hosts(tmp_path):
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env_extra={
            "GUANXI_DEBUG": "0",
            "GUANXI_SECRET_KEY": "x" * 64 + "-production-secret-key-not-for-tests",
            "GUANXI_ALLOWED_HOSTS": "crm.example.com",
            "GUANXI_DATA_DIR": str(tmp_path),
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_deploy_check_fails_when_debug_is_on(tmp_path):
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env_extra={"GUANXI_DEBUG": "1", "GUANXI_DATA_DIR": str(tmp_path)},
    )
    assert result.returncode != 0
    assert "DEBUG" in result.stdout + result.stderr


def test_without_a_secret_key_one_is_generated_and_kept(tmp_path):
    env = {"GUANXI_DATA_DIR": str(tmp_path)}
    first = run_manage(
        "shell", "-c", "from django.conf import settings; print(settings.SECRET_KEY)", env_extra=env
    )
    second = run_manage(
        "shell", "-c", "from django.conf import settings; print(settings.SECRET_KEY)", env_extra=env
    )
    assert first.returncode == 0, first.stderr
    key = first.stdout.strip()
    assert len(key) >= 50 and key == second.stdout.strip()
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
