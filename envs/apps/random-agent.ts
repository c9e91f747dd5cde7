/**
 * A random-action policy, the floor for the metrics and a fuzzer for the parser: a mix of garbage text,
 * well-formed calls to real APIs with random arguments, and early completions.
 */
import { Rng } from '../../common/random';
import type { Agent } from '../types';
import { allApis } from './apis';
import { formatCall } from './protocol';
import type { Value } from './world';

const WORDS = ['Ann', 'today', '~/photos', 'inbox', 'friend', 'x', '', 'pending', 'received', '~/recycle_bin/', 'abc123'];
const CHARS = 'abcdefghijklmnopqrstuvwxyz_.()=",0123456789 \\\'[]{}-';

export function randomText(rng: Rng, maxLen = 60): string {
  return Array.from({ length: rng.int(0, maxLen) }, () => rng.pick([...CHARS])).join('');
}

export function randomCall(rng: Rng): string {
  const spec = rng.pick(allApis());
  const args: Record<string, Value> = {};
  const params = spec.auth ? [{ name: 'token', type: 'string' }, ...spec.params] : spec.params;
  for (const p of params) {
    if (rng.bool(0.2)) continue;
    args[p.name] = p.type === 'int' ? rng.int(-1, 12) : p.type === 'bool' ? rng.bool() : rng.pick(WORDS);
  }
  return formatCall(spec.app, spec.name, args);
}

export function randomAgent(seed: number): Agent {
  const rng = new Rng(seed);
  return {
    act: () => {
      const r = rng.next();
      if (r < 0.3) return randomText(rng);
      if (r < 0.95) return randomCall(rng);
      return formatCall('supervisor', 'complete_task', rng.bool() ? { answer: rng.pick(WORDS) } : {});
    },
  };
}
