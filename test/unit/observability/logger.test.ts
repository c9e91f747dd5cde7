import { Writable } from 'node:stream';
import { createLogger, TemporalPinoLogger } from '../../../workers/observability/logger';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, stream };
}

test('JSON lines with the base fields; the Temporal logger maps levels and renames the workflow run id', () => {
  const { lines, stream } = capture();
  const logger = new TemporalPinoLogger(createLogger({ pool: 'cpu' }, stream));
  logger.info('Activity completed', { activityType: 'recordStep', attempt: 2, runId: 'wf-run', workflowId: 'train-r1', timestamp: 5n });
  logger.debug('hidden at the default level');
  logger.log('WARN', 'slow', { error: new Error('boom') });
  expect(lines).toHaveLength(2);
  expect(lines[0]).toMatchObject({ level: 30, pool: 'cpu', msg: 'Activity completed', activity: 'recordStep', attempt: 2, workflowRunId: 'wf-run', workflowId: 'train-r1', timestamp: '5' });
  expect(lines[0]).not.toHaveProperty('runId');
  expect(typeof lines[0].time).toBe('string');
  expect(lines[1]).toMatchObject({ level: 40, msg: 'slow', error: { type: 'Error', message: 'boom', stack: expect.stringContaining('boom') } });
});
