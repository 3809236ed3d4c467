/**
 * A TLS server for the transport's tests, run as its own Node process (Deno's `node:https` server does not
 * verify client certificates, and the transport is tested on both runtimes): it requires a client
 * certificate signed by the CA it is given, and answers every request with the certificate's common name
 * and how many TLS connections it has accepted so far — 401 without a valid certificate.
 *
 *   node test/support/client-cert-server.ts <dir>   # dir holds ca.pem, server.pem, server.key; prints {"port":N}
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';

const dir = process.argv[2] ?? '.';
let connections = 0;
const server = createServer(
  { key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.pem')), ca: readFileSync(join(dir, 'ca.pem')), requestCert: true, rejectUnauthorized: false },
  (req, res) => {
    const socket = req.socket as TLSSocket;
    const user = socket.authorized ? String(socket.getPeerCertificate().subject?.CN ?? '') : '';
    res.writeHead(user ? 200 : 401, { 'content-type': 'application/json' });
    res.end(JSON.stringify(user ? { kind: 'NamespaceList', items: [], user, connections } : { kind: 'Status', code: 401, reason: 'Unauthorized', message: 'Unauthorized' }));
  },
);
server.on('secureConnection', () => connections++);
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`));
process.on('SIGTERM', () => process.exit(0));
