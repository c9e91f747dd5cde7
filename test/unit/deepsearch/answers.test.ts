import { coverEm, exactMatch, f1, normalizeAnswer } from '../../../envs/deepsearch';

describe('normalizeAnswer (SQuAD v1.1)', () => {
  it.each([
    ['The  Quick, Brown fox!', 'quick brown fox'],
    ['An apple a day', 'apple day'],
    ['theatre anthem', 'theatre anthem'], // articles only as whole words
    ['  New\tYork\n', 'new york'],
    ['Jean-Paul Sartre', 'jeanpaul sartre'], // punctuation is deleted, not replaced by a space
    ["rock'n'roll", 'rocknroll'],
    ['Rock’n’roll', 'rock’n’roll'], // only ASCII punctuation is removed, as in Python's string.punctuation
    ['Zürich', 'zürich'],
    ['Café The', 'café'],
    ['éthe', 'éthe'], // a Unicode letter next to "the" is not a word boundary
    ['THE', ''],
  ])('%j -> %j', (input, expected) => {
    expect(normalizeAnswer(input)).toBe(expected);
  });
});

describe('exactMatch', () => {
  it('ignores case, articles and punctuation', () => {
    expect(exactMatch('the Eiffel Tower.', 'Eiffel tower')).toBe(1);
    expect(exactMatch('Eiffel', 'Eiffel Tower')).toBe(0);
  });
  it('takes any of several golden answers', () => {
    expect(exactMatch('NYC', ['New York City', 'NYC'])).toBe(1);
    expect(exactMatch('Boston', ['New York City', 'NYC'])).toBe(0);
  });
  it('compares non-ASCII text by its lower case', () => {
    expect(exactMatch('WILHELM CONRAD RÖNTGEN', ['Wilhelm Conrad Röntgen'])).toBe(1);
  });
});

describe('f1', () => {
  it('counts shared tokens after normalisation', () => {
    // pred tokens: cat sat on mat (4); gold tokens: cat on mat (3); shared 3 -> P 3/4, R 1, F1 = 1.5/1.75
    expect(f1('the cat sat on the mat', 'a cat on a mat')).toBeCloseTo(6 / 7, 12);
  });
  it('counts repeated tokens at most as often as the gold has them', () => {
    // shared 1 of pred's 2 -> P 1/2, R 1 -> F1 2/3
    expect(f1('paris paris', 'Paris')).toBeCloseTo(2 / 3, 12);
  });
  it('is the maximum over golden answers', () => {
    // vs "york city": P 1/2, R 1/2 -> 0.5; vs "new york city": P 1, R 2/3 -> 0.8
    expect(f1('New York', ['york city', 'new york city'])).toBeCloseTo(0.8, 12);
  });
  it('is 0 without overlap or with an empty prediction', () => {
    expect(f1('Boston', 'New York')).toBe(0);
    expect(f1('', 'New York')).toBe(0);
  });
});

describe('coverEm', () => {
  it('accepts a prediction that contains a golden answer', () => {
    expect(coverEm('It was Steve Hillage, I think.', 'Steve Hillage')).toBe(1);
    expect(coverEm('Steve', ['Steve Hillage'])).toBe(0);
    expect(coverEm('anything', [''])).toBe(0);
  });
});
