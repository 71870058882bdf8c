import { describe, expect, it } from 'vitest';
import { eksSourceSchema } from '../../../src/sources/eks/config.js';
import { accountOf } from '../../../src/sources/eks/client.js';
import { eksQuotaKey } from '../../../src/sources/eks/source.js';

describe('eks source config', () => {
  it('has the documented defaults', () => {
    expect(eksSourceSchema.parse({ name: 'e', type: 'eks', region: 'eu-west-1', cluster: 'prod' })).toMatchObject({
      logStreamNamePrefix: 'kube-apiserver-audit',
      limit: 10000,
      requestsPerSecond: 5,
      roleSessionName: 'kube-audit-bridge',
      pollInterval: 10_000,
      settleLag: 60_000,
      overlap: 300_000,
      startFrom: { kind: 'now' },
    });
  });

  it('refuses a rate above the AWS quota, a bad STS endpoint and a bad session name', () => {
    const base = { name: 'e', type: 'eks', region: 'eu-west-1', cluster: 'prod' };
    expect(eksSourceSchema.safeParse({ ...base, requestsPerSecond: 6 }).success).toBe(false);
    expect(eksSourceSchema.safeParse({ ...base, stsEndpoint: 'sts.local' }).success).toBe(false);
    expect(eksSourceSchema.safeParse({ ...base, roleSessionName: 'has space' }).success).toBe(false);
  });

  it('keys the shared bucket by account and region; the account comes from roleArn when not set', () => {
    const withRole = { region: 'us-east-1', roleArn: 'arn:aws:iam::210987654321:role/r' };
    expect(accountOf(withRole)).toBe('210987654321');
    expect(eksQuotaKey(withRole)).toBe('aws-logs:FilterLogEvents:210987654321:us-east-1');
    expect(eksQuotaKey({ ...withRole, accountId: '123456789012' })).toBe('aws-logs:FilterLogEvents:123456789012:us-east-1');
    expect(eksQuotaKey({ region: 'us-east-1' })).not.toBe(eksQuotaKey({ region: 'us-west-2' }));
  });
});
