import { buildRunReport, chooseSamples, type ReportRows, turnAdvantages } from '../../../report/build';
import { renderHtml } from '../../../report/html';
import { pointCounts } from '../../../report/page';

const outcome = (step: number, group: number, sample: number, taskId: string, success: boolean) => ({ step, group, sample, taskId, reward: success ? 1 : 0, success });

/** Three steps of an apps-like run: step 1 has no update metrics, and only step 2 was evaluated. */
function fixture(): ReportRows {
  const phaseMs = { selectTasks: 10, rolloutBatch: 300, updatePolicy: 90 };
  const steps = [0, 1, 2].map((step) => ({
    step,
    policyVersion: step,
    meanReward: 0.1 * step,
    successRate: 0.25 * step,
    entropy: 1 - 0.1 * step,
    kl: 0.01 * step,
    wallMs: 400,
    metrics: step === 1 ? { phaseMs } : { phaseMs, clipFraction: 0.2, gradNorm: 3 },
  }));
  return {
    run: { runId: 'r1', env: 'apps', algorithm: 'ppo', status: 'completed', stepsCompleted: 3 },
    steps,
    evaluations: [
      { step: 2, split: 'dev', mode: 'greedy', policyVersion: 3, tasks: 8, successRate: 0.5, meanReward: 0.5 },
      { step: 2, split: 'dev', mode: 'pass@4', policyVersion: 3, tasks: 8, successRate: 0.75, meanReward: 0.75 },
    ],
    checkpoints: [0, 1, 2, 3].map((version) => ({ version, step: version, artifactKey: `runs/r1/checkpoints/v${version}.ckpt`, sha256: `sha-${version}` })),
    outcomes: [outcome(0, 0, 0, 'a', false), outcome(0, 0, 1, 'b', false), outcome(2, 0, 0, 'a', true), outcome(2, 1, 0, 'b', false), outcome(2, 1, 1, 'c', true)],
    tasks: [
      { taskId: 'a', template: 'send_money', level: 1 },
      { taskId: 'b', template: 'book_table', level: 2 },
      { taskId: 'c', template: 'send_money', level: 2 },
    ],
    samples: [
      { ...outcome(2, 0, 0, 'a', true), finishReason: 'done', turns: [
        { action: 'apis.login()', observation: '<token & "x">', reward: 0, advantage: 0.5 },
        { action: 'finish()', observation: 'ok', reward: 1, advantage: null },
      ] },
    ],
  };
}

describe('ratchet report data', () => {
  const report = buildRunReport(fixture());
  const charts = Object.fromEntries(report.page.sections.flatMap((s) => s.charts ?? []).map((c) => [c.id, c]));

  it('has a chart per metric the run recorded, each with its points', () => {
    expect(Object.keys(charts)).toEqual(['reward-success', 'evaluations', 'kl', 'entropy', 'clip-fraction', 'grad-norm', 'phase-ms', 'success-by-template', 'success-by-level']);
    expect(pointCounts(charts['reward-success'])).toEqual([3, 3]);
    expect(charts.evaluations.x).toEqual([2]);
    expect(charts.evaluations.series).toEqual([{ name: 'dev greedy', values: [0.5] }, { name: 'dev pass@4', values: [0.75] }]);
    // Step 1 recorded no update metrics: a gap, not a zero.
    expect(charts['clip-fraction'].series[0].values).toEqual([0.2, null, 0.2]);
    expect(charts['phase-ms'].series.map((s) => s.name)).toEqual(['selectTasks', 'rolloutBatch', 'updatePolicy']);
  });

  it('counts success per template and level over all steps and over the last step', () => {
    // send_money: a@0 fail, a@2 ok, c@2 ok = 2/3, last step 2/2; book_table: b@0 fail, b@2 fail.
    expect(charts['success-by-template']).toMatchObject({ kind: 'bar', x: ['book_table', 'send_money'] });
    expect(charts['success-by-template'].series).toEqual([{ name: 'all steps', values: [0, 0.6667] }, { name: 'step 2', values: [0, 1] }]);
    // level 1: a twice (1/2); level 2: b twice fail, c ok = 1/3.
    expect(charts['success-by-level'].series[0].values).toEqual([0.5, 0.3333]);
  });

  it('lists the policy versions with their hashes and renders the sampled trajectory turn by turn', () => {
    const tables = report.page.sections.flatMap((s) => s.tables ?? []);
    expect(tables.find((t) => t.title === 'Policy versions')?.rows.map((r) => r[2])).toEqual(['sha-0', 'sha-1', 'sha-2', 'sha-3']);
    const trajectory = tables.find((t) => t.title.startsWith('step 2 · group 0 sample 0'));
    expect(trajectory?.rows).toEqual([
      [1, 'apis.login()', '<token & "x">', 0, 0.5],
      [2, 'finish()', 'ok', 1, '-'],
    ]);
  });

  it('drops the charts of metrics the run never recorded (a bandit has no clip fraction)', () => {
    const rows = fixture();
    rows.steps.forEach((s) => (s.metrics = { phaseMs: {} }));
    rows.evaluations = [];
    const ids = buildRunReport(rows).page.sections.flatMap((s) => s.charts ?? []).map((c) => c.id);
    expect(ids).toEqual(['reward-success', 'kl', 'entropy', 'success-by-template', 'success-by-level']);
  });

  it('writes one self-contained page: uPlot inlined, data that cannot close its script, text escaped', () => {
    const html = renderHtml(report.page);
    expect(html).toContain('uPlot');
    expect(html).not.toMatch(/<script[^>]+src=/);
    expect(html).toContain('&#60;token &#38; &#34;x&#34;&#62;');
    const data = html.match(/<script id="report-data" type="application\/json">(.*?)<\/script>/s)?.[1] ?? '';
    expect(data).not.toContain('<');
    expect(JSON.parse(data)).toEqual(report.page);
  });
});

describe('sampling and per-turn advantages', () => {
  it('takes the first success and failure of the first and last step', () => {
    const picked = chooseSamples(fixture().outcomes).map((o) => `${o.step}/${o.group}/${o.sample}`);
    expect(picked).toEqual(['0/0/0', '2/0/0', '2/1/0']);
  });

  it("averages each turn's action tokens and gives null to a turn without tokens or a missing row", () => {
    expect(turnAdvantages([1, 3, 0.5, 0.5, 0.5], [2, 0, 3])).toEqual([2, null, 0.5]);
    expect(turnAdvantages(undefined, [2])).toEqual([null]);
  });
});
