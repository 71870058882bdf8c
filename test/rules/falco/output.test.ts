// Outputs rendered as Falco renders them, alerts in Falco's JSON shape, and the events Falco takes in.
import { describe, expect, it } from 'vitest';
import { alertToJSON, buildAlert } from '../../../src/rules/alert.js';
import { RuleEngine } from '../../../src/rules/engine.js';
import { FieldReaders } from '../../../src/rules/falco/compile.js';
import { FalcoConditionError } from '../../../src/rules/falco/errors.js';
import { NOT_AUDIT_EVENT, takeInAuditEvents } from '../../../src/rules/falco/intake.js';
import { compileOutput } from '../../../src/rules/falco/output.js';
import { K8S_AUDIT_RULES, loadRuleFiles, traceEvent } from './helpers.js';

const output = (text: string) => compileOutput(text, new FieldReaders());

const EVENT = {
  kind: 'Event',
  auditID: 'a-1',
  verb: 'create',
  requestURI: '/api/v1/namespaces/default/pods/web/exec?command=ls',
  user: { username: 'alice', groups: ['devs', 'ops'] },
  objectRef: { resource: 'pods', name: 'web' },
  responseStatus: { code: 403 },
  stageTimestamp: '2025-02-10T09:15:57.508657Z',
};

describe('Falco outputs', () => {
  it('renders fields as text, lists as (a,b), missing fields as <NA>; the longest field name wins; % alone is text', () => {
    const t = output('user=%ka.user.name groups=%ka.user.groups target=%ka.target.name/%ka.target.resource ns=%ka.target.namespace code=%ka.response.code cmd=%ka.uri.param[command] 100% sure %ka.verb.');
    expect(t.render(EVENT)).toBe('user=alice groups=(devs,ops) target=web/pods ns=<NA> code=403 cmd=ls 100% sure create.');
    expect(t.fieldValues(EVENT)).toEqual({
      'ka.user.name': 'alice',
      'ka.user.groups': '(devs,ops)',
      'ka.target.name': 'web',
      'ka.target.resource': 'pods',
      'ka.target.namespace': null,
      'ka.response.code': '403',
      'ka.uri.param[command]': 'ls',
      'ka.verb': 'create',
    });
  });

  it('a field name followed by more letters reads the longest known field, as libsinsp does', () => {
    expect(output('%ka.verbose').render(EVENT)).toBe('createose');
    expect(output('%ka.req.pod.containers.image.repository').fieldValues(EVENT)).toEqual({ 'ka.req.pod.containers.image.repository': null });
  });

  it('refuses unknown fields and missing arguments, with the column', () => {
    const fail = (text: string): string => {
      try {
        output(text);
      } catch (err) {
        expect(err).toBeInstanceOf(FalcoConditionError);
        return (err as Error).message;
      }
      return 'compiled';
    };
    expect(fail('a %ka.nope b')).toBe('line 1, column 3: invalid formatting token %ka.nope: no such field');
    expect(fail('x\n%proc.name')).toBe('line 2, column 1: invalid formatting token %proc.name: no such field');
    expect(fail('%ka.uri.param')).toBe('line 1, column 1: filter ka.uri.param requires an argument');
    expect(fail('%ka.uri.param[x')).toBe("line 1, column 14: expected a ']' closing the argument of %ka.uri.param");
  });
});

