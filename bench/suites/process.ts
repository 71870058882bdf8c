import type { AuditEvent } from '../../src/event/event.js';
import { applyPolicy, loadPolicyFile } from '../../src/process/policy.js';
import { scrubEvent, type ScrubOptions } from '../../src/process/scrub.js';
import { nativeSampleEvents, ROOT } from '../workload.js';
import { jsonCeiling, rate, withBaseline, type Suite } from '../harness.js';

/** The native sample events, plus Secret creates and lists (one event in eight) so the scrubber has work. */
function events(): AuditEvent[] {
  const native = nativeSampleEvents();
  const secret = (n: number) => ({
    kind: 'Secret',
    apiVersion: 'v1',
    metadata: { name: `app-${n}`, namespace: 'default', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"data":{"password":"aHVudGVyMg=="}}' } },
    type: 'Opaque',
    data: { password: 'aHVudGVyMg==', 'tls.key': 'LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t'.repeat(20) },
  });
  const base = native[0]!;
  const secrets: AuditEvent[] = [0, 1, 2, 3].map((n) => ({
    ...base,
    level: 'RequestResponse',
    verb: n % 2 === 0 ? 'create' : 'list',
    requestURI: '/api/v1/namespaces/default/secrets',
    objectRef: { resource: 'secrets', namespace: 'default', apiVersion: 'v1' },
    ...(n % 2 === 0 ? { requestObject: secret(n), responseObject: secret(n) } : { responseObject: { kind: 'SecretList', apiVersion: 'v1', metadata: {}, items: [secret(1), secret(2), secret(3)] } }),
  }));
  const mixed: AuditEvent[] = [];
  native.forEach((e, i) => {
    mixed.push(e);
    if (i % 8 === 7) mixed.push(secrets[(i >> 3) % secrets.length]!);
  });
  return mixed;
}

export const processSuite: Suite = {
  name: 'process',
  description: "client-side audit Policy (Falco's published policy) and Secret scrubbing, on sample events with Secret bodies mixed in",
  async run(ctx) {
    const loaded = loadPolicyFile(`${ROOT}samples/falco-rules/k8saudit-audit-policy.yaml`);
    if (!loaded.policy) throw new Error(`policy: ${loaded.problems.join('; ')}`);
    const policy = loaded.policy;
    const scrub: ScrubOptions = { secrets: true, paths: [] };
    const sample = events();
    const texts = sample.map((e) => JSON.stringify(e));
    const minMs = ctx.quick ? 300 : 2000;
    const kept = sample.filter((e) => applyPolicy(policy, e).kind === 'kept').length;
    const scrubbed = sample.filter((e) => scrubEvent(e, scrub) !== e).length;
    ctx.log(`${sample.length} events (${texts.reduce((n, t) => n + t.length, 0)} bytes); the policy keeps ${kept}; ${scrubbed} carry Secret values`);

    const ceiling = await jsonCeiling(texts, minMs);
    const policyRate = await rate(() => {
      let n = 0;
      for (const event of sample) if (applyPolicy(policy, event).kind === 'kept') n++;
      return n;
    }, sample.length, { minMs });
    const scrubRate = await rate(() => {
      let n = 0;
      for (const event of sample) if (scrubEvent(event, scrub) !== event) n++;
      return n;
    }, sample.length, { minMs });
    const secretEvents = sample.filter((e) => scrubEvent(e, scrub) !== e);
    const secretTexts = secretEvents.map((e) => JSON.stringify(e));
    const secretCeiling = await jsonCeiling(secretTexts, minMs);
    const secretRate = await rate(() => {
      let n = 0;
      for (const event of secretEvents) if (scrubEvent(event, scrub) !== event) n++;
      return n;
    }, secretEvents.length, { minMs });
    // Falco's policy logs secrets at Metadata, so after it the scrubber has little left to do.
    const both = await rate(() => {
      let n = 0;
      for (const event of sample) {
        const outcome = applyPolicy(policy, event);
        if (outcome.kind === 'kept' && scrubEvent(outcome.event, scrub) !== outcome.event) n++;
      }
      return n;
    }, sample.length, { minMs });

    const baseline = 'JSON.parse+stringify';
    return [
      withBaseline({ key: 'process.policy.events_per_s', label: 'process: audit Policy (parsed events)', value: policyRate.opsPerSecond, unit: 'events/s' }, baseline, ceiling.itemsPerSecond),
      withBaseline({ key: 'process.scrub.events_per_s', label: 'process: Secret scrub (parsed events)', value: scrubRate.opsPerSecond, unit: 'events/s' }, baseline, ceiling.itemsPerSecond),
      withBaseline(
        { key: 'process.scrub.secret_events.events_per_s', label: 'process: Secret scrub, Secret events only', value: secretRate.opsPerSecond, unit: 'events/s' },
        baseline,
        secretCeiling.itemsPerSecond,
      ),
      withBaseline({ key: 'process.policy_scrub.events_per_s', label: 'process: policy + scrub (parsed events)', value: both.opsPerSecond, unit: 'events/s' }, baseline, ceiling.itemsPerSecond),
    ];
  },
};
