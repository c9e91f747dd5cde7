import fc from 'fast-check';
import { splitPieces, Tokenizer } from '../../../policy/tokenizer';

const SAMPLE = [
  'GET /api/spotify/login {"username": "alice@example.com", "password": "x9Y!"}\n',
  'Observation: {"status": 200, "playlists": [{"id": 17, "title": "Road trip"}]}\n',
  'search[capital of France]\nanswer[Paris]\n',
  'apis.spotify.show_playlist(playlist_id=17, access_token=token)\n',
];

describe('Tokenizer', () => {
  const tokenizer = Tokenizer.build(Array(3).fill(SAMPLE).flat());

  test('pieces cover the text exactly', () => {
    fc.assert(fc.property(fc.fullUnicodeString(), (s) => splitPieces(s).join('') === s));
  });

  test('round trip is exact for any Unicode text, including text unlike the vocabulary', () => {
    fc.assert(fc.property(fc.fullUnicodeString({ maxLength: 200 }), (s) => tokenizer.decode(tokenizer.encode(s)) === s), { numRuns: 500 });
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (s) => tokenizer.decode(tokenizer.encode(s)) === s), { numRuns: 500 });
    for (const s of ['', ' ', '\n\n\n', 'naïve café 你好 🎉', '\u0000\t\r\n', '  two  spaces ']) expect(tokenizer.decode(tokenizer.encode(s))).toBe(s);
  });

  test('frequent identifiers and symbols are single tokens, so contexts stay short', () => {
    for (const piece of ['playlist_id', '"', 'answer', 'Paris', 'trip', '{', ' ']) expect(tokenizer.encode(piece)).toHaveLength(1);
    const text = SAMPLE.join('');
    expect(tokenizer.encode(text).length).toBeLessThan(text.length / 2);
  });

  test('a word is the same token after a space as after a quote, so it can be copied from a sentence into an argument', () => {
    const [space, trip] = [tokenizer.encode(' '), tokenizer.encode('trip')];
    expect(tokenizer.encode('Road trip')).toEqual([...tokenizer.encode('Road'), ...space, ...trip]);
    expect(tokenizer.encode('"trip"').slice(1, -1)).toEqual(trip);
  });

  test('specials are distinct, decode to nothing, and the vocabulary respects its cap', () => {
    expect(new Set([tokenizer.pad, tokenizer.bos, tokenizer.eos]).size).toBe(3);
    expect(tokenizer.decode([tokenizer.bos, ...tokenizer.encode('hi'), tokenizer.eos])).toBe('hi');
    // the cap bounds the learned pieces; specials, bytes and printable ASCII are always present
    const small = Tokenizer.build(Array(5).fill(SAMPLE).flat(), { maxVocab: 370 });
    expect(small.vocabSize).toBe(370);
    expect(Tokenizer.build(Array(5).fill(SAMPLE).flat(), { maxVocab: 0 }).vocabSize).toBe(Tokenizer.build([]).vocabSize);
    expect(() => tokenizer.decode([tokenizer.vocabSize])).toThrow(/outside the vocabulary/);
  });

  test('letters, digits and symbols are separate pieces, so a password splits into its word and its digits', () => {
    expect(splitPieces('password="tulips66"')).toEqual(['password', '=', '"', 'tulips', '6', '6', '"']);
    expect(splitPieces(' token=gyg0hi  x\n\n')).toEqual([' ', 'token', '=', 'gyg', '0', 'hi', '  ', 'x', '\n\n']);
  });

  test('a piece seen in fewer than minDocuments documents is spelled out by character tokens, never bytes', () => {
    // "qluhhe" is frequent but only in one document (an episode's session token); "login" is in three.
    const docs = ['login token=qluhhe,qluhhe,qluhhe', 'login ok', 'login again'];
    const strict = Tokenizer.build(docs, { minDocuments: 2 });
    const loose = Tokenizer.build(docs);
    expect(loose.encode('qluhhe')).toHaveLength(1);
    expect(strict.encode('login')).toHaveLength(1);
    const spelled = strict.encode('qluhhe');
    expect(spelled).toEqual([...'qluhhe'].flatMap((c) => strict.encode(c)));
    expect(spelled.map((id) => strict.tokenText(id))).toEqual([...'qluhhe']);
    // only characters outside the vocabulary fall back to bytes
    expect(strict.encode('é').map((id) => strict.tokenText(id))).toEqual(['<0xc3>', '<0xa9>']);
  });

  test('build is deterministic and JSON round-trips', () => {
    const again = Tokenizer.build(Array(3).fill(SAMPLE).flat());
    expect(again.toJSON()).toEqual(tokenizer.toJSON());
    const restored = Tokenizer.fromJSON(JSON.parse(JSON.stringify(tokenizer.toJSON())));
    expect(restored.vocabSize).toBe(tokenizer.vocabSize);
    expect(restored.encode(SAMPLE[0])).toEqual(tokenizer.encode(SAMPLE[0]));
    // versions 1 and 2 split text differently (" tulips66" was one piece in 1, " tulips" in 2): their ids would mean other text
    expect(() => Tokenizer.fromJSON({ version: 2, pieces: [] } as never)).toThrow(/version 2.*rebuild the base model/);
  });
});
