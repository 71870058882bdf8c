// `convert --from aks-eventhubs`: diagnostic records as an AKS diagnostic setting sends them to an
// Event Hub: {"records": [...]} messages (one per line, as a hub capture or a consumer prints
// them), a JSON array of records, or single records.
import { InputError, type Converter, type ProviderRecord } from '../../component/converter.js';
import { describe, isPlainObject } from '../../event/event.js';
import { normalizeRecord } from './normalize.js';

export const aksEventHubsConverter: Converter = {
  records(values) {
    const out: ProviderRecord[] = [];
    for (const { value, ref } of values) collect(value, ref === 'input' ? '' : ref, out);
    return out;
  },
  normalize(record, ref, context) {
    return normalizeRecord(record, context.cluster ? { cluster: context.cluster } : {}, ref);
  },
};

function collect(value: unknown, ref: string, out: ProviderRecord[]): void {
  if (Array.isArray(value)) {
    value.forEach((record, i) => out.push({ record, ref: `${ref}[${i}]` }));
    return;
  }
  if (!isPlainObject(value)) throw new InputError(`expected diagnostic records or {"records": [...]} messages, got ${describe(value)}${ref ? ` at ${ref}` : ''}`);
  if (Array.isArray(value.records)) {
    value.records.forEach((record, i) => out.push({ record, ref: `${ref}records[${i}]` }));
    return;
  }
  out.push({ record: value, ref: ref || '[0]' });
}
