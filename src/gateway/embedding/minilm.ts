import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * all-MiniLM-L6-v2 (sentence-transformers) in plain TypeScript: the BERT WordPiece tokenizer, a 6-layer,
 * 384-wide BERT encoder read from model.safetensors, mean pooling and L2 normalisation — the model's own
 * pipeline (modules.json: Transformer → Pooling(mean) → Normalize). CPU only, no dependencies; about
 * 20–200 ms a sentence on one core, so it runs in a worker thread (local-embedder.ts).
 */

const HIDDEN = 384;
const HEADS = 12;
const HEAD_DIM = HIDDEN / HEADS;
const LAYERS = 6;
const INTERMEDIATE = 1536;
const EPS = 1e-12;
/** sentence_bert_config.json: max_seq_length; the model never looks further. */
const MAX_SEQ_LENGTH = 256;
/**
 * What the gateway embeds by default: the first 64 word pieces (about 45 words) of the newest message. Cost
 * grows with length on a CPU (about 0.1 s at 10 pieces, 1 s at 120 on this machine's cores), and questions are
 * short; the cap keeps a lookup bounded.
 */
export const DEFAULT_EMBED_PIECES = 64;
const CLS = '[CLS]';
const SEP = '[SEP]';
const UNK = '[UNK]';

type Tensors = Map<string, Float32Array>;

/** Reads the F32 tensors of a .safetensors file: an 8-byte header length, a JSON header, then raw data. */
function readSafetensors(file: string): Tensors {
  const buffer = readFileSync(file);
  const headerLength = Number(buffer.readBigUInt64LE(0));
  const header = JSON.parse(buffer.subarray(8, 8 + headerLength).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const base = 8 + headerLength;
  const tensors: Tensors = new Map();
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__' || info.dtype !== 'F32') continue;
    const [start, end] = info.data_offsets;
    const bytes = new Uint8Array(end - start);
    bytes.set(buffer.subarray(base + start, base + end));
    tensors.set(name, new Float32Array(bytes.buffer));
  }
  return tensors;
}

function isPunctuation(ch: string): boolean {
  const c = ch.codePointAt(0)!;
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126))
    return true;
  return /\p{P}/u.test(ch);
}

function isCjk(c: number): boolean {
  return (
    (c >= 0x4e00 && c <= 0x9fff) ||
    (c >= 0x3400 && c <= 0x4dbf) ||
    (c >= 0x20000 && c <= 0x2a6df) ||
    (c >= 0x2a700 && c <= 0x2b73f) ||
    (c >= 0x2b740 && c <= 0x2b81f) ||
    (c >= 0x2b820 && c <= 0x2ceaf) ||
    (c >= 0xf900 && c <= 0xfaff) ||
    (c >= 0x2f800 && c <= 0x2fa1f)
  );
}

/** BertTokenizer with do_lower_case: clean, split CJK, lower-case, strip accents, split punctuation, WordPiece. */
class WordPieceTokenizer {
  private readonly vocab = new Map<string, number>();

  constructor(vocabText: string) {
    vocabText.split('\n').forEach((token, i) => {
      if (token.length > 0 && !this.vocab.has(token)) this.vocab.set(token, i);
    });
  }

  id(token: string): number {
    return this.vocab.get(token) ?? this.vocab.get(UNK)!;
  }

  private basic(text: string): string[] {
    let cleaned = '';
    for (const ch of text) {
      const c = ch.codePointAt(0)!;
      if (c === 0 || c === 0xfffd) continue;
      if (/\s/u.test(ch)) cleaned += ' ';
      else if (/\p{Cc}|\p{Cf}/u.test(ch)) continue;
      else if (isCjk(c)) cleaned += ` ${ch} `;
      else cleaned += ch;
    }
    const words: string[] = [];
    for (const raw of cleaned.split(' ')) {
      if (raw.length === 0) continue;
      const word = raw
        .toLowerCase()
        .normalize('NFD')
        .replace(/\p{Mn}/gu, '');
      let current = '';
      for (const ch of word) {
        if (isPunctuation(ch)) {
          if (current) words.push(current);
          words.push(ch);
          current = '';
        } else current += ch;
      }
      if (current) words.push(current);
    }
    return words;
  }

