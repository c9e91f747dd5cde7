/**
 * Word/symbol-level tokenizer for the environments' text protocols, with a character fallback.
 *
 * Text is cut into pieces by one regex (a run of letters, a digit, a symbol, a run of spaces, a run of newlines,
 * or one other whitespace character), so the pieces concatenate back to the text. A piece in the vocabulary is
 * one token; one that is not is spelled out, one token per character, UTF-8 bytes only for characters outside the
 * vocabulary. So every string encodes and `decode(encode(s)) === s` exactly.
 *
 * Built for copying: a value the agent must type is in its context, and a copy head can only point at a token
 * that is the one to write. So spaces are their own tokens (" rosa" in a sentence and "rosa" in an argument are
 * the same token), digits are single pieces (ids, amounts, dates copy digit by digit), and random values
 * (session tokens) are spelled out in training as at test time: `minDocuments` keeps pieces seen in only one or
 * two episodes out of the vocabulary, or a policy learns to copy whole-token values it memorised and cannot copy
 * a new one.
 */

/** Pieces: `word`, `7`, `{`, spaces, `\n\n`, or one other whitespace character. `u`: a symbol is a whole code point. */
const PIECE = /[A-Za-z_]+|[0-9]|[^\sA-Za-z0-9_]| +|\n+|\s/gu;

const SPECIALS = ['<pad>', '<bos>', '<eos>'] as const;
const BYTE_OFFSET = SPECIALS.length;
const FIRST_PIECE_ID = BYTE_OFFSET + 256;

export interface TokenizerBuildOptions {
  /** Vocabulary size cap (default 2048). Specials, the 256 bytes and printable ASCII (357 ids) are always in. */
  maxVocab?: number;
  /** A piece must occur at least this often to get its own token (default 2). */
  minCount?: number;
  /** ... and in at least this many of the texts, each text one document such as an episode (default 1). */
  minDocuments?: number;
}

export interface TokenizerJSON {
  version: 3;
  pieces: string[];
}

export function splitPieces(text: string): string[] {
  return text.match(PIECE) ?? [];
}

export class Tokenizer {
  readonly pad = 0;
  readonly bos = 1;
  readonly eos = 2;
  private readonly idOf = new Map<string, number>();
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();

  private constructor(private readonly pieces: readonly string[]) {
    pieces.forEach((piece, i) => this.idOf.set(piece, FIRST_PIECE_ID + i));
  }

  get vocabSize(): number {
    return FIRST_PIECE_ID + this.pieces.length;
  }

  /**
   * Vocabulary from sample texts: every printable ASCII character, then the most frequent multi-character
   * pieces (ties broken alphabetically, so the same texts give the same ids).
   */
  static build(texts: string[], opts: TokenizerBuildOptions = {}): Tokenizer {
    const maxVocab = opts.maxVocab ?? 2048;
    const minCount = opts.minCount ?? 2;
    const minDocuments = opts.minDocuments ?? 1;
    const base: string[] = ['\n', '\n\n', '\t'];
    for (let c = 0x20; c < 0x7f; c++) base.push(String.fromCharCode(c));
    const counts = new Map<string, number>();
    const documents = new Map<string, number>();
    for (const text of texts) {
      const pieces = splitPieces(text);
      for (const piece of pieces) counts.set(piece, (counts.get(piece) ?? 0) + 1);
      for (const piece of new Set(pieces)) documents.set(piece, (documents.get(piece) ?? 0) + 1);
    }
    const baseSet = new Set(base);
    const frequent = [...counts.entries()]
      .filter(([piece, count]) => count >= minCount && documents.get(piece)! >= minDocuments && !baseSet.has(piece))
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([piece]) => piece);
    const room = Math.max(0, maxVocab - FIRST_PIECE_ID - base.length);
    return new Tokenizer([...base, ...frequent.slice(0, room)]);
  }

  static fromJSON(json: TokenizerJSON): Tokenizer {
    if (json.version !== 3 || !Array.isArray(json.pieces)) {
      throw new Error(`Tokenizer.fromJSON: unsupported format (version ${String(json.version)}; this code reads version 3: rebuild the base model)`);
    }
    return new Tokenizer(json.pieces);
  }

  toJSON(): TokenizerJSON {
    return { version: 3, pieces: [...this.pieces] };
  }

  encode(text: string): number[] {
    const ids: number[] = [];
    for (const piece of splitPieces(text)) {
      const id = this.idOf.get(piece);
      if (id !== undefined) {
        ids.push(id);
        continue;
      }
      for (const char of piece) this.encodeCharacter(char, ids);
    }
    return ids;
  }

  private encodeCharacter(char: string, ids: number[]): void {
    const id = this.idOf.get(char);
    if (id !== undefined) ids.push(id);
    else for (const byte of this.encoder.encode(char)) ids.push(BYTE_OFFSET + byte);
  }

  /** Text of the ids; specials decode to nothing. Byte runs are decoded together (invalid UTF-8 gives U+FFFD). */
  decode(ids: readonly number[]): string {
    let out = '';
    let bytes: number[] = [];
    const flush = () => {
      if (bytes.length) out += this.decoder.decode(Uint8Array.from(bytes));
      bytes = [];
    };
    for (const id of ids) {
      if (id >= BYTE_OFFSET && id < FIRST_PIECE_ID) {
        bytes.push(id - BYTE_OFFSET);
        continue;
      }
      flush();
      if (id >= FIRST_PIECE_ID) {
        const piece = this.pieces[id - FIRST_PIECE_ID];
        if (piece === undefined) throw new Error(`Tokenizer.decode: id ${id} is outside the vocabulary (${this.vocabSize})`);
        out += piece;
      } else if (id < 0 || !Number.isInteger(id)) throw new Error(`Tokenizer.decode: invalid id ${id}`);
    }
    flush();
    return out;
  }

  /** The text of one token (specials as `<eos>` etc.), for debugging. */
  tokenText(id: number): string {
    if (id < BYTE_OFFSET) return SPECIALS[id];
    if (id < FIRST_PIECE_ID) return `<0x${(id - BYTE_OFFSET).toString(16).padStart(2, '0')}>`;
    return this.pieces[id - FIRST_PIECE_ID];
  }
}
