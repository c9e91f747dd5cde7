import { parseAction, promptFor, snippet } from '../../../envs/deepsearch';

describe('parseAction', () => {
  it('reads a search after free reasoning text', () => {
    expect(parseAction('I need the founder first. <search> Velor Press founder </search>')).toEqual({
      kind: 'search',
      query: 'Velor Press founder',
    });
  });
  it('reads an answer, the last one when there are several', () => {
    expect(parseAction('<answer>Paris</answer>')).toEqual({ kind: 'answer', answer: 'Paris' });
    expect(parseAction('<answer>Lyon</answer> no, <answer> Paris </answer>')).toEqual({ kind: 'answer', answer: 'Paris' });
  });
  it('lets the first complete tag decide, as Search-R1 does', () => {
    expect(parseAction('<search>x y</search><answer>z</answer>').kind).toBe('search');
  });
  it('explains what is wrong with malformed output', () => {
    expect(parseAction('just thinking')).toEqual({ kind: 'invalid', reason: 'no <search> or <answer> tag' });
    expect(parseAction('<search>never closed')).toEqual({ kind: 'invalid', reason: 'the tag is not closed' });
    expect(parseAction('<search>  </search>')).toEqual({ kind: 'invalid', reason: 'the search query is empty' });
    expect(parseAction('<search>a</answer>').kind).toBe('invalid');
  });
});

describe('snippet', () => {
  const text = 'Alma Berg is a person described here. Visitors often compare Alma Berg with Velor Press. The place of birth of Alma Berg is Varen Falls.';
  it('keeps the sentences that share most words with the query, in passage order', () => {
    expect(snippet(text, 'Alma Berg place of birth', 60)).toBe('The place of birth of Alma Berg is Varen Falls.');
    expect(snippet(text, 'Alma Berg place of birth', 200)).toBe(text);
  });
  it('cuts a single over-long sentence', () => {
    expect(snippet('One two three four five six.', 'two', 12)).toBe('One two t...');
  });
});

describe('promptFor', () => {
  it('appends a question mark when missing', () => {
    expect(promptFor('who founded Velor Press')).toContain('Question: who founded Velor Press?\n');
  });
});
