#!/bin/sh
# A generation that misbehaves as told by the first line of $FAULT_MODE_FILE,
# then (for the modes that go on) becomes the bye-protocol test server
# ($BYESERVER). Used by the hardening tests.
mode=$(head -n 1 "$FAULT_MODE_FILE")
# The fd-exhaustion test starves byed, not the server: it gives the child
# its own (higher) soft limit.
[ -n "$FAULT_NOFILE" ] && ulimit -n "$FAULT_NOFILE"
case "$mode" in
  ok) ;;
  crash) kill -SEGV $$ ;;
  exit0) exit 0 ;;
  close-socket) exec 3<&-; echo closed >&2; exit 1 ;;
  hang) exec sleep 600 ;;
  grandchild-holds-pipe)
    # A grandchild keeps the ready pipe (and the sockets) open after the
    # generation itself has died.
    (sleep 2) &
    exit 1 ;;
  flood-notify)
    # Thousands of datagrams that are not READY=1, then the real server.
    /usr/bin/python3 -c '
import os, socket
a = os.environ["NOTIFY_SOCKET"]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setblocking(False)
sent = 0
for i in range(20000):
    try:
        s.sendto(b"STATUS=noise %d\nWATCHDOG=1" % i, "\0" + a[1:])
        sent += 1
    except BlockingIOError:
        pass
' ;;
  flood-pipe)
    # Far more than a pipe buffer into UPGRADE_FD; blocks unless byed reads.
    eval 'head -c 4000000 /dev/zero >&'"$UPGRADE_FD" || exit 3 ;;
  *) echo "faulty.sh: unknown mode '$mode'" >&2; exit 2 ;;
esac
exec "$BYESERVER"
