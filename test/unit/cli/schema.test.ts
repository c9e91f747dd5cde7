import { readFileSync } from 'node:fs';
import { RUN_CONFIG_SCHEMA_FILE, runConfigJsonSchema, runConfigJsonSchemaText } from '../../../cli/schema';

describe('the published run-config JSON Schema', () => {
  it('is the committed file, regenerated (run `npm run ratchet -- schema` after changing config/run-config.ts)', () => {
    expect(readFileSync(RUN_CONFIG_SCHEMA_FILE, 'utf8')).toBe(runConfigJsonSchemaText());
  });

  it('describes the input side: required runId and env, no unknown fields, optional defaults', () => {
    const schema = runConfigJsonSchema() as { required: string[]; additionalProperties: boolean; properties: Record<string, unknown> };
    expect(schema.required).toEqual(expect.arrayContaining(['runId', 'env']));
    expect(schema.required).not.toContain('algorithm'); // defaulted: a config file may leave it out
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['algorithm', 'agent', 'evaluation', 'bandit', 'apps', 'deepsearch']));
  });
});
