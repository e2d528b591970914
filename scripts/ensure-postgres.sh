#!/bin/sh
# Install Debian's PostgreSQL server for the test suite's throwaway cluster, where it is missing.
# The suite needs it (no test is skipped for lack of PostgreSQL), so this script says loudly when
# it cannot install it; set FLUX_TEST_POSTGRES_URL to run the suite against an existing server.
if [ -n "$FLUX_TEST_POSTGRES_URL" ]; then
    exit 0
fi
for dir in /usr/lib/postgresql/*/bin; do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
        exit 0
    fi
done
if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-postgres: PostgreSQL server not found and apt-get not available;" \
        "install PostgreSQL or set FLUX_TEST_POSTGRES_URL, or the PostgreSQL tests fail" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "ensure-postgres: PostgreSQL server not found, and not root and no sudo to install it;" \
            "install PostgreSQL or set FLUX_TEST_POSTGRES_URL, or the PostgreSQL tests fail" >&2
        exit 1
    fi
fi
$SUDO apt-get update -qq >/dev/null 2>&1
if DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null 2>&1; then
    echo "ensure-postgres: installed $(ls -d /usr/lib/postgresql/*/bin | tail -n 1)" >&2
    exit 0
fi
echo "ensure-postgres: could not install Debian's postgresql package;" \
    "set FLUX_TEST_POSTGRES_URL, or the PostgreSQL tests fail" >&2
exit 1
