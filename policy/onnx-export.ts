/**
 * Weight sync by export: the policy's architecture as an ONNX graph (opset 17, IR 8) built from trained weights,
 * with a KV cache, for onnxruntime-node. Encoded with protobufjs from `onnx.proto` (the upstream subset we use).
 *
 * Inputs (names as transformers.js / Optimum use them):
 *   input_ids int64 [B,T], attention_mask int64 [B,P+T] (0 = padding), position_ids int64 [B,T],
 *   past_key_values.{i}.key / .value float32 [B,H,P,hd] (P = 0 on the first call).
 * Outputs: logits float32 [B,T,V] (or [B,1,V] with `logits: 'last'`), present.{i}.key / .value [B,H,P+T,hd].
 * With the copy head, also past_copy.key [B,1,P,C] and past_copy.ids float32 [B,1,P,1] (the tokens the copy
 * attention can point at) in, present_copy.* out; the logits are then the mixture's log-probabilities.
 * Causality is over cache slots (slot j is visible to query slot P+i when j <= P+i), so a left-padded batch works.
 */
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { ModelConfig, rotaryTables, WeightArrays, weightShapes } from './model';

export const ONNX_OPSET = 17;
export const ONNX_IR_VERSION = 8;

export interface ExportOptions {
  /** 'all' returns logits at every input position (parity tests); 'last' only at the final one (generation). */
  logits?: 'all' | 'last';
  /** Key/value strings stored in the model's metadata_props (e.g. the tokenizer a policy was trained with). */
  metadata?: Record<string, string>;
}

let onnxRoot: protobuf.Root | undefined;
function onnxTypes(): protobuf.Root {
  onnxRoot ??= protobuf.loadSync(path.join(__dirname, 'onnx.proto'));
  return onnxRoot;
}

export const DataType = { FLOAT: 1, INT64: 7, BOOL: 9 } as const;
const AttrType = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 } as const;

type Attribute = { name: string; type: number; f?: number; i?: number; s?: Uint8Array; ints?: number[] };

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const intAttr = (name: string, i: number): Attribute => ({ name, type: AttrType.INT, i });
const floatAttr = (name: string, f: number): Attribute => ({ name, type: AttrType.FLOAT, f });
const intsAttr = (name: string, ints: number[]): Attribute => ({ name, type: AttrType.INTS, ints });
const stringAttr = (name: string, value: string): Attribute => ({ name, type: AttrType.STRING, s: new TextEncoder().encode(value) });

/** Accumulates nodes and initializers; `op` returns its output name so the graph reads like the tfjs forward. */
export class GraphBuilder {
  readonly nodes: object[] = [];
  readonly initializers: object[] = [];
  private counter = 0;

  op(opType: string, inputs: string[], attributes: Attribute[] = [], outputs?: string[]): string {
    const out = outputs ?? [`${opType.toLowerCase()}_${this.counter++}`];
    this.nodes.push({ opType, input: inputs, output: out, name: `${opType}_${this.nodes.length}`, attribute: attributes });
    return out[0];
  }

  /** Multi-output op. */
  opN(opType: string, inputs: string[], count: number, attributes: Attribute[] = []): string[] {
    const outs = Array.from({ length: count }, () => `${opType.toLowerCase()}_${this.counter++}`);
    this.op(opType, inputs, attributes, outs);
    return outs;
  }

  floats(name: string, dims: number[], data: Float32Array): string {
    this.initializers.push({ name, dataType: DataType.FLOAT, dims, rawData: bytesOf(data) });
    return name;
  }

  ints(name: string, dims: number[], values: number[]): string {
    this.initializers.push({ name, dataType: DataType.INT64, dims, rawData: bytesOf(BigInt64Array.from(values.map(BigInt))) });
    return name;
  }
}

export function valueInfo(name: string, elemType: number, shape: (number | string)[]) {
  const dim = shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return { name, type: { tensorType: { elemType, shape: { dim } } } };
}

function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}

