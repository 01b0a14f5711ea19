"""An HTTP client loop for the deployment tests: GET URL again and again
until STOPFILE exists, then write "failed=N ok=M" to OUTFILE. OUTFILE.count
(beside it, by prefix) holds the running count of answers."""

import os
import sys
import urllib.request

url, stop, out = sys.argv[1:4]
count = os.path.join(os.path.dirname(out), "client.count")
ok = failed = 0
while not os.path.exists(stop):
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            if r.status == 200 and r.read().startswith(b"pid="):
                ok += 1
            else:
                failed += 1
    except OSError as e:
        failed += 1
        print("request failed:", e, file=sys.stderr, flush=True)
    if (ok + failed) % 10 == 1:
        with open(count + ".tmp", "w") as f:
            f.write(str(ok + failed))
        os.rename(count + ".tmp", count)
with open(out + ".tmp", "w") as f:
    f.write(f"failed={failed} ok={ok}\n")
os.rename(out + ".tmp", out)
