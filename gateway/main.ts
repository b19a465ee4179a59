import { gatewayPort } from './config.ts';
import { createLogger } from '../services/shared/log.ts';
import { startGateway } from './server.ts';

const log = createLogger('gateway');
const gateway = await startGateway({ port: gatewayPort() }).catch((error: Error) => {
  log.error(`could not start: ${error.message}`);
  process.exit(1);
});
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    void gateway.stop().then(() => process.exit(0));
  });
}
