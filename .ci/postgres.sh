#!/usr/bin/env bash
# Install PostgreSQL if missing, start it, and create a role and database.
# Usage: source .ci/postgres.sh ROLE DB  → exports DATABASE_URL.
# Shared by .ci/run and `make bench`, so both get the same server the same way.
set -euo pipefail
pg_role=${1:?role}
pg_db=${2:?database}
export DEBIAN_FRONTEND=noninteractive
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "Installing postgresql with apt-get"
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
fi
pg_version=$(ls /etc/postgresql | sort -V | tail -n 1)
if [ -z "$pg_version" ]; then
  echo "No PostgreSQL cluster found" >&2
  exit 1
fi
pg_ctlcluster "$pg_version" main start 2>/dev/null || true
for _ in $(seq 1 30); do
  su postgres -c "pg_isready -q" && break
  sleep 1
done
su postgres -c "psql -v ON_ERROR_STOP=1 -q" <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${pg_role}') THEN
    CREATE ROLE ${pg_role} LOGIN CREATEDB PASSWORD '${pg_role}';
  END IF;
END
\$\$;
SQL
su postgres -c "psql -q -tc \"SELECT 1 FROM pg_database WHERE datname = '${pg_db}'\"" | grep -q 1 \
  || su postgres -c "createdb -O ${pg_role} ${pg_db}"
export DATABASE_URL="postgres://${pg_role}:${pg_role}@127.0.0.1:5432/${pg_db}"
echo "PostgreSQL $pg_version ready: database ${pg_db}"