  /** Token ids with [CLS] and [SEP], truncated to `maxLength`. */
  encode(text: string, maxLength = MAX_SEQ_LENGTH): number[] {
    const ids = [this.id(CLS)];
    for (const word of this.basic(text)) {
      if (ids.length >= maxLength - 1) break;
      const chars = [...word];
      if (chars.length > 100) {
        ids.push(this.id(UNK));
        continue;
      }
      const pieces: number[] = [];
      let start = 0;
      let bad = false;
      while (start < chars.length) {
        let end = chars.length;
        let found: number | undefined;
        while (start < end) {
          const piece = (start > 0 ? '##' : '') + chars.slice(start, end).join('');
          found = this.vocab.get(piece);
          if (found !== undefined) break;
          end--;
        }
        if (found === undefined) {
          bad = true;
          break;
        }
        pieces.push(found);
        start = end;
      }
      ids.push(...(bad ? [this.id(UNK)] : pieces));
    }
    ids.length = Math.min(ids.length, maxLength - 1);
    ids.push(this.id(SEP));
    return ids;
  }
}

/** Abramowitz–Stegun 7.1.26: |error| < 1.5e-7, below float32 noise for GELU. */
function erf(x: number): number {
  const sign = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-a * a);
  return sign * y;
}

interface Layer {
  q: [Float32Array, Float32Array];
  k: [Float32Array, Float32Array];
  v: [Float32Array, Float32Array];
  attnOut: [Float32Array, Float32Array];
  attnNorm: [Float32Array, Float32Array];
  inter: [Float32Array, Float32Array];
  out: [Float32Array, Float32Array];
  outNorm: [Float32Array, Float32Array];
}

/**
 * y[t] = x[t] · Wᵀ + b, with W stored [out][in] as PyTorch saves Linear weights. Four tokens share each pass
 * over a weight row, which quarters the memory traffic of the weights (the cost that dominates).
 */
function linear(
  x: Float32Array,
  tokens: number,
  inDim: number,
  [w, b]: [Float32Array, Float32Array],
  outDim: number,
): Float32Array {
  const y = new Float32Array(tokens * outDim);
  let t = 0;
  for (; t + 3 < tokens; t += 4) {
    const x0 = t * inDim;
    const x1 = x0 + inDim;
    const x2 = x1 + inDim;
    const x3 = x2 + inDim;
    for (let o = 0; o < outDim; o++) {
      const wo = o * inDim;
      let s0 = b[o]!;
      let s1 = s0;
      let s2 = s0;
      let s3 = s0;
      for (let i = 0; i < inDim; i++) {
        const weight = w[wo + i]!;
        s0 += x[x0 + i]! * weight;
        s1 += x[x1 + i]! * weight;
        s2 += x[x2 + i]! * weight;
        s3 += x[x3 + i]! * weight;
      }
      y[t * outDim + o] = s0;
      y[(t + 1) * outDim + o] = s1;
      y[(t + 2) * outDim + o] = s2;
      y[(t + 3) * outDim + o] = s3;
    }
  }
  for (; t < tokens; t++) {
    const xo = t * inDim;
    const yo = t * outDim;
    for (let o = 0; o < outDim; o++) {
      const wo = o * inDim;
      let sum = b[o]!;
      for (let i = 0; i < inDim; i++) sum += x[xo + i]! * w[wo + i]!;
      y[yo + o] = sum;
    }
  }
  return y;
}

function layerNorm(x: Float32Array, tokens: number, [gamma, beta]: [Float32Array, Float32Array]): void {
  for (let t = 0; t < tokens; t++) {
    const o = t * HIDDEN;
    let mean = 0;
    for (let i = 0; i < HIDDEN; i++) mean += x[o + i]!;
    mean /= HIDDEN;
    let variance = 0;
    for (let i = 0; i < HIDDEN; i++) variance += (x[o + i]! - mean) ** 2;
    const inv = 1 / Math.sqrt(variance / HIDDEN + EPS);
    for (let i = 0; i < HIDDEN; i++) x[o + i] = (x[o + i]! - mean) * inv * gamma[i]! + beta[i]!;
  }
}

export class MiniLm {
  private readonly tokenizer: WordPieceTokenizer;
  private readonly word: Float32Array;
  private readonly position: Float32Array;
  private readonly tokenType: Float32Array;
  private readonly embNorm: [Float32Array, Float32Array];
  private readonly layers: Layer[] = [];

