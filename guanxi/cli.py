"""The ``guanxi`` console script: a thin wrapper over manage.py.

guanxi run              migrate, load demo data on first run, serve with gunicorn
                        on http://127.0.0.1:8000 and start the worker beside it
guanxi demo             build the demo data set
guanxi import customers FILE [--match-by phone] [--skip-bad-rows] [--dry-run]
guanxi worker           run background tasks
guanxi <any manage.py command>
"""

import os
import signal
import subprocess
import sys

ALIASES = {"worker": ["db_worker"], "import": ["import_data"], "demo": ["demo"]}


def _setup():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings")
    import django

    django.setup()


def _manage(args: list[str]) -> None:
    _setup()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["guanxi", *args])


def run(argv: list[str]) -> int:
    bind = os.environ.get("GUANXI_BIND", "127.0.0.1:8000")
    # Served over plain HTTP on the local machine unless told otherwise.
    os.environ.setdefault("GUANXI_HTTPS", "0")
    _setup()
    from django.core.management import call_command

    from guanxi.accounts.models import User

    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    if not User.objects.exists():
        print("First run: building demo data …", flush=True)
        call_command("demo")
    else:
        call_command("demo", "--print-logins")
    env = dict(os.environ)
    worker = subprocess.Popen([sys.executable, "-m", "guanxi.cli", "worker"], env=env)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "guanxi.wsgi:application",
            "--bind",
            bind,
            "--workers",
            os.environ.get("GUANXI_WEB_WORKERS", "2"),
            "--threads",
            "4",
            "--access-logfile",
            "-",
        ],
        env=env,
    )
    print(f"Guanxi is serving on http://{bind}/  (Ctrl+C to stop)", flush=True)

    def stop(*_):
        for proc in (server, worker):
            if proc.poll() is None:
                proc.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop()
        for proc in (server, worker):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0
    if argv[0] == "run":
        return run(argv[1:])
    if argv[0] == "worker":
        _setup()
        from guanxi.sales.tasks import start_scheduler  # reminders and digests (follow-up)

        start_scheduler()
    command = ALIASES.get(argv[0], [argv[0]]) + argv[1:]
    _manage(command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
