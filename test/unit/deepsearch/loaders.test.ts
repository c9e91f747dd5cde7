import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import {
  createDeepSearchEnvironment,
  loadCorpusJsonl,
  parseCorpusJsonl,
  loadMusiqueJsonl,
  loadMusiqueParagraphs,
  loadSearchR1Jsonl,
  parseMusiqueJsonl,
  parseSearchR1Jsonl,
} from '../../../envs/deepsearch';
import { runEpisode } from '../../../envs/types';
import { FIXTURES } from './helpers';

describe('Search-R1 QA JSONL', () => {
  it('reads id, question and golden answers', () => {
    const records = loadSearchR1Jsonl(join(FIXTURES, 'nq_search_r1.jsonl'), 'single/test');
    expect(records).toHaveLength(3);
    expect(records[1]).toMatchObject({
      id: 'deepsearch/single/test/test_1',
      question: 'when was the university of southampton founded?',
      goldenAnswers: ['1862', 'in 1862'],
      answerable: true,
      family: 'single',
      hopCount: 1,
      hops: [],
    });
    expect(records[0].goldenAnswers).toEqual(['Wilhelm Conrad Röntgen']);
  });

  it('rejects a row without golden answers, naming the line', () => {
    expect(() => parseSearchR1Jsonl('{"id": "x", "question": "q", "golden_answers": []}')).toThrow(/Search-R1 JSONL line 1/);
    expect(() => parseSearchR1Jsonl('not json')).toThrow(/line 1: not JSON/);
  });
});

describe('a UTF-8 byte-order mark at the start of a file', () => {
  const BOM = '\uFEFF';
  const read = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');

  it('is not part of the first row (Search-R1, MuSiQue, corpus)', () => {
    expect(parseSearchR1Jsonl(BOM + read('nq_search_r1.jsonl'))).toEqual(parseSearchR1Jsonl(read('nq_search_r1.jsonl')));
    expect(parseMusiqueJsonl(BOM + read('musique_full.jsonl'))).toEqual(parseMusiqueJsonl(read('musique_full.jsonl')));
    expect(parseCorpusJsonl(BOM + read('corpus.jsonl'))).toEqual(parseCorpusJsonl(read('corpus.jsonl')));
  });
});

describe('MuSiQue JSONL', () => {
  const records = loadMusiqueJsonl(join(FIXTURES, 'musique_full.jsonl'), 'multi/dev');

  it('reads answers with aliases and resolves the decomposition into hop queries', () => {
    expect(records[0]).toMatchObject({
      id: 'deepsearch/multi/dev/2hop__460946_294723',
      goldenAnswers: ['Miquette Giraudy', 'M. Giraudy'],
      answerable: true,
      family: 'multi',
      hopCount: 2,
      template: 'loaded:musique:2hop',
      hops: [
        { query: 'Green performer', answer: 'Steve Hillage', passageId: '2hop__460946_294723/0' },
        { query: 'Steve Hillage spouse', answer: 'Miquette Giraudy', passageId: '2hop__460946_294723/1' },
      ],
    });
    expect(records[1].hops[1].query).toBe('When did the first large winter carnival take place in Quebec City?');
  });

  it('gives unanswerable rows the golden answer "unknown" and the hop count of their id', () => {
    expect(records[2]).toMatchObject({ answerable: false, goldenAnswers: ['unknown'], hopCount: 3 });
    expect(records[2].hops[1]).not.toHaveProperty('passageId');
  });

  it('keeps the #k placeholder when the bridge answer is empty', () => {
    const row = {
      id: '2hop__1_2',
      question: 'Who is the spouse of the Green performer?',
      answer: 'Miquette Giraudy',
      question_decomposition: [
        { question: 'Green >> performer', answer: '' },
        { question: '#1 >> spouse', answer: 'Miquette Giraudy' },
      ],
    };
    expect(parseMusiqueJsonl(JSON.stringify(row))[0].hops.map((h) => h.query)).toEqual(['Green performer', '#1 spouse']);
  });

  it('turns the paragraphs into passages', () => {
    const passages = loadMusiqueParagraphs(join(FIXTURES, 'musique_full.jsonl'));
    expect(passages).toHaveLength(6);
    expect(passages[1]).toEqual({
      id: '2hop__460946_294723/1',
      title: 'Miquette Giraudy',
      text: 'Miquette Giraudy is a French keyboard player and vocalist, the partner of Steve Hillage.',
    });
  });

  it('rejects a row without a decomposition', () => {
    expect(() => parseMusiqueJsonl('{"id": "2hop__1", "question": "q", "answer": "a"}')).toThrow(/MuSiQue JSONL line 1/);
  });
});

describe('an environment over loaded data', () => {
  it('serves the loaded questions over the loaded corpus, and the expert solves them', () => {
    const env = createDeepSearchEnvironment({
      cacheDir: null,
      data: {
        passages: [...loadCorpusJsonl(join(FIXTURES, 'corpus.jsonl')), ...loadMusiqueParagraphs(join(FIXTURES, 'musique_full.jsonl'))],
        splits: {
          'single/test': loadSearchR1Jsonl(join(FIXTURES, 'nq_search_r1.jsonl'), 'single/test'),
          'multi/test': loadMusiqueJsonl(join(FIXTURES, 'musique_full.jsonl'), 'multi/test'),
        },
      },
    });
    expect(env.world).toBeNull();
    expect(env.splits()).toEqual(['single/test', 'multi/test']);
    for (const split of env.splits()) {
      for (const task of env.tasks(split)) {
        const episode = runEpisode(env.createEpisode(task.id, 0), env.expert(task.id, { noise: 0, seed: 0 }));
        expect(episode.score().metrics.em).toBe(1);
      }
    }
    // Search-R1 rows name no supporting passage: recall does not apply there, so it is left out rather than 0.
    const scoreOf = (taskId: string) => runEpisode(env.createEpisode(taskId, 0), env.expert(taskId, { noise: 0, seed: 0 })).score().metrics;
    expect(scoreOf('deepsearch/single/test/test_1')).not.toHaveProperty('gold_passage_recall');
    expect(scoreOf('deepsearch/multi/test/2hop__460946_294723')).toHaveProperty('gold_passage_recall');
    const green = env.createEpisode('deepsearch/multi/test/2hop__460946_294723', 0);
    expect(green.step('<search>Green performer</search>').observation).toContain('Title: Green (Steve Hillage album)');
  });
});
