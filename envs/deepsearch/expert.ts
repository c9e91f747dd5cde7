/**
 * Agents: the scripted expert (privileged: it knows the question's decomposition) and a random policy.
 *
 * The flawless expert searches each hop's query in turn ("<subject> <relation phrase>"), bridging with the
 * previous hop's answer, then answers the golden answer ("unknown" for unanswerable questions). With noise it
 * makes the mistakes a weak model makes, each with a probability proportional to `noise`:
 * - a worse query (words dropped), after which it either repeats the hop with the right query or trusts the
 *   poor results and answers wrongly;
 * - an early answer (the current bridge entity, before the chain is finished);
 * - wrong bridging (continues the chain from a distractor entity and ends on a wrong answer);
 * - a made-up answer to an unanswerable question instead of "unknown".
 * With probability `habit` it answers from memory at the first turn without searching (a guess: another
 * question's answer): a base model's habit of not using its tool, which the seed's RL runs train away.
 */
import { Rng, hashSeed } from '../../common/random';
import { Agent, Episode, ExpertOptions, expertSettings } from '../types';
import { UNANSWERABLE_ANSWER } from './answers';
import { DeepSearchEpisode } from './episode';
import { QaRecord } from './questions';

export interface ExpertPools {
  /** Wrong answers the noisy expert may give (e.g. golden answers of other questions). */
  answers: readonly string[];
  /** Entity names the noisy expert may wrongly bridge to. */
  bridges: readonly string[];
}

function pickOther(rng: Rng, pool: readonly string[], not: string): string {
  const options = pool.filter((p) => p !== not);
  return options.length > 0 ? rng.pick(options) : `${not} ${not}`;
}

function degrade(rng: Rng, query: string): string {
  const words = query.split(/\s+/);
  if (words.length <= 1) return words.join(' ');
  const keep = rng.int(1, words.length - 1);
  return rng.sample(words, keep).join(' ');
}

export function scriptedExpert(record: QaRecord, opts: ExpertOptions, pools: ExpertPools): Agent {
  const { noise, habit } = expertSettings(opts);
  const rng = new Rng(hashSeed(`${opts.seed}/${record.id}/expert`));
  // Without a decomposition (a loaded Search-R1 row) the plan is: search the question, then answer.
  const hops = record.hops.length > 0 ? record.hops : [{ query: record.question, answer: record.goldenAnswers[0] }];
  const gold = record.answerable ? record.goldenAnswers[0] : UNANSWERABLE_ANSWER;
  let hop = 0;
  let wrongBridge: { from: string; to: string } | null = null;
  let lastQueryWasPoor = false;

  const finalAnswer = (): string => {
    if (wrongBridge) return pickOther(rng, pools.answers, gold);
    if (!record.answerable && rng.bool(noise * 0.5)) return pickOther(rng, pools.answers, gold);
    return gold;
  };
  const answer = (text: string) => `<answer>${text}</answer>`;

  return {
    act(episode: Episode): string {
      const maxTurns = episode instanceof DeepSearchEpisode ? episode.settings.maxTurns : Infinity;
      const turnsLeft = maxTurns - episode.turns.length;
      if (habit > 0 && episode.turns.length === 0 && rng.bool(habit)) return answer(pickOther(rng, pools.answers, gold));
      if (hop >= hops.length || turnsLeft <= 1) return answer(hop >= hops.length ? finalAnswer() : pickOther(rng, pools.answers, gold));
      if (lastQueryWasPoor && rng.bool(noise * 0.5)) return answer(pickOther(rng, pools.answers, gold));
      if (hop > 0 && rng.bool(noise * 0.15)) return answer(wrongBridge ? wrongBridge.to : hops[hop - 1].answer);
      if (hop > 0 && !wrongBridge && rng.bool(noise * 0.2)) {
        wrongBridge = { from: hops[hop - 1].answer, to: pickOther(rng, pools.bridges, hops[hop - 1].answer) };
      }
      let query = wrongBridge ? hops[hop].query.replace(wrongBridge.from, wrongBridge.to) : hops[hop].query;
      lastQueryWasPoor = rng.bool(noise * 0.3);
      if (lastQueryWasPoor) query = degrade(rng, query);
      else hop++;
      return `<search>${query}</search>`;
    },
  };
}

/** A policy that writes random searches, random answers and malformed text from the words it has seen. */
export function randomAgent(seed: number): Agent {
  const rng = new Rng(seed).fork('random-agent');
  return {
    act(episode: Episode): string {
      const words = episode.context().match(/[\p{L}\p{N}]+/gu) ?? ['nothing'];
      const some = (lo: number, hi: number) => Array.from({ length: rng.int(lo, hi) }, () => rng.pick(words)).join(' ');
      const u = rng.next();
      if (u < 0.4) return `${some(0, 3)} <search>${some(1, 4)}</search>`;
      if (u < 0.7) return `<answer>${some(1, 3)}</answer>`;
      if (u < 0.85) return some(1, 8);
      return rng.pick(['<search>', '<answer>', '</search>', '<search></search>', '<answer']) + some(0, 3);
    },
  };
}
