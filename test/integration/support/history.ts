/**
 * Load a history JSON (as `temporal workflow show --output json` writes it) into the SDK's History message.
 *
 * Why not the SDK's `historyFromJSON`: the top-level `protobufjs@7` dependency keeps npm from hoisting the
 * `protobufjs@8` that @temporalio/common and @temporalio/proto each need, so each gets its own copy and the
 * SDK's converter fails with "type must be a Type". Using the protojson of the copy that @temporalio/proto
 * itself loads keeps the types consistent, with or without that duplication.
 */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import * as proto from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root';

type ProtoJson = { fromJson(type: unknown, json: unknown, options?: { ignoreUnknownFields?: boolean }): unknown };

export function loadHistoryJson(file: string): proto.temporal.api.history.v1.IHistory {
  const protoDir = dirname(require.resolve('@temporalio/proto/package.json'));
  const { fromJson } = require(require.resolve('protobufjs/ext/protojson', { paths: [protoDir] })) as ProtoJson;
  const historyType = (patchProtobufRoot(proto) as unknown as { lookupType(name: string): unknown }).lookupType('temporal.api.history.v1.History');
  const history = fromJson(historyType, JSON.parse(readFileSync(file, 'utf8')), { ignoreUnknownFields: true });
  if (!history) throw new Error(`${file}: not a Temporal history`);
  return history as proto.temporal.api.history.v1.IHistory;
}
