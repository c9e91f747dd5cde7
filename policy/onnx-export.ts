/**
 * Weight sync by export: the policy's architecture as an ONNX graph (opset 17, IR 8) built from trained weights,
 * with a KV cache, for onnxruntime-node. Encoded with protobufjs from `onnx.proto` (the upstream subset we use).
 *
 * Inputs (names as transformers.js / Optimum use them):
 *   input_ids int64 [B,T], attention_mask int64 [B,P+T] (0 = padding), position_ids int64 [B,T],
 *   past_key_values.{i}.key / .value float32 [B,H,P,hd] (P = 0 on the first call).
 * Outputs: logits float32 [B,T,V] (or [B,1,V] with `logits: 'last'`), present.{i}.key / .value [B,H,P+T,hd].
 * Causality is over cache slots (slot j is visible to query slot P+i when j <= P+i), so a left-padded batch works.
 */
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { ModelConfig, WeightArrays, weightShapes } from './model';

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
const AttrType = { FLOAT: 1, INT: 2, INTS: 7 } as const;

type Attribute = { name: string; type: number; f?: number; i?: number; ints?: number[] };

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const intAttr = (name: string, i: number): Attribute => ({ name, type: AttrType.INT, i });
const floatAttr = (name: string, f: number): Attribute => ({ name, type: AttrType.FLOAT, f });
const intsAttr = (name: string, ints: number[]): Attribute => ({ name, type: AttrType.INTS, ints });

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
  let x = g.op('Add', [g.op('Gather', [w('wte'), 'input_ids'], [intAttr('axis', 0)]), g.op('Gather', [w('wpe'), 'position_ids'], [intAttr('axis', 0)])]); // [B,T,C]

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

  for (let i = 0; i < L; i++) {
    const p = `h.${i}`;
    const h = layerNorm(x, `${p}.ln1`);
    const [q, k, v] = g.opN('Split', [dense(h, `${p}.attn.wqkv`, `${p}.attn.bqkv`), qkvSplit], 3, [intAttr('axis', 2)]); // each [B,T,C]
    const keys = g.op('Concat', [`past_key_values.${i}.key`, toHeads(k)], [intAttr('axis', 2)], [`present.${i}.key`]); // [B,H,S,hd]
    const vals = g.op('Concat', [`past_key_values.${i}.value`, toHeads(v)], [intAttr('axis', 2)], [`present.${i}.value`]);
    const scores = g.op('Mul', [g.op('MatMul', [toHeads(q), g.op('Transpose', [keys], [intsAttr('perm', [0, 1, 3, 2])])]), scale]); // [B,H,T,S]
    const att = g.op('Softmax', [g.op('Where', [allowed, scores, masked])], [intAttr('axis', -1)]);
    const y = g.op('Reshape', [g.op('Transpose', [g.op('MatMul', [att, vals])], [intsAttr('perm', [0, 2, 1, 3])]), mergedShape]); // [B,T,C]
    x = g.op('Add', [x, dense(y, `${p}.attn.wo`, `${p}.attn.bo`)]);
    const u = dense(layerNorm(x, `${p}.ln2`), `${p}.mlp.w1`, `${p}.mlp.b1`); // [B,T,4C]
    const gelu = g.op('Mul', [g.op('Mul', [u, half]), g.op('Add', [g.op('Erf', [g.op('Mul', [u, invSqrt2])]), onef])]);
    x = g.op('Add', [x, dense(gelu, `${p}.mlp.w2`, `${p}.mlp.b2`)]);
  }
  let final = layerNorm(x, 'lnf'); // [B,T,C]
  if (opts.logits === 'last') {
    const start = g.ints('const.last_start', [1], [-1]);
    const end = g.ints('const.last_end', [1], [Number.MAX_SAFE_INTEGER]);
    final = g.op('Slice', [final, start, end, axis1]); // [B,1,C]
  }
  const wteT = g.floats('wte_transposed', [C, V], transpose2d(weights.wte.data, V, C)); // tied LM head
  g.op('MatMul', [final, wteT], [], ['logits']);

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
  const [contextLength] = dims('wpe');
  const pastKeys = model.graph.input.filter((i) => /^past_key_values\.\d+\.key$/.test(i.name));
  const heads = pastKeys[0]?.type.tensorType.shape.dim[1]?.dimValue;
  if (!heads) throw new Error('readOnnxConfig: no past_key_values inputs');
  return { vocabSize, contextLength, width, heads, layers: pastKeys.length, dropout: 0 };
}
