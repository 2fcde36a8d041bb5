#!/usr/bin/env bash
# `make bench`: PostgreSQL, migrations, scale data (once), then the timed scenarios and the
# budgets (benchmarks/bench.py). Not part of `make test`.
# Environment: BENCH_DB (database, default portal_bench_100k), BENCH_PORT (gunicorn, 8105),
# BENCH_WORKERS (gunicorn workers, 4), BENCH_MEMBERS / BENCH_SEATS / BENCH_LEDGER (scale:
# 100,000 / 100,000 / 10,000,000; another scale wants another BENCH_DB).
set -euo pipefail
cd "$(dirname "$0")/.."
db=${BENCH_DB:-portal_bench_100k}
# shellcheck source=/dev/null
source .ci/postgres.sh "$db" "$db"
# The scale data is loaded with foreign-key triggers off, as pg_restore does (PostgreSQL 15
# lets a role be granted that one setting; on older servers the load checks every row).
su postgres -c "psql -q -d $db -c 'GRANT SET ON PARAMETER session_replication_role TO $db'" \
  2>/dev/null || true
export DJANGO_SETTINGS_MODULE=benchmarks.settings
export DJANGO_SECRET_KEY=${DJANGO_SECRET_KEY:-benchmark-only-secret-key-not-for-deployment-0123456789}
export DJANGO_ALLOWED_HOSTS=${DJANGO_ALLOWED_HOSTS:-testserver,127.0.0.1,localhost}
export DJANGO_SECURE_SSL_REDIRECT=false
export DJANGO_EMAIL_BACKEND=django.core.mail.backends.locmem.EmailBackend
py=.venv/bin/python
members=${BENCH_MEMBERS:-100000}
$py manage.py collectstatic --noinput -v0
$py manage.py migrate --noinput -v0
started=$(date +%s)
$py manage.py generate_scale_data --members "$members" --seats "${BENCH_SEATS:-100000}" \
  --ledger "${BENCH_LEDGER:-10000000}"
echo "Scale data ready ($(( $(date +%s) - started ))s)"
echo "Load before the run: $(uptime)"
status=0
$py -m benchmarks.bench --members "$members" "$@" || status=$?
# Credit holds (R35-R37): a hold then its capture, beside bare SQL, on the same pool.
$py -m benchmarks.holds --members "$members" || status=$?
exit $status