/** The ONNX ModelProto bytes of a policy with these weights. Deterministic: same weights -> same bytes. */
export function exportOnnx(weights: WeightArrays, config: ModelConfig, opts: ExportOptions = {}): Uint8Array {
  const { vocabSize: V, width: C, heads: H, layers: L } = config;
  const hd = C / H;
  for (const [name, shape] of Object.entries(weightShapes(config, 'policy'))) {
    if (weights[name]?.shape.join(',') !== shape.join(',')) throw new Error(`exportOnnx: weight ${name} missing or not [${shape}]`);
  }
  const g = new GraphBuilder();
  const w = (name: string) => g.floats(name, weights[name].shape, weights[name].data);
  const scalarF = (name: string, value: number) => g.floats(name, [], Float32Array.of(value));

  // Constants.
  const axis0 = g.ints('const.axes0', [1], [0]);
  const axis1 = g.ints('const.axes1', [1], [1]);
  const axes12 = g.ints('const.axes12', [2], [1, 2]);
  const zero = g.ints('const.zero', [], [0]);
  const one = g.ints('const.one', [], [1]);
  const headShape = g.ints('const.head_shape', [4], [0, 0, H, hd]); // 0 = keep that dim
  const mergedShape = g.ints('const.merged_shape', [3], [0, 0, C]);
  const qkvSplit = g.ints('const.qkv_split', [3], [C, C, C]);
  const scale = scalarF('const.scale', 1 / Math.sqrt(hd));
  const masked = scalarF('const.masked', -1e9);
  const half = scalarF('const.half', 0.5);
  const onef = scalarF('const.onef', 1);
  const invSqrt2 = scalarF('const.inv_sqrt2', Math.SQRT1_2);

  // Embeddings: gather is fine at inference (training uses a one-hot matmul for the same result).
  const tokens = g.op('Gather', [w('wte'), 'input_ids'], [intAttr('axis', 0)]); // [B,T,C]
  let x = config.rotary ? tokens : g.op('Add', [tokens, g.op('Gather', [w('wpe'), 'position_ids'], [intAttr('axis', 0)])]); // [B,T,C]
  // Rotary positions: cos/sin rows of each token's position, [B,1,T,hd]; x·cos + rotate_half(x)·sin per head.
  let rotate = (t: string) => t;
  if (config.rotary) {
    const tables = rotaryTables(Array.from({ length: config.contextLength }, (_, t) => t), hd);
    const at = (name: string, data: Float32Array) => g.op('Unsqueeze', [g.op('Gather', [g.floats(name, [config.contextLength, hd], data), 'position_ids'], [intAttr('axis', 0)]), axis1]);
    const cos = at('rope.cos', tables.cos);
    const sin = at('rope.sin', tables.sin);
    const halves = g.ints('const.rope_halves', [2], [hd / 2, hd / 2]);
    rotate = (t: string) => {
      const [x1, x2] = g.opN('Split', [t, halves], 2, [intAttr('axis', -1)]);
      return g.op('Add', [g.op('Mul', [t, cos]), g.op('Mul', [g.op('Concat', [g.op('Neg', [x2]), x1], [intAttr('axis', -1)]), sin])]);
    };
  }

  // Attention mask [B,1,T,S], S = P+T: causal over cache slots AND not padding.
  const T = g.op('Squeeze', [g.op('Shape', ['input_ids'], [intAttr('start', 1), intAttr('end', 2)]), axis0]);
  const S = g.op('Squeeze', [g.op('Shape', ['attention_mask'], [intAttr('start', 1), intAttr('end', 2)]), axis0]);
  const P = g.op('Sub', [S, T]);
  const keySlots = g.op('Unsqueeze', [g.op('Range', [zero, S, one]), axis0]); // [1,S]
  const querySlots = g.op('Unsqueeze', [g.op('Range', [P, S, one]), axis1]); // [T,1]
  const causal = g.op('LessOrEqual', [keySlots, querySlots]); // [T,S]
  const notPad = g.op('Unsqueeze', [g.op('Cast', ['attention_mask'], [intAttr('to', DataType.BOOL)]), axes12]); // [B,1,1,S]
  const allowed = g.op('And', [causal, notPad]); // [B,1,T,S]

  const layerNorm = (input: string, prefix: string) =>
    g.op('LayerNormalization', [input, w(`${prefix}.g`), w(`${prefix}.b`)], [intAttr('axis', -1), floatAttr('epsilon', 1e-5)]);
  const dense = (input: string, wName: string, bName: string) => g.op('Add', [g.op('MatMul', [input, w(wName)]), w(bName)]);
  const toHeads = (t: string) => g.op('Transpose', [g.op('Reshape', [t, headShape])], [intsAttr('perm', [0, 2, 1, 3])]); // [B,H,T,hd]

  let context = x; // the last block's LayerNormed input: the copy head's keys read it
  for (let i = 0; i < L; i++) {
    const p = `h.${i}`;
    const h = layerNorm(x, `${p}.ln1`);
    context = h;
    const [q, k, v] = g.opN('Split', [dense(h, `${p}.attn.wqkv`, `${p}.attn.bqkv`), qkvSplit], 3, [intAttr('axis', 2)]); // each [B,T,C]
    const keys = g.op('Concat', [`past_key_values.${i}.key`, rotate(toHeads(k))], [intAttr('axis', 2)], [`present.${i}.key`]); // [B,H,S,hd], rotated
    const vals = g.op('Concat', [`past_key_values.${i}.value`, toHeads(v)], [intAttr('axis', 2)], [`present.${i}.value`]);
    const scores = g.op('Mul', [g.op('MatMul', [rotate(toHeads(q)), g.op('Transpose', [keys], [intsAttr('perm', [0, 1, 3, 2])])]), scale]); // [B,H,T,S]
    const att = g.op('Softmax', [g.op('Where', [allowed, scores, masked])], [intAttr('axis', -1)]);
    const y = g.op('Reshape', [g.op('Transpose', [g.op('MatMul', [att, vals])], [intsAttr('perm', [0, 2, 1, 3])]), mergedShape]); // [B,T,C]
    x = g.op('Add', [x, dense(y, `${p}.attn.wo`, `${p}.attn.bo`)]);
    const u = dense(layerNorm(x, `${p}.ln2`), `${p}.mlp.w1`, `${p}.mlp.b1`); // [B,T,4C]
    const gelu = g.op('Mul', [g.op('Mul', [u, half]), g.op('Add', [g.op('Erf', [g.op('Mul', [u, invSqrt2])]), onef])]);
    x = g.op('Add', [x, dense(gelu, `${p}.mlp.w2`, `${p}.mlp.b2`)]);
  }
  let final = layerNorm(x, 'lnf'); // [B,T,C]
  let finalAllowed = allowed; // [B,1,T,S]
  if (opts.logits === 'last') {
    const start = g.ints('const.last_start', [1], [-1]);
    const end = g.ints('const.last_end', [1], [Number.MAX_SAFE_INTEGER]);
    final = g.op('Slice', [final, start, end, axis1]); // [B,1,C]
    finalAllowed = g.op('Slice', [allowed, start, end, g.ints('const.axes2', [1], [2])]); // [B,1,1,S]
  }
  const wteT = g.floats('wte_transposed', [C, V], transpose2d(weights.wte.data, V, C)); // tied LM head
  const lm = g.op('MatMul', [final, wteT], [], config.copyHead ? undefined : ['logits']); // [B,T,V]
  if (config.copyHead) {
    // The copy head, as policy/model.ts logits: log((1-g)·softmax(lm) + g·Σ_j att_j·onehot(x_j)).
    const keys = g.op('Concat', ['past_copy.key', g.op('Unsqueeze', [g.op('MatMul', [context, w('copy.wk')]), axis1])], [intAttr('axis', 2)], ['present_copy.key']); // [B,1,S,C]
    const newIds = g.op('Unsqueeze', [g.op('Cast', ['input_ids'], [intAttr('to', DataType.FLOAT)]), g.ints('const.axes13', [2], [1, 3])]); // [B,1,T,1]
    const ids = g.op('Concat', ['past_copy.ids', newIds], [intAttr('axis', 2)], ['present_copy.ids']); // [B,1,S,1]
    const q = g.op('Unsqueeze', [g.op('MatMul', [final, w('copy.wq')]), axis1]); // [B,1,T,C]
    const scores = g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [keys], [intsAttr('perm', [0, 1, 3, 2])])]), scalarF('const.copy_scale', 1 / Math.sqrt(C))]); // [B,1,T,S]
    const att = g.op('Softmax', [g.op('Where', [finalAllowed, scores, masked])], [intAttr('axis', -1)]);
    // p_copy[b,t,v] = Σ_s att[b,t,s]·[ids_s = v]: a scatter-add of the attention row into the vocabulary.
    const att3 = g.op('Squeeze', [att, axis1]); // [B,T,S]
    const targets = g.op('Expand', [g.op('Cast', [g.op('Squeeze', [ids, g.ints('const.axes3', [1], [3])])], [intAttr('to', DataType.INT64)]), g.op('Shape', [att3])]); // [B,T,S]
    const rows = g.op('Shape', [att3], [intAttr('start', 0), intAttr('end', 2)]); // [B,T]
    const zeros = g.op('ConstantOfShape', [g.op('Concat', [rows, g.ints('const.vocab', [1], [V])], [intAttr('axis', 0)])]); // [B,T,V] of 0.0
    const copy = g.op('ScatterElements', [zeros, targets, att3], [intAttr('axis', 2), stringAttr('reduction', 'add')]); // [B,T,V]
    const gate = g.op('Add', [g.op('MatMul', [final, w('copy.wg')]), w('copy.bg')]); // [B,T,1], logit of g
    const zerof = scalarF('const.zerof', 0);
    const logSigmoid = (z: string) => g.op('Sub', [g.op('Min', [z, zerof]), g.op('Log', [g.op('Add', [onef, g.op('Exp', [g.op('Neg', [g.op('Abs', [z])])])])])]);
    const fromLm = g.op('Add', [g.op('LogSoftmax', [lm], [intAttr('axis', -1)]), logSigmoid(g.op('Neg', [gate]))]);
    const fromCopy = g.op('Add', [g.op('Log', [g.op('Max', [copy, scalarF('const.copy_floor', 1e-30)])]), logSigmoid(gate)]);
    const m = g.op('Max', [fromLm, fromCopy]);
    const sumExp = g.op('Add', [g.op('Exp', [g.op('Sub', [fromLm, m])]), g.op('Exp', [g.op('Sub', [fromCopy, m])])]);
    g.op('Add', [m, g.op('Log', [sumExp])], [], ['logits']);
  }

  const kvShape = (dim: string) => ['batch', H, dim, hd];
  const inputs = [
    valueInfo('input_ids', DataType.INT64, ['batch', 'seq']),
    valueInfo('attention_mask', DataType.INT64, ['batch', 'total']),
    valueInfo('position_ids', DataType.INT64, ['batch', 'seq']),
  ];
  const outputs = [valueInfo('logits', DataType.FLOAT, ['batch', opts.logits === 'last' ? 1 : 'seq', V])];
  for (let i = 0; i < L; i++) {
    for (const kind of ['key', 'value']) {
      inputs.push(valueInfo(`past_key_values.${i}.${kind}`, DataType.FLOAT, kvShape('past')));
      outputs.push(valueInfo(`present.${i}.${kind}`, DataType.FLOAT, kvShape('total')));
    }
  }
  if (config.copyHead) {
    for (const [kind, last] of [['key', C], ['ids', 1]] as const) {
      inputs.push(valueInfo(`past_copy.${kind}`, DataType.FLOAT, ['batch', 1, 'past', last]));
      outputs.push(valueInfo(`present_copy.${kind}`, DataType.FLOAT, ['batch', 1, 'total', last]));
    }
  }

  return encodeOnnxModel(g, 'policy', inputs, outputs, opts.metadata);
}

