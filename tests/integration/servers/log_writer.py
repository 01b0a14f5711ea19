"""A program whose output the --log-child tests check: numbered lines.

log_writer.py MODE [ARGS]
  upgrade  writes "PID SEQ out|err FILLER" lines to stdout and stderr
           (FILLER: 1..3000 bytes, its length a function of SEQ, so a cut
           line shows): 200 without pause, then says ready on UPGRADE_FD
           and goes on at about 1000 a second; on TERM writes 100 more
           without pause and exits.
  long N   one line of N bytes, then "after".
  bulk N   N lines of 100 bytes ("%010d" SEQ and 89 'y'), then exits.
  flood F  "start", then once file F exists, 100-byte lines forever.
  bytes    non-UTF-8 bytes on a line.
"""

import os
import signal
import sys
import time

out = sys.stdout.buffer
err = sys.stderr.buffer
pid = os.getpid()


def filler(seq):
    return b"x" * (1 + (seq * 7919) % 3000)


def upgrade():
    stopping = [False]
    signal.signal(signal.SIGTERM, lambda *_: stopping.__setitem__(0, True))
    seq = 0
    left = None
    while left is None or left > 0:
        for stream, name in ((out, b"out"), (err, b"err")):
            stream.write(b"%d %d %s %s\n" % (pid, seq, name, filler(seq)))
            stream.flush()
        seq += 1
        if seq == 200 and "UPGRADE_FD" in os.environ:
            os.write(int(os.environ["UPGRADE_FD"]), b"1")
        if seq > 200 and left is None:
            time.sleep(0.001)  # pacing, not synchronisation: a bounded file
        if stopping[0] and left is None:
            left = 100
        if left is not None:
            left -= 1


def main():
    mode = sys.argv[1]
    if mode == "upgrade":
        upgrade()
    elif mode == "long":
        out.write(b"z" * int(sys.argv[2]) + b"\nafter\n")
    elif mode == "bulk":
        n = int(sys.argv[2])
        chunk = []
        for i in range(n):
            chunk.append(b"%010d%s\n" % (i, b"y" * 89))
            if len(chunk) == 1000:
                out.write(b"".join(chunk))
                chunk = []
        out.write(b"".join(chunk))
    elif mode == "flood":
        out.write(b"start\n")
        out.flush()
        while not os.path.exists(sys.argv[2]):
            time.sleep(0.005)  # a poll loop on the test's go-ahead
        i = 0
        while True:
            out.write(b"%010d%s\n" % (i, b"y" * 89))
            i += 1
    elif mode == "bytes":
        out.write(b"caf\xe9 \xff\xfe ok \xc3\xa9\n")
    out.flush()


if __name__ == "__main__":
    main()
