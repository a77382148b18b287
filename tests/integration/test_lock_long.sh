#!/usr/bin/env bash
# test_lock_long.sh BURSTQD -- promise 4: another process holds the
# database's write lock for 10 s while clients send.  Nothing is lost:
# intake pauses (the queue fills, TCP holds the senders, no connection is
# dropped), nothing is acknowledged while nothing can be committed, and once
# the lock goes intake resumes, every line is stored exactly once and in
# order, and every client gets its final ack (lock_lib.sh).
. "$(dirname "$0")/lib.sh" "$@"
. "$(dirname "$0")/lock_lib.sh"

lock_scenario $((20000 / BQ_DIV)) 128K 10
