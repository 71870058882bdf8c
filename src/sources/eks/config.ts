import { z } from 'zod';
import { componentName, httpUrl, pollingFields, positiveInt } from '../../config/fields.js';

// CloudWatch Logs FilterLogEvents; the keys and defaults are in src/sources/eks/README.md.
export const eksSourceSchema = z.strictObject({
  name: componentName,
  type: z.literal('eks'),
  region: z.string({ error: 'an AWS region such as us-east-1' }).min(1),
  cluster: z.string({ error: 'the EKS cluster name' }).min(1),
  /** Default /aws/eks/<cluster>/cluster. */
  logGroup: z.string().min(1).optional(),
  logStreamNamePrefix: z.string().min(1).default('kube-apiserver-audit'),
  filterPattern: z.string().optional(),
  limit: positiveInt('a page size from 1 to 10000').max(10000, { message: 'a page size from 1 to 10000' }).default(10000),
  /** Account id for annotations and the shared quota key; taken from roleArn when that is set. */
  accountId: z.string().regex(/^\d{12}$/, { message: 'a 12-digit AWS account id' }).optional(),
  /** Role to assume on top of the default credential chain. */
  roleArn: z
    .string()
    .regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/, { message: 'an IAM role ARN such as arn:aws:iam::123456789012:role/audit-reader' })
    .optional(),
  externalId: z.string().optional(),
  profile: z.string().optional(),
  /** Session name when assuming roleArn (shows in CloudTrail). */
  roleSessionName: z.string().regex(/^[\w+=,.@-]{2,64}$/, { message: 'a role session name of 2 to 64 letters, digits or +=,.@_-' }).default('kube-audit-bridge'),
  /** STS endpoint for roleArn and IRSA web identity; default the SDK's regional endpoint. */
  stsEndpoint: httpUrl().optional(),
  /** Shared by every source on the same account and region: FilterLogEvents allows 5 per second. */
  requestsPerSecond: z.number({ error: 'a number of requests per second' }).positive().max(5).default(5),
  /** Ranges of a window read at once once its first page is full; each request still takes a token. */
  parallelReads: positiveInt('a number of ranges read at once, 1 to 4').max(4, { message: 'a number of ranges read at once, 1 to 4' }).default(2),
  endpoint: httpUrl().optional(),
  ...pollingFields({ pollInterval: '10s', settleLag: '60s', overlap: '5m' }),
});
export type EksSourceConfig = z.output<typeof eksSourceSchema>;
