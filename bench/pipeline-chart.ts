/**
 * bench/pipeline.ts's SVG: each ratio over its goal on a log axis, and the warm step's phases per run, as a vega-lite spec
 * rendered headless by vega (`view.toSVG()`, no browser, no canvas).
 */
import { writeFileSync } from 'node:fs';

interface Ratio {
  name: string;
  value: number;
  goal: number;
  atMost?: boolean;
}
interface PhaseRow {
  phase: string;
  ms: Record<string, number>;
}

export async function writeChart(file: string, ratios: Ratio[], phases: PhaseRow[]): Promise<void> {
  // vega and vega-lite are ESM only: a native dynamic import. vega-lite's types sit behind its `exports` map,
  // which this project's moduleResolution does not read, so they are named by path.
  const vega = await import('vega');
  const vl = (await import('vega-lite' as string)) as typeof import('vega-lite/build/index');
  // Each ratio against its own goal, so that one axis holds them all: >= 1 is met (an at-most goal is inverted).
  const ratioValues = ratios
    .filter((r) => Number.isFinite(r.value) && r.value > 0)
    .map((r) => ({ measure: r.name.replace(/ \(.*$/, ''), ofGoal: r.atMost ? r.goal / r.value : r.value / r.goal }));
  const phaseValues = phases
    .filter((p) => p.phase !== 'step (wall)')
    .flatMap((p) => Object.entries(p.ms).map(([run, ms]) => ({ run, phase: p.phase, ms: Number.isFinite(ms) ? ms : 0 })));
  const spec = vl.compile({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    vconcat: [
      {
        title: 'bench:pipeline: each ratio over its goal (>= 1: met)',
        data: { values: ratioValues },
        width: 360,
        encoding: { y: { field: 'measure', type: 'nominal', title: null, sort: null, axis: { labelLimit: 600 } } },
        layer: [
          { mark: { type: 'point', filled: true, size: 80 }, encoding: { x: { field: 'ofGoal', type: 'quantitative', title: 'ratio / goal (log)', scale: { type: 'log' }, axis: { format: '~g' } } } },
          { mark: { type: 'rule', color: 'firebrick', strokeWidth: 2 }, encoding: { x: { datum: 1 } } },
        ],
      },
      {
        title: 'where a warm step goes (mean ms per phase)',
        data: { values: phaseValues },
        width: 360,
        mark: 'bar',
        encoding: {
          y: { field: 'run', type: 'nominal', title: null, axis: { labelLimit: 600 } },
          x: { field: 'ms', type: 'quantitative', stack: 'zero', title: 'ms' },
          color: { field: 'phase', type: 'nominal', sort: null },
          order: { field: 'phase' },
        },
      },
    ],
  } as Parameters<typeof vl.compile>[0]).spec;
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  writeFileSync(file, await view.toSVG());
  view.finalize();
}
