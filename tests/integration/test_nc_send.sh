#!/usr/bin/env bash
# test_nc_send.sh BURSTQD -- client/netcat/nc-send.sh sends a file or stdin,
# prints the daemon's acks, and exits 0 only when the last ack counts every
# line it sent, 3 (connection refused, said so) when nothing listens.
NC_SEND=$(realpath "$(dirname "$0")/../../client/netcat/nc-send.sh")
. "$(dirname "$0")/lib.sh" "$@"

sh "$NC_SEND" -h >help.out 2>&1
check_eq "nc-send.sh -h: exit status" "$?" 0
check_grep "nc-send.sh -h: usage line" help.out '^usage: nc-send\.sh'

start_daemon --max-message 50
gen_lines 1 1000 40 >file.in
sh "$NC_SEND" 127.0.0.1 "$BQ_PORT" file.in >file.out 2>file.err
check_eq "file: exit status" "$?" 0
check_acks file.out 1000 "file"
check_grep "file: summary on stderr" file.err '^sent 1000, committed 1000$'

printf 'a\nb\nc' | sh "$NC_SEND" 127.0.0.1 "$BQ_PORT" >stdin.out 2>stdin.err
check_eq "stdin (unterminated last line): exit status" "$?" 0
check_grep "stdin: summary" stdin.err '^sent 3, committed 3$'

# A rejected line means not everything was committed: exit 1, and say so.
{ echo short; head -c 200 /dev/zero | tr '\0' x; echo; echo after; } |
  sh "$NC_SEND" 127.0.0.1 "$BQ_PORT" >long.out 2>long.err
check_eq "with a rejected line: exit status" "$?" 1
check_grep "with a rejected line: the daemon's error is shown" long.out '^ERR too-long$'
check_grep "with a rejected line: summary" long.err '^sent 3, committed 2: not all'

stop_daemon
check_eq "exit status" "$BQ_RC" 0
check_eq "rows" "$(msg_count)" 1005

# Nothing listens: the script says the connection was refused and exits 3.
check_grep "-h: documents exit status 3" help.out '3 cannot connect'
hold_refused_port
printf 'a\nb\n' | sh "$NC_SEND" 127.0.0.1 "$BQ_REFUSED_PORT" >down.out 2>down.err
check_eq "nothing listening: exit status" "$?" 3
check_grep "nothing listening: says why" down.err \
  "^nc-send\.sh: cannot connect to 127\.0\.0\.1 port $BQ_REFUSED_PORT: Connection refused; nothing sent$"
check_no_grep "nothing listening: no claim of messages sent" down.err '^sent '

# -p ID: HELLO first; sending the same file again stores nothing twice.
check_grep "-h: documents -p" help.out '^  -p ID'
start_daemon
sh "$NC_SEND" -p web1 127.0.0.1 "$BQ_PORT" file.in >p1.out 2>p1.err
check_eq "-p: exit status" "$?" 0
check_grep "-p: the daemon's RESUME is shown" p1.out '^RESUME 0$'
check_grep "-p: summary" p1.err '^sent 1000, committed 1000 \(producer web1 at 1000\)$'
sh "$NC_SEND" -p web1 127.0.0.1 "$BQ_PORT" file.in >p2.out 2>p2.err
check_eq "-p, the same file again: exit status" "$?" 0
check_grep "-p, again: RESUME says all were stored" p2.out '^RESUME 1000$'
check_eq "-p: each line once" \
  "$(sql "SELECT count(*), count(DISTINCT pseq) FROM producer_messages WHERE producer = 'web1'")" \
  "1000|1000"
printf 'a\nb' | sh "$NC_SEND" -p web2 127.0.0.1 "$BQ_PORT" >p4.out 2>p4.err
check_eq "-p, stdin with an unterminated last line: exit status" "$?" 0
check_grep "-p, unterminated last line: ended and stored" p4.err '^sent 2, committed 2 '
sh "$NC_SEND" -p 'bad id' 127.0.0.1 "$BQ_PORT" file.in >p3.out 2>p3.err
check_eq "-p with a bad id: exit status" "$?" 2
check_grep "-p with a bad id: says why" p3.err 'is not a producer ID'
stop_daemon
check_eq "exit status after -p" "$BQ_RC" 0