  constructor(dir: string) {
    this.tokenizer = new WordPieceTokenizer(readFileSync(join(dir, 'vocab.txt'), 'utf8'));
    const tensors = readSafetensors(join(dir, 'model.safetensors'));
    const get = (name: string): Float32Array => {
      const t = tensors.get(name) ?? tensors.get(`bert.${name}`);
      if (!t) throw new Error(`${dir}/model.safetensors has no tensor ${name}: is this all-MiniLM-L6-v2?`);
      return t;
    };
    const pair = (prefix: string): [Float32Array, Float32Array] => [
      get(`${prefix}.weight`),
      get(`${prefix}.bias`),
    ];
    this.word = get('embeddings.word_embeddings.weight');
    this.position = get('embeddings.position_embeddings.weight');
    this.tokenType = get('embeddings.token_type_embeddings.weight');
    this.embNorm = pair('embeddings.LayerNorm');
    for (let l = 0; l < LAYERS; l++) {
      const p = `encoder.layer.${l}`;
      this.layers.push({
        q: pair(`${p}.attention.self.query`),
        k: pair(`${p}.attention.self.key`),
        v: pair(`${p}.attention.self.value`),
        attnOut: pair(`${p}.attention.output.dense`),
        attnNorm: pair(`${p}.attention.output.LayerNorm`),
        inter: pair(`${p}.intermediate.dense`),
        out: pair(`${p}.output.dense`),
        outNorm: pair(`${p}.output.LayerNorm`),
      });
    }
  }

  tokenize(text: string): number[] {
    return this.tokenizer.encode(text);
  }

  /** The sentence embedding: mean of the last hidden states over the tokens, L2-normalised (384 numbers). */
  embed(text: string, maxPieces = MAX_SEQ_LENGTH): Float32Array {
    const ids = this.tokenizer.encode(text, Math.min(maxPieces, MAX_SEQ_LENGTH));
    const n = ids.length;
    let x: Float32Array = new Float32Array(n * HIDDEN);
    for (let t = 0; t < n; t++)
      for (let i = 0; i < HIDDEN; i++)
        x[t * HIDDEN + i] =
          this.word[ids[t]! * HIDDEN + i]! + this.position[t * HIDDEN + i]! + this.tokenType[i]!;
    layerNorm(x, n, this.embNorm);
    const scale = 1 / Math.sqrt(HEAD_DIM);
    const scores = new Float32Array(n);
    for (const layer of this.layers) {
      const q = linear(x, n, HIDDEN, layer.q, HIDDEN);
      const k = linear(x, n, HIDDEN, layer.k, HIDDEN);
      const v = linear(x, n, HIDDEN, layer.v, HIDDEN);
      const context = new Float32Array(n * HIDDEN);
      for (let h = 0; h < HEADS; h++) {
        const ho = h * HEAD_DIM;
        for (let i = 0; i < n; i++) {
          let max = Number.NEGATIVE_INFINITY;
          for (let j = 0; j < n; j++) {
            let s = 0;
            for (let d = 0; d < HEAD_DIM; d++) s += q[i * HIDDEN + ho + d]! * k[j * HIDDEN + ho + d]!;
            s *= scale;
            scores[j] = s;
            if (s > max) max = s;
          }
          let sum = 0;
          for (let j = 0; j < n; j++) {
            const e = Math.exp(scores[j]! - max);
            scores[j] = e;
            sum += e;
          }
          for (let j = 0; j < n; j++) {
            const p = scores[j]! / sum;
            for (let d = 0; d < HEAD_DIM; d++) context[i * HIDDEN + ho + d]! += p * v[j * HIDDEN + ho + d]!;
          }
        }
      }
      const attn = linear(context, n, HIDDEN, layer.attnOut, HIDDEN);
      for (let i = 0; i < attn.length; i++) attn[i]! += x[i]!;
      layerNorm(attn, n, layer.attnNorm);
      const inter = linear(attn, n, HIDDEN, layer.inter, INTERMEDIATE);
      for (let i = 0; i < inter.length; i++) {
        const z = inter[i]!;
        inter[i] = 0.5 * z * (1 + erf(z / Math.SQRT2));
      }
      const out = linear(inter, n, INTERMEDIATE, layer.out, HIDDEN);
      for (let i = 0; i < out.length; i++) out[i]! += attn[i]!;
      layerNorm(out, n, layer.outNorm);
      x = out;
    }
    const pooled = new Float32Array(HIDDEN);
    for (let t = 0; t < n; t++) for (let i = 0; i < HIDDEN; i++) pooled[i]! += x[t * HIDDEN + i]! / n;
    let norm = 0;
    for (const value of pooled) norm += value * value;
    norm = Math.sqrt(norm) || 1;
    for (let i = 0; i < HIDDEN; i++) pooled[i]! /= norm;
    return pooled;
  }
}
