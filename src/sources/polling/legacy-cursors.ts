// The cursor shapes the previous version checkpointed, one per provider, read into the one window
// cursor so that an upgraded bridge resumes where the old one stopped. Each provider's codec names
// the reader of its own old shape; nothing writes these shapes any more.

import type { Cursor } from '../../pipeline/types.js';
import { max, SeenSet, type PositionCodec, type WindowCursor } from './window.js';

/**
 * EKS: `{watermark, floor, resume?, seen: {ms: eventIds}}` in epoch milliseconds, as numbers. The
 * fields meant what they mean now; only the `unit` tag is new.
 */
export function readEksV1Cursor(value: Cursor, codec: PositionCodec): WindowCursor | undefined {
  if (value.unit !== undefined || typeof value.watermark !== 'number' || typeof value.floor !== 'number') return undefined;
  const watermark = codec.parse(value.watermark);
  const floor = codec.parse(value.floor);
  const seen = SeenSet.fromJson(value.seen, codec);
  if (watermark === undefined || floor === undefined || seen === undefined) return undefined;
  if (value.resume === undefined) return { watermark, floor, seen };
  const resume = typeof value.resume === 'number' ? codec.parse(value.resume) : undefined;
  return resume === undefined ? undefined : { watermark, floor, seen, resume: { position: resume } };
}

/**
 * GKE: `{watermark, seen: ["<ns>|<insertId>"], resume?, since?}`, times as RFC 3339 text. `since`
 * (startFrom) held windows above it; reads started at watermark − overlap otherwise, which is the
 * floor now. Keys whose time cannot be read are dropped, as that version did.
 */
export function readGkeV1Cursor(value: Cursor, codec: PositionCodec, overlap: bigint): WindowCursor | undefined {
  if (value.unit !== undefined || !Array.isArray(value.seen)) return undefined;
  const watermark = codec.parse(value.watermark);
  if (watermark === undefined) return undefined;
  const since = value.since === undefined ? undefined : codec.parse(value.since);
  const resume = value.resume === undefined ? undefined : codec.parse(value.resume);
  if ((value.since !== undefined && since === undefined) || (value.resume !== undefined && resume === undefined)) return undefined;
  const seen = new SeenSet();
  for (const key of value.seen as unknown[]) {
    if (typeof key !== 'string') continue;
    const bar = key.indexOf('|');
    let position: bigint;
    try {
      position = BigInt(key.slice(0, bar));
    } catch {
      continue;
    }
    if (bar > 0) seen.add(position, key.slice(bar + 1));
  }
  const floor = since === undefined ? watermark - overlap : max(since, watermark - overlap);
  return resume === undefined ? { watermark, floor, seen } : { watermark, floor, seen, resume: { position: resume } };
}

/**
 * AKS: `{ingested, seen: {ingestion time: keys}, page?: {ing, key}}`, Kusto datetime text. Reads
 * started at ingested − overlap, or strictly after the row `page` inside a window (a page whose key
 * is empty marked the start of a sub-window, read from that time on).
 */
export function readAksV1Cursor(value: Cursor, codec: PositionCodec, overlap: bigint): WindowCursor | undefined {
  if (value.unit !== undefined || typeof value.ingested !== 'string') return undefined;
  const watermark = codec.parse(value.ingested);
  const seen = SeenSet.fromJson(value.seen ?? {}, codec);
  if (watermark === undefined || seen === undefined) return undefined;
  const cursor: WindowCursor = { watermark, floor: watermark - overlap, seen };
  if (value.page !== undefined) {
    const { ing, key } = (value.page ?? {}) as { ing?: unknown; key?: unknown };
    const position = codec.parse(ing);
    if (position === undefined || typeof key !== 'string') return undefined;
    cursor.resume = key === '' ? { position } : { position, after: key };
  }
  return cursor;
}
