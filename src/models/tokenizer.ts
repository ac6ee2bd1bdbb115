// The CLIP text tokenizer: the byte-level BPE of a Hugging Face tokenizer.json, run by
// @huggingface/tokenizers (the library transformers.js uses), wrapped with what CLIP does around
// it: whitespace cleanup and lower-casing, <|startoftext|> / <|endoftext|>, truncation to the
// context length keeping the end token, and padding with the model's pad id.
import { readFile } from 'node:fs/promises';
import * as hf from '@huggingface/tokenizers';

/**
 * The part of @huggingface/tokenizers' Tokenizer used here. Its published .d.ts files use
 * extensionless relative imports that NodeNext resolution cannot follow, so it is typed here.
 */
interface HfTokenizer {
  encode(text: string, options: { add_special_tokens: boolean }): { ids: number[] };
  token_to_id(token: string): number | undefined;
}
type HfTokenizerCtor = new (tokenizerJson: object, tokenizerConfig: object) => HfTokenizer;
const Tokenizer = (hf as unknown as { Tokenizer: HfTokenizerCtor }).Tokenizer;

/** CLIP's special tokens, looked up in the vocabulary (49406 / 49407 for OpenAI CLIP). */
const START = '<|startoftext|>';
const END = '<|endoftext|>';

/** One prompt as the text tower takes it. */
export interface TokenizedPrompt {
  /** Token ids, exactly `contextLength` long: start, BPE tokens, end, then padding. */
  readonly ids: readonly number[];
  /** Real tokens (start and end included) before padding; the attention mask is 1 for these. */
  readonly length: number;
  /** True when BPE tokens were dropped to fit the context length. */
  readonly truncated: boolean;
}

export interface ClipTokenizerOptions {
  /** Tokens per prompt, start and end included (77 for CLIP). */
  readonly contextLength: number;
  /** Id written after the end token up to contextLength (49407 in HF exports, 0 in OpenAI's). */
  readonly padTokenId: number;
}

/** CLIP's whitespace_clean + lower(): runs of whitespace become one space, ends trimmed. */
/** A prompt: `template` with every `{}` replaced by `text` (already cleaned with cleanText). */
export function fillTemplate(template: string, text: string): string {
  return template.split('{}').join(text);
}

export function cleanText(text: string): string {
  return text.normalize('NFC').replace(/\s+/gu, ' ').trim().toLowerCase();
}

/** A CLIP BPE tokenizer built from one tokenizer.json; immutable and shared by every request. */
export class ClipTokenizer {
  readonly startTokenId: number;
  readonly endTokenId: number;

  private constructor(
    private readonly tokenizer: HfTokenizer,
    readonly options: ClipTokenizerOptions,
  ) {
    const start = tokenizer.token_to_id(START);
    const end = tokenizer.token_to_id(END);
    if (start === undefined || end === undefined) throw new Error(`tokenizer.json has no ${START} / ${END} tokens: not a CLIP tokenizer`);
    if (options.contextLength < 2) throw new Error(`contextLength ${options.contextLength} leaves no room for the start and end tokens`);
    this.startTokenId = start;
    this.endTokenId = end;
  }

  /** Parses tokenizer.json (a Hugging Face `tokenizers` file with a BPE model). */
  static fromJson(json: unknown, options: ClipTokenizerOptions): ClipTokenizer {
    if (typeof json !== 'object' || json === null || !('model' in json)) throw new Error('tokenizer.json has no "model" section');
    return new ClipTokenizer(new Tokenizer(json, {}), options);
  }

  static async load(path: string, options: ClipTokenizerOptions): Promise<ClipTokenizer> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new Error(`cannot read tokenizer ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
    try {
      return ClipTokenizer.fromJson(JSON.parse(text) as unknown, options);
    } catch (err) {
      throw new Error(`cannot build a tokenizer from ${path}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Start, BPE tokens of the cleaned text, end; neither truncated nor padded. */
  encodeUnpadded(text: string): number[] {
    const body = this.tokenizer.encode(cleanText(text), { add_special_tokens: false }).ids;
    return [this.startTokenId, ...body, this.endTokenId];
  }

  /** The prompt as the text tower takes it: truncated (end token kept) and padded to contextLength. */
  encode(text: string): TokenizedPrompt {
    const { contextLength, padTokenId } = this.options;
    let ids = this.encodeUnpadded(text);
    const truncated = ids.length > contextLength;
    if (truncated) ids = [...ids.slice(0, contextLength - 1), this.endTokenId];
    const length = ids.length;
    while (ids.length < contextLength) ids.push(padTokenId);
    return { ids, length, truncated };
  }
}