describe("alerts in Falco's JSON shape", () => {
  it('for a shipped rule: hostname, output with time and priority, priority, rule, source, tags, time, output_fields with evt.time', () => {
    const loaded = loadRuleFiles([K8S_AUDIT_RULES]);
    const event = traceEvent('exec_pod.json');
    const [rule] = new RuleEngine(loaded.rules).match(event);
    const json = JSON.parse(alertToJSON(buildAlert(rule!, event, { hostname: 'node-1', nowMs: 0 }))) as Record<string, unknown>;
    expect(json).toEqual({
      auditID: 'ca1ed9f4-7bf4-4c85-81a8-1b11253d1ba6',
      cluster: null,
      hostname: 'node-1',
      output: '13:38:34.902914000: Notice Attach/Exec to pod (user=minikube-user pod=nginx-deployment-7998647bdf-phvq7 resource=pods ns=default action=exec command=bash)',
      output_fields: {
        'evt.time': 1540561114902914000,
        'ka.target.name': 'nginx-deployment-7998647bdf-phvq7',
        'ka.target.namespace': 'default',
        'ka.target.resource': 'pods',
        'ka.target.subresource': 'exec',
        'ka.uri.param[command]': 'bash',
        'ka.user.name': 'minikube-user',
      },
      priority: 'Notice',
      rule: 'Attach/Exec Pod',
      source: 'k8s_audit',
      tags: ['k8s'],
      time: '2018-10-26T13:38:34.902914000Z',
    });
    // evt.time is written as an exact integer, as Falco writes it.
    expect(alertToJSON(buildAlert(rule!, event, { hostname: 'node-1', nowMs: 0 }))).toContain('"evt.time":1540561114902914000}');
  });

  it('renders JSON values of the event as compact JSON, and a missing one as <NA> and null', () => {
    const loaded = loadRuleFiles([K8S_AUDIT_RULES]);
    const event = traceEvent('create_nginx_pod_sensitive_mount.json');
    const rule = new RuleEngine(loaded.rules).match(event)[0]!;
    const alert = buildAlert(rule, event, { hostname: 'h', nowMs: 0 });
    expect(alert.output).toContain('volumes=[{"hostPath":{"path":"/etc","type":""},"name":"etc"}]');
    const created = traceEvent('create_deployment.json');
    const deployment = new RuleEngine(loaded.rules).match(created)[0]!;
    const a = buildAlert(deployment, { ...created, annotations: undefined }, { hostname: 'h', nowMs: 0 });
    expect(a.output).toMatch(/decision=<NA> reason=<NA>\)$/);
    expect(a.output_fields['ka.auth.decision']).toBeNull();
  });
});

describe('events taken in as the k8saudit plugin takes them in', () => {
  const event = { kind: 'Event', auditID: 'a', stageTimestamp: '2025-02-10T09:15:57.508657Z' };

  it('takes Events, EventList items and arrays of them', () => {
    const list = { kind: 'EventList', items: [{ auditID: 'b', stageTimestamp: '2025-02-10T09:15:57Z' }, event] };
    const taken = takeInAuditEvents([event, list], 'line 1');
    expect(taken.events.map((e) => e.at)).toEqual(['line 1[0]', 'line 1[1].items[0]', 'line 1[1].items[1]']);
    expect(taken.refused).toEqual([]);
  });

  it('refuses anything else with the plugin\'s words; an array stops at its first stranger', () => {
    expect(takeInAuditEvents({ kind: 0 }, 'line 1').refused).toEqual([{ at: 'line 1', reason: NOT_AUDIT_EVENT }]);
    expect(takeInAuditEvents({ auditID: 'a' }, 'x').refused).toEqual([{ at: 'x', reason: 'data not recognized as a k8s audit event' }]);
    expect(takeInAuditEvents({ kind: 'EventList' }, 'x').refused.map((r) => r.reason)).toEqual([NOT_AUDIT_EVENT]);
    const array = takeInAuditEvents([event, 42, event], 'x');
    expect([array.events.length, array.refused]).toEqual([1, [{ at: 'x[1]', reason: NOT_AUDIT_EVENT }]]);
  });

  it('refuses an event without a readable stageTimestamp', () => {
    expect(takeInAuditEvents({ kind: 'Event' }, 'x').refused).toEqual([{ at: 'x', reason: "can't read stageTimestamp" }]);
    expect(takeInAuditEvents({ kind: 'Event', stageTimestamp: '10/02/2025' }, 'x').refused).toEqual([{ at: 'x', reason: 'stageTimestamp "10/02/2025" is not an RFC 3339 time' }]);
  });
});
