#!/bin/bash
# First start of the postgres service: run thresholds/*.sql (table definitions), then load
# each thresholds/<table>.csv (with a header row) into the table of the same name.
set -euo pipefail
shopt -s nullglob
for sql in /thresholds/*.sql; do
    echo "loading ${sql}"
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -f "$sql"
done
for csv in /thresholds/*.csv; do
    table="$(basename "$csv" .csv)"
    echo "loading ${csv} into ${table}"
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
        -c "\\copy ${table} FROM '${csv}' WITH (FORMAT csv, HEADER true)"
done
