/**
 * Every environment variable the product reads (CLI, workers, the Python worker, benches), for `ratchet --help`
 * and the README table. test/unit/cli/environment.test.ts fails when the code reads one that is not listed here
 * or in the README. Test-only variables (RATCHET_TEST_*, RATCHET_CHAOS_*) are documented in test/ and not listed.
 */
export const ENVIRONMENT: { name: string; meaning: string }[] = [
  { name: 'TEMPORAL_ADDRESS', meaning: 'Temporal frontend host:port (default 127.0.0.1:7233; --address)' },
  { name: 'TEMPORAL_NAMESPACE', meaning: 'Temporal namespace (default "default"; --namespace)' },
  { name: 'TEMPORAL_API_KEY', meaning: 'Temporal Cloud API key; turns TLS on (--api-key)' },
  { name: 'TEMPORAL_TLS', meaning: 'true/false: force TLS on or off (--tls)' },
  { name: 'TEMPORAL_TLS_CLIENT_CERT_PATH', meaning: 'client certificate PEM file for mTLS (or _DATA: the PEM itself; --tls-cert)' },
  { name: 'TEMPORAL_TLS_CLIENT_KEY_PATH', meaning: 'client private key PEM file for mTLS (or _DATA; --tls-key)' },
  { name: 'TEMPORAL_TLS_SERVER_CA_CERT_PATH', meaning: "CA that signed the server's certificate (or _DATA; --tls-ca)" },
  { name: 'TEMPORAL_TLS_SERVER_NAME', meaning: 'name to verify the server certificate against, sent as SNI (--tls-server-name)' },
  { name: 'TEMPORAL_CONFIG_FILE', meaning: "Temporal's TOML profile file (default ~/.config/temporalio/temporal.toml); TEMPORAL_PROFILE picks a profile" },
  { name: 'RATCHET_TEMPORAL_PORT', meaning: 'port of the local dev server that `ratchet up` starts (default 7233; UI on port + 1000)' },
  { name: 'DATABASE_URL', meaning: 'Postgres URL (default: the embedded PGlite on 127.0.0.1:55433)' },
  { name: 'RATCHET_DATA_DIR', meaning: 'where services, logs, reports and artifacts live (default .data)' },
  { name: 'RATCHET_ARTIFACTS', meaning: 'artifact store: s3://bucket/prefix (S3-compatible) or a folder (default RATCHET_ARTIFACTS_DIR)' },
  { name: 'RATCHET_ARTIFACTS_DIR', meaning: 'local artifact store root (default <data dir>/artifacts)' },
  { name: 'RATCHET_S3_ENDPOINT', meaning: 'S3 endpoint of the artifact store (else AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL; unset: AWS)' },
  { name: 'AWS_ENDPOINT_URL_S3', meaning: 'AWS standard: S3 endpoint' },
  { name: 'AWS_ENDPOINT_URL', meaning: 'AWS standard: endpoint of all services' },
  { name: 'AWS_REGION', meaning: 'AWS standard: region (else AWS_DEFAULT_REGION, else us-east-1)' },
  { name: 'AWS_DEFAULT_REGION', meaning: 'AWS standard: region' },
  { name: 'AWS_ACCESS_KEY_ID', meaning: 'AWS standard: S3 credentials' },
  { name: 'AWS_SECRET_ACCESS_KEY', meaning: 'AWS standard: S3 credentials' },
  { name: 'AWS_SESSION_TOKEN', meaning: 'AWS standard: S3 session token' },
  { name: 'RATCHET_MODELS_DIR', meaning: 'registered models (default <data dir>/models)' },
  { name: 'RATCHET_CONTROL_QUEUE', meaning: 'task queue of the control worker (default ratchet-control)' },
  { name: 'RATCHET_CPU_QUEUE', meaning: 'task queue of the cpu worker (default ratchet-cpu)' },
  { name: 'RATCHET_GPU_QUEUE', meaning: 'task queue of the gpu worker (default ratchet-gpu)' },
  { name: 'RATCHET_TORCH_QUEUE', meaning: 'task queue of the Python torch worker (default ratchet-torch)' },
  { name: 'RATCHET_TORCH_THREADS', meaning: 'torch threads of the Python worker (default all cores)' },
  { name: 'RATCHET_PAYLOAD_KEY', meaning: 'AES-256-GCM key (hex or base64): payloads encrypted in Temporal' },
  { name: 'RATCHET_PAYLOAD_OLD_KEYS', meaning: 'comma-separated earlier keys, still accepted for decryption while rotating' },
  { name: 'RATCHET_METRICS_PORT', meaning: 'Prometheus metrics base port of the workers (unset: no metrics endpoint)' },
  { name: 'LOG_LEVEL', meaning: 'worker log level (pino: trace, debug, info, warn, error)' },
  { name: 'RATCHET_TF_BACKEND', meaning: 'force the TensorFlow.js backend: tensorflow, cpu or wasm' },
  { name: 'RATCHET_VENV', meaning: 'Python virtual environment of the torch worker (default .tools/venv)' },
  { name: 'RATCHET_PYTHON', meaning: 'Python interpreter that creates that environment (default python3)' },
  { name: 'OMP_WAIT_POLICY', meaning: 'OpenMP wait policy of the Python worker (default PASSIVE)' },
  { name: 'BENCH_QUICK', meaning: 'benches: a shorter run' },
  { name: 'BENCH_ORT_THREADS', meaning: 'benches: onnxruntime threads' },
  { name: 'BENCH_LLM_THREADS', meaning: 'benches: LLM engine threads' },
  { name: 'BENCH_SFT_STEPS', meaning: 'bench:sft: SFT steps' },
];

export function environmentHelp(): string {
  const width = Math.max(...ENVIRONMENT.map((v) => v.name.length));
  return ['', 'Environment variables (flags win over them):', ...ENVIRONMENT.map((v) => `  ${v.name.padEnd(width)}  ${v.meaning}`)].join('\n');
}
