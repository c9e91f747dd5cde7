/**
 * TLS in front of the test dev server (`temporal server start-dev` has no TLS option): openssl makes a CA, a
 * server certificate (localhost, 127.0.0.1) and a client certificate; a node:tls server that requires a client
 * certificate signed by that CA terminates TLS and passes the bytes (gRPC's HTTP/2) to the plaintext server.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { createServer, type Server } from 'node:tls';

export interface Certificates {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** A CA and two leaf certificates signed by it (EC P-256, X.509 v3 as rustls requires), in `dir`. */
export function makeCertificates(dir: string): Certificates {
  mkdirSync(dir, { recursive: true });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(dir, ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=ratchet test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const leaf = (name: string, extensions: string) => {
    writeFileSync(join(dir, `${name}.ext`), `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n${extensions}\n`);
    openssl(dir, ['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
    openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`]);
  };
  leaf('server', 'extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1');
  leaf('client', 'extendedKeyUsage=clientAuth');
  const at = (file: string) => join(dir, file);
  return { dir, ca: at('ca.pem'), serverCert: at('server.pem'), serverKey: at('server.key'), clientCert: at('client.pem'), clientKey: at('client.key') };
}

export interface TlsProxy {
  address: string;
  /** Handshakes refused so far (no or bad client certificate, plaintext). */
  refused: number;
  close(): Promise<void>;
}

/** Listen on 127.0.0.1 (a free port), require mTLS, forward each connection to `upstream` (host:port). */
export async function startTlsProxy(certs: Certificates, upstream: string): Promise<TlsProxy> {
  const [host, port] = [upstream.slice(0, upstream.lastIndexOf(':')), Number(upstream.slice(upstream.lastIndexOf(':') + 1))];
  const sockets = new Set<Socket>();
  const state = { refused: 0 };
  const server: Server = createServer(
    {
      key: readFileSync(certs.serverKey),
      cert: readFileSync(certs.serverCert),
      ca: readFileSync(certs.ca),
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: ['h2'],
    },
    (client) => {
      const backend = connect(port, host);
      for (const socket of [client, backend]) {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        socket.on('error', () => undefined); // either side going away closes the other below
      }
      client.pipe(backend).on('close', () => client.destroy());
      backend.pipe(client).on('close', () => backend.destroy());
    },
  );
  server.on('tlsClientError', () => state.refused++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    get refused() {
      return state.refused;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
