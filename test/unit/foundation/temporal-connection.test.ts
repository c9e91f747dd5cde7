import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flagsFromArgv, flagsToEnv, temporalTarget } from '../../../common/temporal-connection';

// No TOML profile from the machine running the tests.
const BASE = { TEMPORAL_CONFIG_FILE: join(tmpdir(), 'ratchet-no-such-temporal.toml') };

describe('temporalTarget', () => {
  it('defaults to plaintext on the local dev server and the default namespace', () => {
    const target = temporalTarget({}, { ...BASE, RATCHET_TEMPORAL_PORT: '7255' });
    expect(target).toMatchObject({ address: '127.0.0.1:7255', namespace: 'default', tls: false });
    expect(target.connectionOptions.tls).toBeUndefined();
  });

  it("reads Temporal's standard variables, and flags win over them", () => {
    const env = { ...BASE, TEMPORAL_ADDRESS: 'env:7233', TEMPORAL_NAMESPACE: 'env-ns' };
    expect(temporalTarget({}, env)).toMatchObject({ address: 'env:7233', namespace: 'env-ns' });
    expect(temporalTarget({ address: 'flag:7233', namespace: 'flag-ns' }, env)).toMatchObject({ address: 'flag:7233', namespace: 'flag-ns' });
  });

  it('turns TLS on for an API key, and loads the mTLS files given by variables or flags', () => {
    const withKey = temporalTarget({}, { ...BASE, TEMPORAL_API_KEY: 'secret' });
    expect(withKey.connectionOptions).toMatchObject({ apiKey: 'secret', tls: true });
    const dir = mkdtempSync(join(tmpdir(), 'ratchet-tls-'));
    for (const name of ['cert.pem', 'key.pem', 'ca.pem']) writeFileSync(join(dir, name), `PEM ${name}`);
    const fromEnv = temporalTarget({}, { ...BASE, TEMPORAL_TLS_CLIENT_CERT_PATH: join(dir, 'cert.pem'), TEMPORAL_TLS_CLIENT_KEY_PATH: join(dir, 'key.pem') });
    const fromFlags = temporalTarget({ tlsCa: join(dir, 'ca.pem'), tlsServerName: 'localhost' }, BASE);
    expect(fromEnv.tls && fromFlags.tls).toBe(true);
    const tls = fromEnv.connectionOptions.tls as { clientCertPair: { crt: Buffer; key: Buffer } };
    expect(Buffer.from(tls.clientCertPair.crt).toString()).toBe('PEM cert.pem');
    expect(fromFlags.connectionOptions.tls).toMatchObject({ serverNameOverride: 'localhost' });
    expect(temporalTarget({ tls: false }, { ...BASE, TEMPORAL_API_KEY: 'secret' }).tls).toBe(false);
  });

  it('missing certificate files fail loudly, not as plaintext', () => {
    expect(() => temporalTarget({ tlsCa: '/no/such/ca.pem' }, BASE)).toThrow();
  });
});

describe('cluster flags', () => {
  it('parse from a worker argv (unknown flags left alone) and pass into an environment', () => {
    const flags = flagsFromArgv(['--address', 'a:1', '--tls-cert', 'c.pem', '--other', 'x', '--tls']);
    expect(flags).toMatchObject({ address: 'a:1', tlsCert: 'c.pem', tls: true });
    const env: NodeJS.ProcessEnv = {};
    flagsToEnv(flags, env);
    expect(env).toEqual({ TEMPORAL_ADDRESS: 'a:1', TEMPORAL_TLS_CLIENT_CERT_PATH: 'c.pem', TEMPORAL_TLS: 'true' });
  });
});
