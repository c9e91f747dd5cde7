/**
 * The figures the issue asks for: corpus size, index build and cache-load time, search latency (p50/p99 over
 * the flawless expert's queries), questions per split and hop count, the longest expert context.
 * Run: `nice -n 10 npx tsx envs/deepsearch/report.ts [passages]`. It reads the clock, which is its job.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runEpisode } from '../types';
import { createDeepSearchEnvironment } from './environment';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

export function measure(passages = 10_000): Record<string, unknown> {
  const cacheDir = mkdtempSync(join(tmpdir(), 'deepsearch-report-'));
  try {
    const built = createDeepSearchEnvironment({ passages, cacheDir });
    const loaded = createDeepSearchEnvironment({ passages, cacheDir });
    const words = built.corpus.map((p) => p.text.split(/\s+/).length);
    // Vocabulary a word-level tokenizer would need for passages, titles and questions.
    const vocabulary = new Set<string>();
    const addWords = (text: string) => (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).forEach((w) => vocabulary.add(w));
    for (const p of built.corpus) addWords(`${p.title} ${p.text}`);
    const queries: string[] = [];
    const splits: Record<string, unknown> = {};
    let longestContext = 0;
    for (const split of built.splits()) {
      const tasks = built.tasks(split);
      const hops: Record<string, number> = {};
      let unanswerable = 0;
      for (const task of tasks) {
        const record = built.record(task.id);
        hops[`${task.level}hop`] = (hops[`${task.level}hop`] ?? 0) + 1;
        if (!record.answerable) unanswerable++;
        queries.push(...record.hops.map((h) => h.query));
        addWords(record.question);
        const episode = runEpisode(built.createEpisode(task.id, 0), built.expert(task.id, { noise: 0, seed: 0 }));
        longestContext = Math.max(longestContext, episode.context().length);
      }
      splits[split] = { questions: tasks.length, unanswerable, ...hops };
    }
    // A fresh environment so the query memo of the runs above does not flatter the latency.
    const fresh = createDeepSearchEnvironment({ passages, cacheDir });
    const latencies = queries.map((q) => {
      const started = performance.now();
      fresh.search(q, 3);
      return performance.now() - started;
    });
    latencies.sort((a, b) => a - b);
    return {
      passages: built.corpus.length,
      wordsPerPassage: { min: Math.min(...words), max: Math.max(...words), mean: words.reduce((a, b) => a + b, 0) / words.length },
      entities: built.world?.entities.length,
      distinctWords: vocabulary.size,
      indexBuildMs: Math.round(built.index.stats.ms),
      indexCacheLoadMs: Math.round(loaded.index.stats.ms),
      searchLatencyMs: { queries: latencies.length, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) },
      longestExpertContextChars: longestContext,
      splits,
    };
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  console.log(JSON.stringify(measure(Number(process.argv[2] ?? 10_000)), null, 2));
}
