/**
 * History ⇄ JSON through the proto package's own (de)serialisers: enums as names, 64-bit integers as
 * strings, bytes as base64. (`historyToJSON` of `@temporalio/common` trips over two copies of protobufjs in
 * this install, so the files are written with the generated `toObject`/`fromObject` instead.)
 */
import proto from '@temporalio/proto';

const { History } = proto.temporal.api.history.v1;
type IHistory = proto.temporal.api.history.v1.IHistory;

/** A history as plain JSON. */
export function historyToPlain(history: IHistory): unknown {
  return History.toObject(History.fromObject(history), { longs: String, enums: String, bytes: String });
}

/** A history back from {@link historyToPlain}. */
export function historyFromPlain(json: unknown): proto.temporal.api.history.v1.History {
  return History.fromObject(json as Record<string, unknown>);
}
