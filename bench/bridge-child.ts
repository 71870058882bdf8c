// The bridge for the end-to-end figures: `run` as the CLI does it, with one difference: the cloud
// API quotas are lifted, because the figure is what the bridge can do, not what a provider's quota
// allows (that ceiling is computed and printed beside it).
import { Bridge } from '../src/bridge.js';
import { loadConfigFile } from '../src/config/load.js';
import { createLogger } from '../src/telemetry/logger.js';
import { systemClock } from '../src/util/clock.js';
import { QuotaRegistry, type TokenBucket } from '../src/util/token-bucket.js';

class LiftedQuotas extends QuotaRegistry {
  override bucket(key: string): TokenBucket {
    return super.bucket(key, 1000, 1_000_000);
  }
}

const file = process.argv[2];
if (!file) throw new Error('usage: bridge-child CONFIG');
const { config } = await loadConfigFile(file);
const bridge = await Bridge.create(config, { logger: createLogger(config.log.level), quotas: new LiftedQuotas(systemClock) });
await bridge.start();
const stop = (): void => void bridge.stop('SIGTERM');
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
await bridge.done;
