import type { Config } from '../config/schema.js';
import { buildApp } from '../http/app.js';
import { Latchkey } from '../server/latchkey.js';
import { ensureDemo } from '../services/demo.js';
import { DEFAULT_TENANT } from '../store/types.js';

/** `latchkey serve`: open, bootstrap the demo on a fresh database, listen, shut down gracefully. */
export async function serve(config: Config): Promise<void> {
  const lk = await Latchkey.open({ config });
  const app = await buildApp(lk);
  const log = app.log;
  lk.setLogger(log);
  if (config.allowRemoteRequestUri) {
    log.warn('allowRemoteRequestUri is on: the server fetches request objects from clients\' registered https request_uris (RFC 9101 §10.4)');
  }
  if (config.insecureAllowHttpJwksUri) log.warn('insecureAllowHttpJwksUri is on: client keys may be fetched over plain http and forged in transit');
  if (config.demo) {
    const demo = await ensureDemo(await lk.context(DEFAULT_TENANT));
    if (demo) process.stdout.write(demo + '\n');
  }
  await app.listen({ host: config.host, port: config.port });
  lk.backchannel.start(); // retries of back-channel logout deliveries
  process.stdout.write(`latchkey: serving ${config.issuer} (listening on ${config.host}:${(app.server.address() as { port: number }).port})\n`);

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    log.info({ signal }, 'shutting down: no new connections, finishing in-flight requests');
    await app.close();
    await lk.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}
