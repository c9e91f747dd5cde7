/** AppWorld's metrics. TGC: share of tasks passing all checks. SGC: share of scenarios whose variants all pass. */

export interface TaskOutcome {
  scenario: string;
  success: boolean;
}

export function tgc(results: readonly { success: boolean }[]): number {
  if (results.length === 0) return 0;
  return results.filter((r) => r.success).length / results.length;
}

export function sgc(results: readonly TaskOutcome[]): number {
  const byScenario = new Map<string, boolean>();
  for (const r of results) byScenario.set(r.scenario, (byScenario.get(r.scenario) ?? true) && r.success);
  if (byScenario.size === 0) return 0;
  return [...byScenario.values()].filter(Boolean).length / byScenario.size;
}
