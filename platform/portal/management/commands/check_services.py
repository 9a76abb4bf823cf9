import psycopg
import redis
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Check that PostgreSQL and Redis are reachable; if not, say what to start."

    def handle(self, *args, **options):
        problems = []
        db = settings.DATABASES["default"]
        if db["ENGINE"] == "django.db.backends.postgresql":
            try:
                psycopg.connect(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"],
                                password=db["PASSWORD"] or None, dbname="postgres",
                                connect_timeout=3).close()
            except psycopg.Error as error:
                problems.append(
                    f"PostgreSQL at {db['HOST']}:{db['PORT'] or 5432} is not reachable ({error})."
                    " Start it, e.g. `pg_ctlcluster 15 main start`, or set DATABASE_URL.")
        try:
            redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=3).ping()
        except redis.RedisError as error:
            problems.append(
                f"Redis at {settings.CELERY_BROKER_URL} is not reachable ({error})."
                " Start it, e.g. `redis-server --daemonize yes`, or set REDIS_URL.")
        if problems:
            raise CommandError("\n".join(problems))
        self.stdout.write("PostgreSQL and Redis are reachable.")
