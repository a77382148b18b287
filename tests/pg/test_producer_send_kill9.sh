#!/usr/bin/env bash
# test_producer_send_kill9.sh BURSTQD -- issue 14's kill -9 loop
# (tests/integration/test_producer_send_kill9.sh: `burstq send --producer`
# streaming through kill -9 and restart of the daemon, one producer, then
# eight; every line stored once, in order, every client exits 0) with the
# database in a private PostgreSQL cluster.
here=$(cd "$(dirname "$0")" && pwd)
BQ_EO_PG=1 exec bash "$here/../integration/test_producer_send_kill9.sh" "$@"
