/**
 * How every TypeScript caller (workers, CLI, benches, the service checks) reaches Temporal: any cluster, with
 * TLS / mTLS or a Temporal Cloud API key. Settings come from Temporal's own environment configuration
 * (@temporalio/envconfig: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*, the
 * optional TOML profile file) so the same variables drive the `temporal` CLI and the Python worker; command-line
 * flags override them. Nothing set: plaintext to the local dev server.
 */
import { parseArgs } from 'node:util';
import { loadClientConfigProfile, toClientOptions, type ClientConfigProfile } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';

/** The flags a command accepts (commander's camelCase names); each overrides its environment variable. */
export interface TemporalFlags {
  address?: string;
  namespace?: string;
  apiKey?: string;
  /** Force TLS on (true) or off (false); left out, TLS is on when a certificate, CA or API key is given. */
  tls?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  tlsServerName?: string;
}

/** Flag -> the standard variable it overrides, for `--help`, the README and the tests. */
export const TEMPORAL_FLAG_ENV = {
  address: 'TEMPORAL_ADDRESS',
  namespace: 'TEMPORAL_NAMESPACE',
  apiKey: 'TEMPORAL_API_KEY',
  tls: 'TEMPORAL_TLS',
  tlsCert: 'TEMPORAL_TLS_CLIENT_CERT_PATH',
  tlsKey: 'TEMPORAL_TLS_CLIENT_KEY_PATH',
  tlsCa: 'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
  tlsServerName: 'TEMPORAL_TLS_SERVER_NAME',
} as const satisfies Record<keyof TemporalFlags, string>;

export interface TemporalTarget {
  address: string;
  namespace: string;
  /** Fits both Connection.connect (client) and NativeConnection.connect (workers). */
  connectionOptions: NativeConnectionOptions & { address: string };
  /** true when the connection uses TLS (for log lines). */
  tls: boolean;
}

export function defaultTemporalAddress(env: NodeJS.ProcessEnv = process.env): string {
  return `127.0.0.1:${Number(env.RATCHET_TEMPORAL_PORT || 7233)}`;
}

/** Where and how to connect: flags over environment over the TOML profile over the local default. */
export function temporalTarget(flags: TemporalFlags = {}, env: NodeJS.ProcessEnv = process.env): TemporalTarget {
  const definedEnv = Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined));
  const profile = loadClientConfigProfile({ overrideEnvVars: definedEnv });
  const merged = withFlags(profile, flags);
  const { connectionOptions, namespace } = toClientOptions(merged);
  const address = connectionOptions.address ?? defaultTemporalAddress(env);
  return { address, namespace: namespace ?? 'default', connectionOptions: { ...connectionOptions, address }, tls: Boolean(connectionOptions.tls) };
}

function withFlags(profile: ClientConfigProfile, flags: TemporalFlags): ClientConfigProfile {
  const tls = { ...profile.tls };
  if (flags.tlsCert) tls.clientCert = { path: flags.tlsCert };
  if (flags.tlsKey) tls.clientKey = { path: flags.tlsKey };
  if (flags.tlsCa) tls.serverCACert = { path: flags.tlsCa };
  if (flags.tlsServerName) tls.serverName = flags.tlsServerName;
  if (flags.tls !== undefined) tls.disabled = !flags.tls;
  const anyTls = Object.keys(tls).length > 0;
  return {
    ...profile,
    address: flags.address ?? profile.address,
    namespace: flags.namespace ?? profile.namespace,
    apiKey: flags.apiKey ?? profile.apiKey,
    tls: anyTls ? tls : undefined,
  };
}

/** Commander-style option lines, shared by `ratchet` and the worker entry points. */
export const TEMPORAL_OPTIONS: { flags: string; description: string }[] = [
  { flags: '--address <host:port>', description: `Temporal frontend (${TEMPORAL_FLAG_ENV.address}; default 127.0.0.1:7233)` },
  { flags: '--namespace <name>', description: `Temporal namespace (${TEMPORAL_FLAG_ENV.namespace}; default "default")` },
  { flags: '--api-key <key>', description: `Temporal Cloud API key; turns TLS on (${TEMPORAL_FLAG_ENV.apiKey})` },
  { flags: '--tls', description: `use TLS with the system roots (${TEMPORAL_FLAG_ENV.tls}=true)` },
  { flags: '--tls-cert <file>', description: `client certificate (PEM) for mTLS (${TEMPORAL_FLAG_ENV.tlsCert})` },
  { flags: '--tls-key <file>', description: `client private key (PEM) for mTLS (${TEMPORAL_FLAG_ENV.tlsKey})` },
  { flags: '--tls-ca <file>', description: `CA that signed the server certificate (${TEMPORAL_FLAG_ENV.tlsCa})` },
  { flags: '--tls-server-name <name>', description: `server name to verify and send as SNI (${TEMPORAL_FLAG_ENV.tlsServerName})` },
];

/** Copy the given flags into an environment, so child processes (workers, the temporal CLI) see the same cluster. */
export function flagsToEnv(flags: TemporalFlags, env: NodeJS.ProcessEnv = process.env): void {
  for (const [key, name] of Object.entries(TEMPORAL_FLAG_ENV) as [keyof TemporalFlags, string][]) {
    const value = flags[key];
    if (value !== undefined) env[name] = String(value);
  }
}

/** The same flags from a worker's argv (`tsx workers/cpu.ts --address ... --tls-cert ...`); unknown ones are left alone. */
export function flagsFromArgv(argv: string[] = process.argv.slice(2)): TemporalFlags {
  const { values } = parseArgs({
    args: argv,
    strict: false,
    options: {
      address: { type: 'string' },
      namespace: { type: 'string' },
      'api-key': { type: 'string' },
      tls: { type: 'boolean' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-ca': { type: 'string' },
      'tls-server-name': { type: 'string' },
    },
  });
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return {
    address: text(values.address),
    namespace: text(values.namespace),
    apiKey: text(values['api-key']),
    tls: values.tls === true ? true : undefined,
    tlsCert: text(values['tls-cert']),
    tlsKey: text(values['tls-key']),
    tlsCa: text(values['tls-ca']),
    tlsServerName: text(values['tls-server-name']),
  };
}
