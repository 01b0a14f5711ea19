// An unmodified node server on the held socket: net.Server listening on
// {fd: 3} (libuv: epoll), after a warm-up. Reads the same $WARM_MODE_FILE
// as warm_http.py, its first line at start:
//   "ok SECONDS"    warm up, then serve "pid=P\n" over HTTP/1.0
//   "fail SECONDS"  warm up, then exit 3 (a release that fails at start)
// Prints "warming pid=P" at start and "serving pid=P" once it listens. On
// TERM it stops accepting, answers what it took, and exits 0.
'use strict';
const fs = require('fs');
const net = require('net');

const [mode, seconds] =
    fs.readFileSync(process.env.WARM_MODE_FILE, 'utf8').split('\n')[0]
        .trim().split(/\s+/);
console.log(`warming pid=${process.pid}`);
let server = null;

process.on('SIGTERM', () => {
  if (!server) process.exit(0);
  // byed keeps the socket: nothing is refused.
  server.close(() => process.exit(0));
});

setTimeout(() => {
  if (mode === 'fail') process.exit(3);
  server = net.createServer((conn) => {
    let head = '';
    conn.on('data', (chunk) => {
      head += chunk;
      if (!head.includes('\r\n\r\n')) return;
      const body = `pid=${process.pid}\n`;
      conn.end('HTTP/1.0 200 OK\r\nContent-Length: ' + body.length +
               '\r\n\r\n' + body);
    });
    conn.on('error', () => {});
  });
  server.listen({fd: 3}, () => console.log(`serving pid=${process.pid}`));
}, parseFloat(seconds) * 1000);