/** Encode a graph as ModelProto bytes (IR 8, opset 17). */
export function encodeOnnxModel(g: GraphBuilder, name: string, inputs: object[], outputs: object[], metadata: Record<string, string> = {}): Uint8Array {
  const ModelProto = onnxTypes().lookupType('onnx.ModelProto');
  const model = ModelProto.fromObject({
    irVersion: ONNX_IR_VERSION,
    producerName: 'ratchet',
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    graph: { name, node: g.nodes, initializer: g.initializers, input: inputs, output: outputs },
    metadataProps: Object.keys(metadata)
      .sort()
      .map((key) => ({ key, value: metadata[key] })),
  });
  return ModelProto.encode(model).finish();
}

/** The metadata_props an exported model carries, as a plain object. */
export function readOnnxMetadata(bytes: Uint8Array): Record<string, string> {
  const ModelProto = onnxTypes().lookupType('onnx.ModelProto');
  const model = ModelProto.toObject(ModelProto.decode(bytes)) as { metadataProps?: { key: string; value: string }[] };
  return Object.fromEntries((model.metadataProps ?? []).map((p) => [p.key, p.value]));
}

/** The model shape an exported policy was built with, read back from its graph (dropout is always 0 here). */
export function readOnnxConfig(bytes: Uint8Array): ModelConfig {
  const ModelProto = onnxTypes().lookupType('onnx.ModelProto');
  const model = ModelProto.toObject(ModelProto.decode(bytes), { longs: Number }) as {
    graph: { initializer: { name: string; dims: number[] }[]; input: { name: string; type: { tensorType: { shape: { dim: { dimValue?: number }[] } } } }[] };
  };
  const dims = (name: string) => {
    const init = model.graph.initializer.find((t) => t.name === name);
    if (!init) throw new Error(`readOnnxConfig: no initializer ${name}; not a policy exported by exportOnnx`);
    return init.dims;
  };
  const [vocabSize, width] = dims('wte');
  const rotary = model.graph.initializer.some((t) => t.name === 'rope.cos');
  const [contextLength] = dims(rotary ? 'rope.cos' : 'wpe');
  const pastKeys = model.graph.input.filter((i) => /^past_key_values\.\d+\.key$/.test(i.name));
  const heads = pastKeys[0]?.type.tensorType.shape.dim[1]?.dimValue;
  if (!heads) throw new Error('readOnnxConfig: no past_key_values inputs');
  const copyHead = model.graph.initializer.some((t) => t.name === 'copy.wq');
  return { vocabSize, contextLength, width, heads, layers: pastKeys.length, dropout: 0, ...(copyHead ? { copyHead } : {}), ...(rotary ? { rotary } : {}) };
}
