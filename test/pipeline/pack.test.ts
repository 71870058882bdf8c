import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { packRecords, packTexts, recordTransfers, TextPacker, unpackRecords, unpackTexts } from '../../src/pipeline/pack.js';

describe('TextPacker', () => {
  it('packs what packTexts packs, one text at a time, from one finish to the next (property)', () => {
    const packer = new TextPacker();
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), fc.constant('é€😀'))), (texts) => {
        for (const text of texts) packer.push(text);
        expect(packer.count).toBe(texts.length);
        const packed = packer.finish();
        expect(packed).toEqual(packTexts(texts));
        // Its own buffer, exactly as long as the texts: it is transferred.
        expect(packed.bytes.buffer.byteLength).toBe(packed.bytes.byteLength);
        expect(packer.count).toBe(0);
      }),
    );
  });

  it('grows past its first scratch buffer and starts the next batch from nothing', () => {
    const packer = new TextPacker();
    const big = ['€'.repeat(30_000), 'a'.repeat(100_000), 'x', '😀'.repeat(20_000)];
    for (const text of big) packer.push(text);
    const first = packer.finish();
    expect(unpackTexts(first)).toEqual(big);
    packer.push('after');
    expect(unpackTexts(packer.finish())).toEqual(['after']);
  });
});

describe('packTexts', () => {
  it('gives back the same texts, whatever their characters (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme' })), (texts) => {
        const packed = packTexts(texts);
        expect(unpackTexts(packed)).toEqual(texts);
        expect(packed.bytes.byteLength).toBe(texts.reduce((n, t) => n + Buffer.byteLength(t), 0));
        // The whole buffer is what crosses: no byte of it left over.
        expect(packed.bytes.buffer.byteLength).toBe(packed.bytes.byteLength);
      }),
    );
  });

  it('packs texts of more bytes than characters wherever they come, and lone surrogates as UTF-8 writes them (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constant('é€😀'))), (texts) => {
        const packed = packTexts(texts);
        expect(unpackTexts(packed)).toEqual(texts.map((t) => Buffer.from(t).toString()));
        expect(packed.bytes.buffer.byteLength).toBe(texts.reduce((n, t) => n + Buffer.byteLength(t), 0));
      }),
    );
    const packed = packTexts(['é', 'abc', '€x', 'plain ascii']);
    expect(Array.from(packed.ends)).toEqual([2, 5, 9, 20]);
  });
});

describe('packRecords', () => {
  const logEvent = fc.record({ logStreamName: fc.string(), timestamp: fc.integer(), message: fc.string({ unit: 'grapheme' }), eventId: fc.string() });

  it('gives back the same records: strings, objects of one shape, and anything else (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.array(fc.string({ unit: 'grapheme' })), fc.array(logEvent), fc.array(fc.jsonValue())), (records) => {
        const packed = packRecords(records);
        // Structured clone is what a worker receives: the packing must survive it.
        expect(unpackRecords(structuredClone(packed, { transfer: recordTransfers(packed) }))).toEqual(records);
      }),
    );
  });

  it('packs the string columns of one-shape objects into buffers, and leaves other columns as they are', () => {
    const records = [
      { message: '{"kind":"Event"}', timestamp: 1, nested: { a: 1 } },
      { message: 'é', timestamp: 2, nested: null },
    ];
    const packed = packRecords(records);
    expect(packed.form).toBe('columns');
    if (packed.form !== 'columns') return;
    expect(packed.columns[0]).toHaveProperty('texts');
    expect(packed.columns[1]).toEqual({ values: [1, 2] });
    expect(recordTransfers(packed)).toHaveLength(2);
  });

  it('packs a column of byte strings into one buffer, views of a larger buffer included, and gives back their bytes', () => {
    const wire = Buffer.from('0123456789abcdef');
    const records = [
      { id: 'a', payload: wire.subarray(2, 5) },
      { id: 'b', payload: new Uint8Array() },
      { id: 'c', payload: wire.subarray(10) },
    ];
    const packed = packRecords(records);
    if (packed.form !== 'columns') throw new Error('expected columns');
    expect(packed.columns[1]).toHaveProperty('bytes');
    // Only the bytes of the views cross, not the buffer they are views of.
    expect(recordTransfers(packed).reduce((n, b) => n + b.byteLength, 0)).toBeLessThan(wire.buffer.byteLength);
    const back = unpackRecords(structuredClone(packed, { transfer: recordTransfers(packed) })) as { id: string; payload: Uint8Array }[];
    expect(back.map((r) => Buffer.from(r.payload).toString())).toEqual(['234', '', 'abcdef']);
  });

  it('sends records of mixed shapes, or with a __proto__ field, as they are', () => {
    expect(packRecords([{ a: '1' }, { b: '2' }]).form).toBe('as-is');
    expect(packRecords([{ a: '1', b: 'x' }, { b: 'y', a: '2' }]).form).toBe('as-is');
    expect(packRecords(['text', { a: '1' }]).form).toBe('as-is');
    const hostile = JSON.parse('[{"__proto__":{"polluted":"yes"},"message":"m"}]') as unknown[];
    const packed = packRecords(hostile);
    expect(packed.form).toBe('as-is');
    expect(unpackRecords(structuredClone(packed))).toEqual(hostile);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
