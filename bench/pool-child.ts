// One pooledRate (pool-rate.ts) in a process of its own; prints the run as JSON on stdout.
import { pooledRate } from './pool-rate.js';
import { buildTemplates, TEMPLATE_POOL } from './workload.js';

const [count, workers] = process.argv.slice(2).map(Number);
if (!count || !workers) throw new Error('usage: pool-child COUNT WORKERS');
process.stdout.write(JSON.stringify(await pooledRate(buildTemplates(TEMPLATE_POOL), count, workers)));
