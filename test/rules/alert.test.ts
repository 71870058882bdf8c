import { describe, expect, it } from 'vitest';
import { slackPayload, SLACK_COLORS } from '../../src/sinks/rules/slack.js';
import { alertMessage, alertToJSON, buildAlert, formatNanoTime } from '../../src/rules/alert.js';
import { loadRuleTexts } from '../../src/rules/load.js';

const RULES = loadRuleTexts([
  {
    file: 'r.yaml',
    text: `
rules:
  - name: Disallowed K8s User
    condition: jpath("verb") = "patch"
    message: K8s Operation performed by user not in allowed list of users (user={user.username} target={objectRef.name}/{objectRef.resource} verb={verb} uri={requestURI} resp={responseStatus.code})
    priority: WARNING
    tags: [k8s]
  - name: No fields
    condition: jpath("verb") = "get"
    message: "plain <text> & more"
    priority: emergency
`,
  },
]).rules;

// The event behind a Falco alert as Falco prints it (Falco's JSON output shape).
const EVENT = {
  kind: 'Event',
  apiVersion: 'audit.k8s.io/v1',
  level: 'Metadata',
  auditID: 'f5c2c0b4-1c7e-4d55-9a3f-3f0c4d1f2a6b',
  stage: 'ResponseComplete',
  requestURI: '/api/v1/namespaces/default/events/x',
  verb: 'patch',
  user: { username: 'yacht' },
  objectRef: { resource: 'events', namespace: 'default', name: 'x' },
  responseStatus: { code: 403 },
  requestReceivedTimestamp: '2025-02-10T09:15:57.500000Z',
  stageTimestamp: '2025-02-10T09:15:57.508657Z',
  annotations: { cluster_name: 'prod-1' },
};

describe('alerts', () => {
  it('have Falco\'s JSON output shape plus auditID and cluster', () => {
    const alert = buildAlert(RULES[0]!, EVENT, { hostname: 'node-1', nowMs: 0 });
    expect(alert).toEqual({
      auditID: 'f5c2c0b4-1c7e-4d55-9a3f-3f0c4d1f2a6b',
      cluster: 'prod-1',
      hostname: 'node-1',
      output:
        '09:15:57.508657000: Warning K8s Operation performed by user not in allowed list of users (user=yacht target=x/events verb=patch uri=/api/v1/namespaces/default/events/x resp=403)',
      output_fields: {
        'user.username': 'yacht',
        'objectRef.name': 'x',
        'objectRef.resource': 'events',
        verb: 'patch',
        requestURI: '/api/v1/namespaces/default/events/x',
        'responseStatus.code': 403,
        'evt.time': 1739178957508657000n,
      },
      priority: 'Warning',
      rule: 'Disallowed K8s User',
      source: 'k8s_audit',
      tags: ['k8s'],
      time: '2025-02-10T09:15:57.508657000Z',
    });
    expect(alertMessage(alert)).toMatch(/^K8s Operation performed/);
  });

  it('serialize to one JSON line with evt.time as an exact integer', () => {
    const text = alertToJSON(buildAlert(RULES[0]!, EVENT, { hostname: 'node-1', nowMs: 0 }));
    expect(text).not.toContain('\n');
    expect(text).toContain('"responseStatus.code":403,"evt.time":1739178957508657000},"priority":"Warning"');
    const parsed = JSON.parse(text) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(['auditID', 'cluster', 'hostname', 'output', 'output_fields', 'priority', 'rule', 'source', 'tags', 'time']);
    const empty = alertToJSON(buildAlert(RULES[1]!, { verb: 'get' }, { hostname: 'h', nowMs: Date.UTC(2026, 0, 2, 3, 4, 5, 6) }));
    expect(JSON.parse(empty)).toMatchObject({ output_fields: { 'evt.time': 1767323045006000000 }, auditID: null, cluster: null, time: '2026-01-02T03:04:05.006000000Z' });
  });

  it('formats nanosecond times, before 1970 too', () => {
    expect(formatNanoTime(0n)).toBe('1970-01-01T00:00:00.000000000Z');
    expect(formatNanoTime(-1n)).toBe('1969-12-31T23:59:59.999999999Z');
    expect(formatNanoTime(1739178957508657123n)).toBe('2025-02-10T09:15:57.508657123Z');
  });

  it('become a short Slack message coloured by priority, with markup escaped', () => {
    const warning = slackPayload(buildAlert(RULES[0]!, EVENT, { hostname: 'h', nowMs: 0 }), { channel: '#sec', username: 'audit' });
    expect(warning).toEqual({
      channel: '#sec',
      username: 'audit',
      text: '*Warning* Disallowed K8s User',
      attachments: [
        {
          color: SLACK_COLORS.warning,
          fallback:
            'Warning: Disallowed K8s User: K8s Operation performed by user not in allowed list of users (user=yacht target=x/events verb=patch uri=/api/v1/namespaces/default/events/x resp=403)',
          text: 'K8s Operation performed by user not in allowed list of users (user=yacht target=x/events verb=patch uri=/api/v1/namespaces/default/events/x resp=403)',
          fields: [
            { title: 'cluster', value: 'prod-1', short: true },
            { title: 'auditID', value: 'f5c2c0b4-1c7e-4d55-9a3f-3f0c4d1f2a6b', short: true },
          ],
          footer: 'kube-audit-bridge',
          ts: 1739178957,
        },
      ],
    });
    const emergency = slackPayload(buildAlert(RULES[1]!, { verb: 'get' }, { hostname: 'h', nowMs: 0 }));
    expect(emergency).toMatchObject({ text: '*Emergency* No fields', attachments: [{ color: SLACK_COLORS.emergency, text: 'plain &lt;text&gt; &amp; more', fields: [] }] });
    expect(emergency).not.toHaveProperty('channel');
    expect(new Set(Object.values(SLACK_COLORS)).size).toBe(8);
  });
});
