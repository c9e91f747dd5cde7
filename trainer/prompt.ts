/**
 * How a context becomes model input, shared by rollouts, scoring and SFT so all three see identical tokens.
 * The prompt is bos + the context's tokens; when that does not leave room for an action inside the model's
 * window, it is cut from the left (the environments' context policies make that rare).
 */
import type { Tokenizer } from '../policy/tokenizer';

export function promptTokens(tokenizer: Tokenizer, context: string, contextLength: number, maxActionTokens: number): number[] {
  const body = tokenizer.encode(context);
  const room = contextLength - maxActionTokens - 1;
  if (room < 1) throw new Error(`contextLength ${contextLength} leaves no room for a prompt with ${maxActionTokens} action tokens`);
  return [tokenizer.bos, ...body.slice(Math.max(0, body.length - room))];
}
