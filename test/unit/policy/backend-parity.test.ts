/** The wasm backend trains: its loss and gradients match the plain-JS cpu backend's on a small model. */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../../common/random';
import { backendInfo, BackendName, initBackend } from '../../../policy/backend';
import { disposeModel, logProbsAndEntropy, modelFromWeights, values } from '../../../policy/model';
import { gradients } from '../../../policy/optim';
import { TINY, randomIds, randomWeights } from './helpers';

const TOL = 1e-4;

describe('backend choice', () => {
  test('falls back past the missing native packages and logs the choice', async () => {
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    const native = (() => {
      try {
        require.resolve('@tensorflow/tfjs-node');
        return true;
      } catch {
        return false;
      }
    })();
    const chosen = await initBackend({ order: ['tensorflow', 'wasm', 'cpu'] });
    expect(chosen).toBe(native ? 'tensorflow' : 'wasm');
    expect(tf.getBackend()).toBe(chosen);
    expect(backendInfo().backend).toBe(chosen);
    expect(log.mock.calls.flat().join(' ')).toContain(`tfjs backend: ${chosen}`);
    log.mockRestore();
  });
});

describe('wasm vs cpu', () => {
  const ids = randomIds(new Rng(2), 3, 12, TINY.vocabSize);
  const inputs = ids.map((r) => r.slice(0, -1));
  const targets = ids.map((r) => r.slice(1));

  /** A loss touching every path the RL trainer uses: log-probs, entropy and values. */
  async function lossAndGrads(backend: BackendName) {
    expect(await initBackend({ order: [backend], quiet: true })).toBe(backend);
    const policy = modelFromWeights(TINY, 'policy', randomWeights(TINY, 21));
    const critic = modelFromWeights(TINY, 'critic', randomWeights(TINY, 22, 'critic'));
    const policyOut = gradients(policy, () => {
      const { logProbs, entropy } = logProbsAndEntropy(policy, inputs, targets);
      return logProbs.mul(-1).mean().sub(entropy.mean().mul(0.01)) as tf.Scalar;
    });
    const criticOut = gradients(critic, () => values(critic, inputs).sub(0.5).square().mean() as tf.Scalar);
    const read = (grads: Record<string, tf.Tensor>) => Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, g.dataSync().slice()]));
    const result = { policyLoss: policyOut.value, criticLoss: criticOut.value, policyGrads: read(policyOut.grads), criticGrads: read(criticOut.grads) };
    tf.dispose([...Object.values(policyOut.grads), ...Object.values(criticOut.grads)]);
    disposeModel(policy);
    disposeModel(critic);
    return result;
  }

  test('loss and every gradient agree within 1e-4', async () => {
    const cpu = await lossAndGrads('cpu');
    const wasm = await lossAndGrads('wasm');
    expect(Math.abs(cpu.policyLoss - wasm.policyLoss)).toBeLessThan(TOL);
    expect(Math.abs(cpu.criticLoss - wasm.criticLoss)).toBeLessThan(TOL);
    for (const [cpuGrads, wasmGrads] of [
      [cpu.policyGrads, wasm.policyGrads],
      [cpu.criticGrads, wasm.criticGrads],
    ]) {
      expect(Object.keys(wasmGrads).sort()).toEqual(Object.keys(cpuGrads).sort());
      let largest = 0;
      for (const [name, g] of Object.entries(cpuGrads)) {
        const w = wasmGrads[name];
        for (let i = 0; i < g.length; i++) {
          expect(Math.abs(g[i] - w[i])).toBeLessThan(TOL);
          largest = Math.max(largest, Math.abs(g[i]));
        }
      }
      expect(largest).toBeGreaterThan(1e-3); // gradients are not all ~0
    }
    // every weight gets a gradient, the embedding included (one-hot matmul, not gather)
    expect(Object.keys(cpu.policyGrads)).toContain('wte');
    expect(Math.max(...Array.from(cpu.policyGrads.wte).map(Math.abs))).toBeGreaterThan(0);
  });
});
