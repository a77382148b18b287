#!/usr/bin/env bash
# test_lock.sh BURSTQD -- another process holds the database's write lock
# for a few seconds while clients send: nothing is acked while nothing can
# be committed, the daemon logs its retries, and once the lock goes every
# line is stored and every client gets its final ack (lock_lib.sh).
. "$(dirname "$0")/lib.sh" "$@"
. "$(dirname "$0")/lock_lib.sh"

lock_scenario $((5000 / BQ_DIV)) 256K 3
