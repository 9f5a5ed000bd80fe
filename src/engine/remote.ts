/**
 * Outbound fetches the server makes on a client's behalf (request_uri by reference, jwks_uri): https only, no
 * redirects, a timeout and a size limit, so a slow or huge answer cannot tie up the server (RFC 9101 §10.4).
 */
export interface BoundedFetchOptions {
  timeoutMs?: number;
  maxBytes?: number;
  accept?: string;
  /** Also fetch http:// URLs (development only: an operator's insecure* option). */
  allowHttp?: boolean;
}

export class RemoteFetchError extends Error {
  override name = 'RemoteFetchError';
}

export async function fetchBounded(url: string, opts: BoundedFetchOptions = {}): Promise<{ status: number; contentType: string; body: string }> {
  const timeoutMs = opts.timeoutMs ?? 3000;
  const maxBytes = opts.maxBytes ?? 64 * 1024;
  if (!url.startsWith('https://') && !(opts.allowHttp && url.startsWith('http://'))) throw new RemoteFetchError('only https URLs are fetched');
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const res = await fetch(url, { redirect: 'manual', signal: controller.signal, headers: { accept: opts.accept ?? '*/*' } });
    const declared = Number(res.headers.get('content-length') ?? '0');
    if (declared > maxBytes) throw new RemoteFetchError('response too large');
    const chunks: Uint8Array[] = [];
    let size = 0;
    if (res.body) {
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > maxBytes) {
          await reader.cancel().catch(() => {});
          throw new RemoteFetchError('response too large');
        }
        chunks.push(value);
      }
    }
    return { status: res.status, contentType: res.headers.get('content-type') ?? '', body: Buffer.concat(chunks).toString('utf8') };
  } catch (e) {
    if (e instanceof RemoteFetchError) throw e;
    throw new RemoteFetchError(controller.signal.aborted ? 'timed out' : `fetch failed: ${(e as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
}
